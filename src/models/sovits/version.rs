//! Which SoVITS generation a `.pth` holds, decided exactly as upstream does
//! (`process_ckpt.get_sovits_version_from_path_fast`, then `TTS.init_vits_weights`).
use std::fmt;

use md5::{Digest, Md5};

/// SoVITS model generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SovitsVersion {
    V1,
    V2,
    V2Pro,
    V2ProPlus,
    V3,
    V4,
}

impl fmt::Display for SovitsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SovitsVersion::V1 => "v1",
            SovitsVersion::V2 => "v2",
            SovitsVersion::V2Pro => "v2Pro",
            SovitsVersion::V2ProPlus => "v2ProPlus",
            SovitsVersion::V3 => "v3",
            SovitsVersion::V4 => "v4",
        })
    }
}

impl std::str::FromStr for SovitsVersion {
    type Err = String;

    /// Upstream's version names (`v1`, `v2`, `v2Pro`, `v2ProPlus`, `v3`, `v4`), any letter case.
    fn from_str(s: &str) -> Result<Self, String> {
        [
            SovitsVersion::V1,
            SovitsVersion::V2,
            SovitsVersion::V2Pro,
            SovitsVersion::V2ProPlus,
            SovitsVersion::V3,
            SovitsVersion::V4,
        ]
        .into_iter()
        .find(|v| v.to_string().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown SoVITS version {s:?} (v1, v2, v2Pro, v2ProPlus)"))
    }
}

impl SovitsVersion {
    pub fn is_pro(self) -> bool {
        matches!(self, SovitsVersion::V2Pro | SovitsVersion::V2ProPlus)
    }
}

/// Which upstream rule produced the first (file-level) guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionRule {
    /// md5 of the first 8192 bytes matched an official pretrained file.
    PretrainedHash,
    /// The first two bytes carried a version tag (`00`…`06`) instead of `PK`.
    HeaderTag,
    /// A plain `PK` file: legacy size thresholds.
    FileSize,
}

/// Result of the file-level step (`get_sovits_version_from_path_fast`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastDetection {
    /// Model generation before TTS's text-table refinement.
    pub model_version: SovitsVersion,
    /// LoRA files (v3/v4) need the base pretrained model.
    pub lora: bool,
    pub rule: DetectionRule,
}

/// md5 of the first 8 KiB of the official pretrained files (`process_ckpt.hash_pretrained_dict`).
/// s2G488k (the v1 pretrained) maps to v2 here and becomes v1 by its 322-row text table.
const PRETRAINED_HASHES: [(&str, SovitsVersion); 6] = [
    ("dc3c97e17592963677a4a1681f30c653", SovitsVersion::V2),
    ("43797be674a37c1c83ee81081941ed0f", SovitsVersion::V3),
    ("6642b37f3dbb1f76882b69937c95a5f3", SovitsVersion::V2),
    ("4f26b9476d0c5033e04162c486074374", SovitsVersion::V4),
    ("c7e9fce2223f3db685cdfa1e6368728a", SovitsVersion::V2Pro),
    ("66b313e39455b57ab1b0bc0b239c9d0a", SovitsVersion::V2ProPlus),
];

/// Legacy size thresholds: < 82 978 KiB → v1, < 700 MiB → v2, else v3.
const V1_MAX_BYTES: u64 = 82_978 * 1024;
const V2_MAX_BYTES: u64 = 700 * 1024 * 1024;

/// The file-level rules, in upstream order. `head` is the start of the file (at least the first
/// 8192 bytes when the file is that long), `file_len` its full size. `Err` carries the unknown tag.
pub fn detect_fast(head: &[u8], file_len: u64) -> Result<FastDetection, [u8; 2]> {
    let digest = Md5::digest(&head[..head.len().min(8192)]);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if let Some((_, v)) = PRETRAINED_HASHES.iter().find(|(h, _)| *h == hex) {
        return Ok(FastDetection {
            model_version: *v,
            lora: false,
            rule: DetectionRule::PretrainedHash,
        });
    }
    let tag = [head.first().copied().unwrap_or(0), head.get(1).copied().unwrap_or(0)];
    if &tag != b"PK" {
        let (model_version, lora) = match &tag {
            b"00" => (SovitsVersion::V1, false),
            b"01" => (SovitsVersion::V2, false),
            b"02" => (SovitsVersion::V3, false),
            b"03" => (SovitsVersion::V3, true),
            b"04" => (SovitsVersion::V4, true),
            b"05" => (SovitsVersion::V2Pro, false),
            b"06" => (SovitsVersion::V2ProPlus, false),
            _ => return Err(tag),
        };
        return Ok(FastDetection {
            model_version,
            lora,
            rule: DetectionRule::HeaderTag,
        });
    }
    let model_version = if file_len < V1_MAX_BYTES {
        SovitsVersion::V1
    } else if file_len < V2_MAX_BYTES {
        SovitsVersion::V2
    } else {
        SovitsVersion::V3
    };
    Ok(FastDetection {
        model_version,
        lora: false,
        rule: DetectionRule::FileSize,
    })
}

/// TTS.py's refinement: v3/v4 and the Pro variants keep the file-level answer; everything else
/// is v1 when `enc_p.text_embedding.weight` has 322 rows, v2 otherwise (or when it is absent).
pub fn refine(fast: SovitsVersion, text_embedding_rows: Option<i32>) -> SovitsVersion {
    match fast {
        SovitsVersion::V3 | SovitsVersion::V4 | SovitsVersion::V2Pro | SovitsVersion::V2ProPlus => fast,
        SovitsVersion::V1 | SovitsVersion::V2 => {
            if text_embedding_rows == Some(322) {
                SovitsVersion::V1
            } else {
                SovitsVersion::V2
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_rule_and_tags() {
        let pk = b"PK\x03\x04rest".to_vec();
        assert_eq!(detect_fast(&pk, 1000).map(|d| d.model_version), Ok(SovitsVersion::V1));
        assert_eq!(detect_fast(&pk, V1_MAX_BYTES).map(|d| d.model_version), Ok(SovitsVersion::V2));
        assert_eq!(detect_fast(&pk, V2_MAX_BYTES).map(|d| d.model_version), Ok(SovitsVersion::V3));
        let tagged = |t: &[u8; 2]| {
            let mut b = pk.clone();
            b[..2].copy_from_slice(t);
            detect_fast(&b, 1000)
        };
        assert_eq!(tagged(b"05").map(|d| d.model_version), Ok(SovitsVersion::V2Pro));
        assert_eq!(tagged(b"04").map(|d| (d.model_version, d.lora)), Ok((SovitsVersion::V4, true)));
        assert_eq!(tagged(b"zz"), Err(*b"zz"));
        assert_eq!(refine(SovitsVersion::V1, Some(732)), SovitsVersion::V2);
        assert_eq!(refine(SovitsVersion::V2, Some(322)), SovitsVersion::V1);
        assert_eq!(refine(SovitsVersion::V2Pro, Some(732)), SovitsVersion::V2Pro);
    }
}

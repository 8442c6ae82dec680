//! `gsv-server parity DIR`: compares every stage against a golden fixture folder laid out like
//! `tests/fixtures` (upstream PyTorch outputs on random-weight models), driven by the folder's
//! `manifest.json` and the shapes in its files — never by hard-coded lists or values — so a new
//! fixture set with other seeds, tiny configs or inputs passes without code changes.
//!
//! Each stage lives in its own file and appends [`Check`]s to a [`Report`]; the integration tests
//! call the same functions, so the CLI and `cargo test` can never disagree.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use mlx_rs::Array;

pub mod bert;
pub mod e2e;
pub mod gpt;
pub mod hubert;
pub mod reference;
pub mod sovits;
pub mod sv;

/// One comparison.
#[derive(Debug, Clone)]
pub struct Check {
    pub stage: &'static str,
    pub name: String,
    /// e.g. `rel_max_abs` (max|port-ref| / max|ref|), `mismatches`, `equal`.
    pub metric: &'static str,
    pub value: f64,
    pub tolerance: f64,
    pub pass: bool,
    pub note: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.pass)
    }

    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.pass).collect()
    }

    pub fn stage(&self, stage: &str) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.stage == stage).collect()
    }

    /// `value ≤ tolerance` passes.
    pub fn within(&mut self, stage: &'static str, name: impl Into<String>, metric: &'static str, value: f64, tolerance: f64) {
        self.checks.push(Check {
            stage,
            name: name.into(),
            metric,
            value,
            tolerance,
            pass: value.is_finite() && value <= tolerance,
            note: String::new(),
        });
    }

    /// An exact comparison of integers/ids: `mismatches` must be 0.
    pub fn exact(&mut self, stage: &'static str, name: impl Into<String>, mismatches: usize, note: impl Into<String>) {
        self.checks.push(Check {
            stage,
            name: name.into(),
            metric: "mismatches",
            value: mismatches as f64,
            tolerance: 0.0,
            pass: mismatches == 0,
            note: note.into(),
        });
    }

    /// A stage that could not run (missing file, load error, not implemented): always a failure.
    pub fn error(&mut self, stage: &'static str, name: impl Into<String>, err: impl fmt::Display) {
        self.checks.push(Check {
            stage,
            name: name.into(),
            metric: "error",
            value: f64::NAN,
            tolerance: 0.0,
            pass: false,
            note: err.to_string(),
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:<44} {:<12} {:>12} {:>10}  result",
            "stage", "check", "metric", "value", "tolerance"
        )?;
        for c in &self.checks {
            writeln!(
                f,
                "{:<10} {:<44} {:<12} {:>12.4e} {:>10.1e}  {}{}",
                c.stage,
                c.name,
                c.metric,
                c.value,
                c.tolerance,
                if c.pass { "pass" } else { "FAIL" },
                if c.note.is_empty() { String::new() } else { format!("  ({})", c.note) }
            )?;
        }
        let failed = self.failures().len();
        write!(f, "{} checks, {} passed, {} failed", self.checks.len(), self.checks.len() - failed, failed)
    }
}

/// A fixture folder: `manifest.json` plus safetensors files and model folders.
pub struct FixtureSet {
    pub root: PathBuf,
    pub manifest: serde_json::Value,
}

impl FixtureSet {
    pub fn open(root: impl AsRef<Path>) -> anyhow::Result<Self> {
        let root = root.as_ref().to_path_buf();
        let text = std::fs::read_to_string(root.join("manifest.json"))
            .map_err(|e| anyhow::anyhow!("{}: {e}", root.join("manifest.json").display()))?;
        let manifest = serde_json::from_str(&text)?;
        Ok(Self { root, manifest })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Whether the manifest lists a file (stages run only for files present in the set).
    pub fn has(&self, rel: &str) -> bool {
        self.file_entry(rel).is_some() && self.path(rel).exists()
    }

    /// The manifest's entry for a file (`files[]` item whose `path` is `rel`).
    pub fn file_entry(&self, rel: &str) -> Option<&serde_json::Value> {
        self.manifest["files"]
            .as_array()?
            .iter()
            .find(|f| f["path"].as_str() == Some(rel))
    }

    /// The first file listed under a folder with an extension (e.g. `models/gpt`, `.ckpt`).
    pub fn find_file(&self, folder: &str, ext: &str) -> Option<PathBuf> {
        self.manifest["files"].as_array()?.iter().find_map(|f| {
            let p = f["path"].as_str()?;
            (p.starts_with(folder) && p.ends_with(ext)).then(|| self.path(p))
        })
    }

    /// All tensors of a safetensors file, as f32/int arrays, by name.
    pub fn tensors(&self, rel: &str) -> anyhow::Result<HashMap<String, Array>> {
        let path = self.path(rel);
        let bytes = std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)?;
        let mut out = HashMap::new();
        for (name, view) in st.tensors() {
            let t = torch_archive::Tensor {
                dtype: match view.dtype() {
                    safetensors::Dtype::F32 => torch_archive::DType::F32,
                    safetensors::Dtype::F16 => torch_archive::DType::F16,
                    safetensors::Dtype::I64 => torch_archive::DType::I64,
                    safetensors::Dtype::I32 => torch_archive::DType::I32,
                    safetensors::Dtype::BOOL => torch_archive::DType::Bool,
                    safetensors::Dtype::U8 => torch_archive::DType::U8,
                    other => anyhow::bail!("{rel}: tensor {name} has unsupported dtype {other:?}"),
                },
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            };
            out.insert(name, crate::models::weights::tensor_to_array(&t, mlx_rs::Dtype::Float32)?);
        }
        Ok(out)
    }

    /// The `__metadata__` of a safetensors file, JSON strings parsed where they parse.
    pub fn metadata(&self, rel: &str) -> anyhow::Result<HashMap<String, serde_json::Value>> {
        let path = self.path(rel);
        let bytes = std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)?;
        Ok(meta
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let parsed = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
                (k, parsed)
            })
            .collect())
    }

    /// The CNHuBERT folder: `models/chinese-hubert*/` of the set, else the folder that
    /// `manifest.json → e2e_hubert.identical_to` names relative to the set (the v2Pro set ships
    /// none and points at the v2 set's identical one).
    pub fn hubert_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = self
            .find_file("models/chinese-hubert", "config.json")
            .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        {
            return Ok(dir);
        }
        let rel = self.manifest["e2e_hubert"]["identical_to"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no models/chinese-hubert*/config.json and no e2e_hubert.identical_to in the manifest"))?;
        let dir = self.root.join(rel);
        anyhow::ensure!(dir.join("config.json").exists(), "e2e_hubert.identical_to: {} has no config.json", dir.display());
        Ok(dir)
    }

    /// The `path` of every file the manifest lists, in manifest order.
    fn manifest_paths(&self) -> impl Iterator<Item = &str> {
        self.manifest["files"].as_array().into_iter().flatten().filter_map(|f| f["path"].as_str())
    }

    /// Every SoVITS `.pth` the manifest lists that is present.
    pub fn sovits_files(&self) -> Vec<PathBuf> {
        self.manifest_paths()
            .filter(|p| p.starts_with("models/sovits/") && p.ends_with(".pth"))
            .map(|p| self.path(p))
            .filter(|p| p.exists())
            .collect()
    }

    /// Every folder `prefix*` that holds `file` (e.g. `e2e_`, `gpt.safetensors` → `e2e_zh`,
    /// `e2e_zh_v2Pro`, …), in manifest order.
    pub fn case_dirs(&self, prefix: &str, file: &str) -> Vec<String> {
        let suffix = format!("/{file}");
        self.manifest_paths()
            .filter(|p| p.starts_with(prefix) && p.ends_with(&suffix))
            .map(|p| p.trim_end_matches(&suffix).to_string())
            .collect()
    }

    /// The model version a case folder is for: the suffix of `sovits_v2Pro` / `e2e_zh_v2Pro`
    /// (`None` for the v2 set's unsuffixed `sovits`, `e2e_zh`).
    pub fn case_version(dir: &str) -> Option<&str> {
        let (_, last) = dir.rsplit_once('_')?;
        let mut c = last.chars();
        (c.next() == Some('v') && c.next().is_some_and(|d| d.is_ascii_digit())).then_some(last)
    }

    /// The reference's prompt semantic tokens for a case: `reference/ref_hubert:prompt_semantic`
    /// (v2 set), else the case version's `sovits_<version>/extract_latent:codes` (v2Pro layout:
    /// the README says the two are equal).
    pub fn prompt_semantic(&self, case: &str) -> anyhow::Result<Vec<i64>> {
        let rf = "reference/ref_hubert.safetensors";
        if self.has(rf) {
            if let Some(p) = self.tensors(rf)?.get("prompt_semantic") {
                return ints(p);
            }
        }
        let version = Self::case_version(case).ok_or_else(|| anyhow::anyhow!("{case}: no prompt_semantic in {rf} and no version suffix"))?;
        let file = format!("sovits_{version}/extract_latent.safetensors");
        let t = self.tensors(&file)?;
        ints(t.get("codes").ok_or_else(|| anyhow::anyhow!("{file}: no codes"))?)
    }

    pub fn json(&self, rel: &str) -> anyhow::Result<serde_json::Value> {
        let path = self.path(rel);
        let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// `max|a - b| / max|b|` in f32 (the fixtures README's acceptance metric).
pub fn rel_max_abs(port: &Array, reference: &Array) -> anyhow::Result<f64> {
    anyhow::ensure!(
        port.shape() == reference.shape(),
        "shape {:?} vs reference {:?}",
        port.shape(),
        reference.shape()
    );
    let p = port.as_dtype(mlx_rs::Dtype::Float32)?;
    let r = reference.as_dtype(mlx_rs::Dtype::Float32)?;
    let diff = p.subtract(&r)?.abs()?.max(None)?;
    let scale = r.abs()?.max(None)?;
    let (d, s) = (diff.item_cast::<f32>() as f64, scale.item_cast::<f32>() as f64);
    Ok(if s > 0.0 { d / s } else { d })
}

/// Host integers of an int array (flattened).
pub fn ints(a: &Array) -> anyhow::Result<Vec<i64>> {
    let a = a.as_dtype(mlx_rs::Dtype::Int64)?.reshape(&[-1])?;
    a.eval()?;
    Ok(a.as_slice::<i64>().to_vec())
}

/// Number of positions where two integer arrays differ (a shape mismatch counts every element).
pub fn mismatches(port: &[i64], reference: &[i64]) -> usize {
    let common = port.iter().zip(reference).filter(|(a, b)| a != b).count();
    common + port.len().abs_diff(reference.len())
}

/// Every stage the folder has files for.
pub fn run(dir: impl AsRef<Path>) -> anyhow::Result<Report> {
    let set = FixtureSet::open(dir)?;
    let mut report = Report::default();
    reference::run(&set, &mut report);
    sv::run(&set, &mut report);
    hubert::run(&set, &mut report);
    bert::run(&set, &mut report);
    gpt::run(&set, &mut report);
    sovits::run(&set, &mut report);
    e2e::run(&set, &mut report);
    Ok(report)
}

//! The zip layer: locates `<folder>/data.pkl` and serves `<folder>/data/<key>` storage records
//! straight out of the input bytes (stored entries are borrowed, not copied).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Cursor, Read};

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::error::{Error, Result};

/// Deflate cannot expand data more than ~1032:1; a larger declared size is a lie (zip bomb).
const MAX_DEFLATE_RATIO: u64 = 1100;

pub(crate) struct Archive<'a> {
    bytes: &'a [u8],
    zip: ZipArchive<Cursor<&'a [u8]>>,
    /// The top-level folder including its `/` (e.g. `archive/`, `1795636037.615029/`), or empty.
    prefix: String,
    records: HashMap<String, Cow<'a, [u8]>>,
}

impl<'a> Archive<'a> {
    /// Opens `bytes` (already starting with `PK`) and finds the pickle entry.
    pub fn open(bytes: &'a [u8]) -> Result<Self> {
        let zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| classify_open_error(bytes, e))?;
        // The pickle is `<one folder>/data.pkl`; prefer the shallowest one if several exist.
        let pkl = zip
            .file_names()
            .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
            .min_by_key(|n| (n.matches('/').count(), n.len()))
            .map(str::to_string);
        let Some(pkl) = pkl else {
            let mut names: Vec<&str> = zip.file_names().take(8).collect();
            if zip.len() > 8 {
                names.push("...");
            }
            return Err(Error::NoDataPkl {
                entries: names.join(", "),
            });
        };
        let prefix = pkl[..pkl.len() - "data.pkl".len()].to_string();
        Ok(Archive {
            bytes,
            zip,
            prefix,
            records: HashMap::new(),
        })
    }

    /// The `data.pkl` bytes, after checking the archive's byte order if it records one.
    pub fn pickle(&mut self) -> Result<Cow<'a, [u8]>> {
        let order_name = format!("{}byteorder", self.prefix);
        if let Some(order) = self.entry(&order_name)? {
            let order = String::from_utf8_lossy(&order).trim().to_string();
            if order != "little" {
                return Err(Error::BigEndian(order));
            }
        }
        let name = format!("{}data.pkl", self.prefix);
        self.entry(&name)?.ok_or(Error::NoDataPkl { entries: name })
    }

    /// The bytes of storage record `key`, read (or decompressed) once and cached.
    pub fn record(&mut self, key: &str, tensor: &str) -> Result<&[u8]> {
        if !self.records.contains_key(key) {
            let name = format!("{}data/{key}", self.prefix);
            let data = self.entry(&name)?.ok_or_else(|| Error::MissingRecord {
                name: name.clone(),
                tensor: tensor.to_string(),
            })?;
            self.records.insert(key.to_string(), data);
        }
        match self.records.get(key) {
            Some(d) => Ok(d),
            None => Err(Error::MissingRecord {
                name: key.to_string(),
                tensor: tensor.to_string(),
            }),
        }
    }

    /// One entry's contents; `None` if the archive has no such entry.
    fn entry(&mut self, name: &str) -> Result<Option<Cow<'a, [u8]>>> {
        let Some(index) = self.zip.index_for_name(name) else {
            return Ok(None);
        };
        let entry_err = |msg: String| Error::Entry {
            name: name.to_string(),
            msg,
        };
        let bytes = self.bytes;
        let f = self
            .zip
            .by_index_raw(index)
            .map_err(|e| zip_error(name, e))?;
        let size = f.size();
        let csize = f.compressed_size();
        let crc = f.crc32();
        match f.compression() {
            CompressionMethod::Stored => {
                let start = f
                    .data_start()
                    .ok_or_else(|| entry_err("no data offset".into()))?;
                if size != csize {
                    return Err(entry_err(format!(
                        "stored entry has size {size} but compressed size {csize}"
                    )));
                }
                let end = start.checked_add(size).filter(|&e| e <= bytes.len() as u64).ok_or_else(|| {
                    Error::Zip(format!(
                        "entry `{name}` ({size} bytes at offset {start}) runs past the end of the {}-byte file",
                        bytes.len()
                    ))
                })?;
                let data = &bytes[start as usize..end as usize];
                // Borrowed, so the zip reader's own CRC check does not run; do it here.
                if crc32fast::hash(data) != crc {
                    return Err(Error::Zip(format!(
                        "entry `{name}` fails its CRC check (corrupt file)"
                    )));
                }
                Ok(Some(Cow::Borrowed(data)))
            }
            CompressionMethod::Deflated => {
                drop(f);
                if size > csize.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
                    return Err(entry_err(format!(
                        "declares {size} bytes from {csize} compressed bytes"
                    )));
                }
                let size = usize::try_from(size).map_err(|_| entry_err("too large".into()))?;
                let f = self.zip.by_index(index).map_err(|e| zip_error(name, e))?;
                let mut out = Vec::with_capacity(size);
                f.take(size as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| Error::Zip(format!("entry `{name}`: {e}")))?;
                if out.len() != size {
                    return Err(Error::Zip(format!(
                        "entry `{name}` inflates to {} bytes, header says {size}",
                        out.len()
                    )));
                }
                Ok(Some(Cow::Owned(out)))
            }
            other => Err(entry_err(format!(
                "unsupported compression {other:?} (torch writes stored entries)"
            ))),
        }
    }
}

fn zip_error(name: &str, e: ZipError) -> Error {
    Error::Zip(format!("entry `{name}`: {e}"))
}

/// Tells "not a zip at all" from "a zip cut short" from "an old torch file".
fn classify_open_error(bytes: &[u8], e: ZipError) -> Error {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Error::Zip(format!(
            "{e} (file of {} bytes; truncated download?)",
            bytes.len()
        ));
    }
    // Pre-1.6 torch.save: a pickle stream (protocol 2 magic number first) or a tar file.
    let tar = bytes.get(257..262) == Some(b"ustar".as_slice());
    if bytes.first() == Some(&0x80) || tar {
        return Error::LegacyFormat;
    }
    let head: String = bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    Error::NotZip(format!("no zip signature (first bytes: {head}; {e})"))
}

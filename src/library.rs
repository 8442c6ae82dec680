//! The voice library: voices uploaded over the API, kept under `[voice_library] dir`, one folder
//! per voice holding the clip exactly as uploaded and a small JSON manifest.
//!
//! A voice appears on disk in one step: its folder is written under a temporary name (every file
//! fsynced), then renamed into place (and the parent fsynced), so a crash leaves either the whole
//! voice or a `.tmp-*` folder that the next start deletes — never half a voice. Deleting renames
//! the folder away first for the same reason. One process owns the folder; within it, a name is
//! reserved in memory before any work starts, so of two uploads of one name exactly one proceeds
//! (and the rename, which fails onto an existing voice folder, would stop a second one anyway).
//!
//! This module only stores; preparing a voice for synthesis is the engine's job.
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::VoiceLibrarySettings;

/// The manifest's file name inside a voice folder.
const MANIFEST: &str = "manifest.json";
/// Prefixes of work folders (never voice names: names start with a letter or digit).
const TMP_PREFIX: &str = ".tmp-";
const TRASH_PREFIX: &str = ".trash-";
/// Longest voice name.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LibraryError {
    #[error("the voice library is off: set `[voice_library] dir` (or GSV_VOICES_DIR) to store voices")]
    Disabled,
    #[error("{0}")]
    InvalidName(String),
    #[error("voice `{0}` already exists")]
    Exists(String),
    #[error("voice `{0}` is being uploaded right now")]
    Busy(String),
    /// A configured limit would be exceeded; the message says which.
    #[error("{0}")]
    Full(String),
    #[error("voice `{0}` is not in the voice library")]
    NotFound(String),
    #[error("voice library: {0}")]
    Io(String),
}

/// Container formats a clip may be in (sniffed from its first bytes, never from a file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipFormat {
    Wav,
    Flac,
    Mp3,
    Ogg,
}

impl ClipFormat {
    /// The format of an encoded clip, from its magic bytes.
    pub fn sniff(bytes: &[u8]) -> Option<ClipFormat> {
        match bytes {
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => Some(ClipFormat::Wav),
            [b'f', b'L', b'a', b'C', ..] => Some(ClipFormat::Flac),
            [b'O', b'g', b'g', b'S', ..] => Some(ClipFormat::Ogg),
            [b'I', b'D', b'3', ..] => Some(ClipFormat::Mp3),
            [0xFF, b, ..] if b & 0xE0 == 0xE0 => Some(ClipFormat::Mp3),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ClipFormat::Wav => "wav",
            ClipFormat::Flac => "flac",
            ClipFormat::Mp3 => "mp3",
            ClipFormat::Ogg => "ogg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ClipFormat::Wav => "audio/wav",
            ClipFormat::Flac => "audio/flac",
            ClipFormat::Mp3 => "audio/mpeg",
            ClipFormat::Ogg => "audio/ogg",
        }
    }
}

/// Sampling settings a voice brings along (a request's own values win).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VoiceDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
}

/// What `manifest.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub transcript: String,
    pub language: String,
    pub format: ClipFormat,
    pub clip_bytes: u64,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// The model set the voice is meant for, when the client named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub defaults: VoiceDefaults,
}

impl Manifest {
    /// The clip's file name inside the voice folder.
    pub fn clip_file(&self) -> String {
        format!("clip.{}", self.format.extension())
    }
}

/// Checks a voice name: 1–64 ASCII letters, digits, `-`, `_`, `.`, starting with a letter or
/// digit (so never `.`/`..`, a hidden work folder, or anything with a path separator).
pub fn check_name(name: &str) -> Result<(), LibraryError> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let ok_start = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > MAX_NAME_CHARS || !ok_chars || !ok_start {
        return Err(LibraryError::InvalidName(format!(
            "voice name `{name}` is not allowed: use 1 to {MAX_NAME_CHARS} letters, digits, '-', '_' or '.', starting with a letter or digit"
        )));
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Index {
    voices: BTreeMap<String, Manifest>,
    /// Names reserved by uploads in progress, with the bytes each will take.
    pending: BTreeMap<String, u64>,
}

/// The stored voices: an in-memory index of the folder, kept in step with it.
#[derive(Debug)]
pub struct Library {
    dir: Option<PathBuf>,
    settings: VoiceLibrarySettings,
    index: Mutex<Index>,
    /// Serialises the slow part of changes (engine preparation + disk) so the engine's voices and
    /// the folder change in the same order.
    writes: tokio::sync::Mutex<()>,
}

impl Library {
    /// Opens (creating) the folder, deletes work folders a crash left behind, and reads every
    /// voice's manifest. A folder without a readable manifest is skipped with a warning (it was
    /// not written by this server); an empty `dir` gives a library that refuses uploads.
    pub fn open(settings: &VoiceLibrarySettings) -> Result<Library, LibraryError> {
        let mut index = Index::default();
        let dir = (!settings.dir.as_os_str().is_empty()).then(|| settings.dir.clone());
        if let Some(dir) = &dir {
            fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
                let entry = entry.map_err(|e| io(dir, e))?;
                let file_name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                if file_name.starts_with(TMP_PREFIX) || file_name.starts_with(TRASH_PREFIX) {
                    tracing::warn!(path = %path.display(), "removing an unfinished voice folder");
                    if let Err(e) = fs::remove_dir_all(&path) {
                        tracing::warn!(path = %path.display(), "cannot remove: {e}");
                    }
                    continue;
                }
                if !path.is_dir() {
                    continue;
                }
                match read_manifest(&path, &file_name) {
                    Ok(m) => {
                        index.voices.insert(m.name.clone(), m);
                    }
                    Err(why) => tracing::warn!(path = %path.display(), "skipping a folder that is not a stored voice: {why}"),
                }
            }
            tracing::info!(dir = %dir.display(), voices = index.voices.len(), "voice library opened");
        }
        Ok(Library { dir, settings: settings.clone(), index: Mutex::new(index), writes: tokio::sync::Mutex::new(()) })
    }

    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    pub fn settings(&self) -> &VoiceLibrarySettings {
        &self.settings
    }

    /// Held while a voice is being added or removed (engine and disk together).
    pub async fn writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes.lock().await
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock cannot leave the index inconsistent with the folder
        // (every change is one insert or remove after the file system step), so keep going.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stored voices, by name.
    pub fn list(&self) -> Vec<Manifest> {
        self.index().voices.values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Manifest> {
        self.index().voices.get(name).cloned()
    }

    /// The stored clip of a voice.
    pub fn clip_path(&self, m: &Manifest) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(&m.name).join(m.clip_file()))
    }

    /// The voice a path inside the library folder belongs to (whether or not it still exists),
    /// so a route given a stale clip path can say "unknown voice".
    pub fn voice_of_path(&self, path: &Path) -> Option<String> {
        let dir = self.dir.as_ref()?;
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        let rest = path.strip_prefix(&dir).ok().or_else(|| path.strip_prefix(self.dir.as_ref()?).ok())?;
        let first = rest.components().next()?;
        Some(first.as_os_str().to_string_lossy().into_owned())
    }

    /// Reserves `name` for an upload of `bytes`, checking the name, that it is free (`taken`
    /// says which names configured voices use) and the limits. The reservation ends when the
    /// returned guard is committed or dropped.
    pub fn reserve(self: &Arc<Self>, name: &str, bytes: u64, taken: impl Fn(&str) -> bool) -> Result<Reservation, LibraryError> {
        let dir = self.dir.clone().ok_or(LibraryError::Disabled)?;
        check_name(name)?;
        let mut index = self.index();
        if taken(name) || index.voices.contains_key(name) {
            return Err(LibraryError::Exists(name.into()));
        }
        if index.pending.contains_key(name) {
            return Err(LibraryError::Busy(name.into()));
        }
        let count = index.voices.len() + index.pending.len();
        if count >= self.settings.max_voices {
            return Err(LibraryError::Full(format!(
                "the voice library holds its limit of {} voices (voice_library.max_voices); delete one first",
                self.settings.max_voices
            )));
        }
        let used: u64 = index.voices.values().map(|m| m.clip_bytes).sum::<u64>() + index.pending.values().sum::<u64>();
        if used + bytes > self.settings.max_bytes {
            return Err(LibraryError::Full(format!(
                "the voice library would hold {} bytes of clips with this one, over its limit of {} (voice_library.max_bytes); delete a voice first",
                used + bytes,
                self.settings.max_bytes
            )));
        }
        index.pending.insert(name.to_string(), bytes);
        Ok(Reservation { library: self.clone(), dir, name: name.to_string() })
    }

    /// Deletes a stored voice: its folder is renamed away (one atomic step), then removed.
    pub fn delete(&self, name: &str) -> Result<Manifest, LibraryError> {
        let dir = self.dir.as_ref().ok_or(LibraryError::Disabled)?;
        let mut index = self.index();
        let Some(m) = index.voices.get(name).cloned() else {
            return Err(LibraryError::NotFound(name.into()));
        };
        let trash = dir.join(format!("{TRASH_PREFIX}{name}-{}", unique()));
        fs::rename(dir.join(name), &trash).map_err(|e| io(dir, e))?;
        sync_dir(dir)?;
        index.voices.remove(name);
        drop(index);
        if let Err(e) = fs::remove_dir_all(&trash) {
            tracing::warn!(path = %trash.display(), "cannot remove a deleted voice's folder (removed at next start): {e}");
        }
        Ok(m)
    }
}

/// A name held for an upload in progress.
#[derive(Debug)]
pub struct Reservation {
    library: Arc<Library>,
    dir: PathBuf,
    name: String,
}

impl Reservation {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes the voice folder atomically and adds the voice to the index. Blocking (file I/O
    /// with fsync): call it off the async runtime.
    pub fn commit(self, manifest: Manifest, clip: &[u8]) -> Result<(), LibraryError> {
        debug_assert_eq!(manifest.name, self.name);
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}-{}", self.name, unique()));
        let result = write_voice(&tmp, &manifest, clip).and_then(|()| {
            let target = self.dir.join(&self.name);
            // rename(2) fails onto a non-empty folder, so an existing voice is never replaced.
            fs::rename(&tmp, &target).map_err(|e| {
                if target.exists() {
                    LibraryError::Exists(self.name.clone())
                } else {
                    io(&target, e)
                }
            })?;
            sync_dir(&self.dir)
        });
        match result {
            Ok(()) => {
                self.library.index().voices.insert(self.name.clone(), manifest);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.library.index().pending.remove(&self.name);
    }
}

fn write_voice(tmp: &Path, manifest: &Manifest, clip: &[u8]) -> Result<(), LibraryError> {
    fs::create_dir(tmp).map_err(|e| io(tmp, e))?;
    write_synced(&tmp.join(manifest.clip_file()), clip)?;
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| LibraryError::Io(e.to_string()))?;
    write_synced(&tmp.join(MANIFEST), &json)?;
    sync_dir(tmp)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), LibraryError> {
    let mut f = File::create(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

/// Makes a rename or a new entry in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), LibraryError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
}

fn read_manifest(folder: &Path, folder_name: &str) -> Result<Manifest, String> {
    let text = fs::read_to_string(folder.join(MANIFEST)).map_err(|e| format!("{MANIFEST}: {e}"))?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| format!("{MANIFEST}: {e}"))?;
    if m.name != folder_name {
        return Err(format!("{MANIFEST} names `{}`, not the folder's name", m.name));
    }
    check_name(&m.name).map_err(|e| e.to_string())?;
    let clip = folder.join(m.clip_file());
    let len = fs::metadata(&clip).map_err(|e| format!("{}: {e}", clip.display()))?.len();
    if len != m.clip_bytes {
        return Err(format!("{} has {len} bytes, the manifest says {}", clip.display(), m.clip_bytes));
    }
    Ok(m)
}

fn io(path: &Path, e: std::io::Error) -> LibraryError {
    LibraryError::Io(format!("{}: {e}", path.display()))
}

/// A suffix no other work folder of this process or a previous one has.
fn unique() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
#[path = "library_tests.rs"]
mod tests;

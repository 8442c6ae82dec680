//! The store on a real temporary folder: atomic commit, reopen, limits, races, crash leftovers.
use super::*;

fn settings(dir: &Path) -> VoiceLibrarySettings {
    VoiceLibrarySettings { dir: dir.to_path_buf(), max_voices: 3, max_bytes: 1000, max_clip_bytes: 500 }
}

fn manifest(name: &str, bytes: usize) -> Manifest {
    Manifest {
        name: name.into(),
        transcript: "hello".into(),
        language: "en".into(),
        format: ClipFormat::Wav,
        clip_bytes: bytes as u64,
        created: 1,
        model: None,
        defaults: VoiceDefaults { top_k: Some(3), ..Default::default() },
    }
}

fn add(lib: &Arc<Library>, name: &str, bytes: usize) -> Result<(), LibraryError> {
    let r = lib.reserve(name, bytes as u64, |_| false)?;
    r.commit(manifest(name, bytes), &vec![7u8; bytes])
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn names_are_checked() {
    for ok in ["alice", "Bob_2", "a.b-c", "9"] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", ".", "..", ".tmp-x", "a/b", "a\\b", "-x", "é", "a b", &"x".repeat(65)] {
        assert!(matches!(check_name(bad), Err(LibraryError::InvalidName(_))), "{bad:?}");
    }
}

#[test]
fn formats_are_sniffed_from_content() {
    assert_eq!(ClipFormat::sniff(b"RIFF\0\0\0\0WAVEfmt "), Some(ClipFormat::Wav));
    assert_eq!(ClipFormat::sniff(b"fLaC\0"), Some(ClipFormat::Flac));
    assert_eq!(ClipFormat::sniff(b"OggS\0"), Some(ClipFormat::Ogg));
    assert_eq!(ClipFormat::sniff(b"ID3\x04"), Some(ClipFormat::Mp3));
    assert_eq!(ClipFormat::sniff(&[0xFF, 0xFB, 0x90]), Some(ClipFormat::Mp3));
    assert_eq!(ClipFormat::sniff(b"RIFF\0\0\0\0AVI "), None);
    assert_eq!(ClipFormat::sniff(b"<html>"), None);
    assert_eq!(ClipFormat::sniff(b""), None);
}

#[test]
fn stored_voices_survive_a_reopen_and_delete_removes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = Arc::new(Library::open(&settings(tmp.path())).unwrap());
    add(&lib, "alice", 100).unwrap();
    assert_eq!(entries(tmp.path()), vec!["alice"]);
    assert_eq!(fs::read(tmp.path().join("alice/clip.wav")).unwrap(), vec![7u8; 100]);
    assert_eq!(lib.clip_path(&lib.get("alice").unwrap()).unwrap(), tmp.path().join("alice/clip.wav"));
    drop(lib);

    let lib = Arc::new(Library::open(&settings(tmp.path())).unwrap());
    assert_eq!(lib.list(), vec![manifest("alice", 100)]);
    assert!(matches!(add(&lib, "alice", 10), Err(LibraryError::Exists(_))));
    assert_eq!(lib.delete("alice").unwrap().name, "alice");
    assert!(entries(tmp.path()).is_empty());
    assert!(matches!(lib.delete("alice"), Err(LibraryError::NotFound(_))));
    assert!(Library::open(&settings(tmp.path())).unwrap().list().is_empty());
}

#[test]
fn limits_count_pending_uploads_too() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = Arc::new(Library::open(&settings(tmp.path())).unwrap());
    add(&lib, "a", 400).unwrap();
    let held = lib.reserve("b", 400, |_| false).unwrap();
    assert!(matches!(lib.reserve("b", 1, |_| false), Err(LibraryError::Busy(_))));
    let e = lib.reserve("c", 300, |_| false).unwrap_err();
    assert!(matches!(&e, LibraryError::Full(m) if m.contains("max_bytes")), "{e}");
    assert!(matches!(lib.reserve("taken", 1, |n| n == "taken"), Err(LibraryError::Exists(_))));
    drop(held);
    add(&lib, "b", 10).unwrap();
    add(&lib, "c", 10).unwrap();
    let e = lib.reserve("d", 1, |_| false).unwrap_err();
    assert!(matches!(&e, LibraryError::Full(m) if m.contains("max_voices")), "{e}");
}

#[test]
fn crash_leftovers_and_foreign_folders_are_not_voices() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = Arc::new(Library::open(&settings(tmp.path())).unwrap());
    add(&lib, "kept", 10).unwrap();
    // What a crash mid-commit or mid-delete leaves: work folders with (part of) a voice.
    for work in [".tmp-half-1-2", ".trash-old-1-2"] {
        fs::create_dir(tmp.path().join(work)).unwrap();
        fs::write(tmp.path().join(work).join("clip.wav"), b"RIFF").unwrap();
    }
    fs::create_dir(tmp.path().join("stray")).unwrap();
    fs::create_dir(tmp.path().join("truncated")).unwrap();
    fs::write(tmp.path().join("truncated/manifest.json"), serde_json::to_vec(&manifest("truncated", 50)).unwrap()).unwrap();
    fs::write(tmp.path().join("truncated/clip.wav"), [1u8; 20]).unwrap();
    let lib = Library::open(&settings(tmp.path())).unwrap();
    assert_eq!(lib.list().iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), vec!["kept"]);
    assert_eq!(entries(tmp.path()), vec!["kept", "stray", "truncated"]);
}

#[test]
fn racing_uploads_of_one_name_store_exactly_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(tmp.path());
    s.max_voices = 100;
    let lib = Arc::new(Library::open(&s).unwrap());
    let results: Vec<Result<(), LibraryError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| add(&lib, "same", 10))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(LibraryError::Exists(_) | LibraryError::Busy(_)))));
    assert_eq!(entries(tmp.path()), vec!["same"]);
}

#[test]
fn a_disabled_library_refuses_uploads() {
    let lib = Arc::new(Library::open(&VoiceLibrarySettings::default()).unwrap());
    assert!(!lib.enabled());
    assert!(matches!(lib.reserve("x", 1, |_| false), Err(LibraryError::Disabled)));
    assert!(lib.list().is_empty());
}

#[test]
fn paths_inside_the_folder_name_their_voice() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = Library::open(&settings(tmp.path())).unwrap();
    assert_eq!(lib.voice_of_path(&tmp.path().join("gone/clip.wav")).as_deref(), Some("gone"));
    assert_eq!(lib.voice_of_path(Path::new("/elsewhere/clip.wav")), None);
}

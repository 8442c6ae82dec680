//! Test support: fixture paths, the manifest, and a tiny writer for synthetic torch archives
//! (pickle opcodes + zip), so views, shared storages and odd layouts can be tested without Python.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

pub fn read_fixture(rel: &str) -> Vec<u8> {
    let p = fixtures().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn manifest() -> serde_json::Value {
    serde_json::from_slice(&read_fixture("manifest.json")).expect("manifest.json parses")
}

/// The manifest's record for `rel` (a path under tests/fixtures).
pub fn manifest_file(rel: &str) -> serde_json::Value {
    manifest()["files"]
        .as_array()
        .expect("files array")
        .iter()
        .find(|f| f["path"] == rel)
        .cloned()
        .unwrap_or_else(|| panic!("{rel} not in manifest"))
}

/// Emits pickle opcodes (protocol 2 unless a test uses newer ones).
#[derive(Default)]
pub struct Pickle(pub Vec<u8>);

impl Pickle {
    pub fn new() -> Self {
        Pickle(vec![0x80, 2])
    }
    pub fn op(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn mark(&mut self) -> &mut Self {
        self.op(b"(")
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.op(s.as_bytes())
    }
    pub fn int(&mut self, i: i32) -> &mut Self {
        self.0.push(b'J');
        self.op(&i.to_le_bytes())
    }
    pub fn float(&mut self, f: f64) -> &mut Self {
        self.0.push(b'G');
        self.op(&f.to_be_bytes())
    }
    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    pub fn tuple(&mut self) -> &mut Self {
        self.op(b"t")
    }
    pub fn ints(&mut self, v: &[i32]) -> &mut Self {
        self.mark();
        for &i in v {
            self.int(i);
        }
        self.tuple()
    }
    /// `_rebuild_tensor_v2(('storage', torch.<class>, key, 'cpu', numel), offset, size, stride,
    /// False, OrderedDict())`.
    pub fn tensor(
        &mut self,
        class: &str,
        key: &str,
        numel: i32,
        offset: i32,
        size: &[i32],
        stride: &[i32],
    ) -> &mut Self {
        self.global("torch._utils", "_rebuild_tensor_v2").mark();
        self.mark()
            .str("storage")
            .global("torch", class)
            .str(key)
            .str("cpu")
            .int(numel)
            .tuple()
            .op(b"Q");
        self.int(offset).ints(size).ints(stride).op(b"\x89");
        self.global("collections", "OrderedDict")
            .op(b")R")
            .tuple()
            .op(b"R")
    }
    pub fn stop(&mut self) -> Vec<u8> {
        self.0.push(b'.');
        std::mem::take(&mut self.0)
    }
}

/// Writes a torch-style zip: `<folder>/data.pkl`, `<folder>/byteorder`, `<folder>/data/<key>`...
pub fn torch_zip(folder: &str, pkl: &[u8], records: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    w.start_file(format!("{folder}/data.pkl"), opts)
        .expect("zip");
    w.write_all(pkl).expect("zip");
    w.start_file(format!("{folder}/byteorder"), opts)
        .expect("zip");
    w.write_all(b"little").expect("zip");
    for (k, data) in records {
        w.start_file(format!("{folder}/data/{k}"), opts)
            .expect("zip");
        w.write_all(data).expect("zip");
    }
    w.start_file(format!("{folder}/version"), opts)
        .expect("zip");
    w.write_all(b"3\n").expect("zip");
    w.finish().expect("zip").into_inner()
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

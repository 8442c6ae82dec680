//! Writes a [`Value`] as a `torch.save` zip archive (pickle protocol 2), the inverse of
//! [`crate::load`]: `load(&save(&v, None)?)? == v` for every value `load` returns.
//!
//! Used to make model files in upstream's format from others (tests derive a v2ProPlus SoVITS
//! from the v2Pro fixture, whose Generator sizes differ only by config). Not a general pickler:
//! dicts are written as plain dicts (torch's `OrderedDict` reads back the same), objects as
//! `NEWOBJ` + `BUILD` of their class with the recorded state, tensors through
//! `torch._utils._rebuild_tensor_v2` on one contiguous storage record each.
use std::io::Write;

use crate::{DType, Error, Result, Tensor, Value};

/// The archive of `value`; `header` (e.g. `*b"06"`) overwrites the leading `PK` as upstream's
/// `process_ckpt.my_save2` does for version-tagged SoVITS files.
pub fn save(value: &Value, header: Option<[u8; 2]>) -> Result<Vec<u8>> {
    let mut w = Pickler { out: vec![0x80, 2], records: Vec::new() };
    w.value(value)?;
    w.out.push(b'.');
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // Stored and 64-byte aligned, as torch writes them (so records can be read in place).
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).with_alignment(64);
    let mut put = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        zip.start_file(format!("archive/{name}"), opts).map_err(std::io::Error::other)?;
        zip.write_all(bytes)
    };
    let io = |e: std::io::Error| Error::Io { path: "<memory>".into(), source: e };
    put("data.pkl", &w.out).map_err(io)?;
    put("byteorder", b"little").map_err(io)?;
    for (i, data) in w.records.iter().enumerate() {
        put(&format!("data/{i}"), data).map_err(io)?;
    }
    put("version", b"3\n").map_err(io)?;
    let mut bytes = zip.finish().map_err(|e| io(std::io::Error::other(e)))?.into_inner();
    if let Some(h) = header {
        bytes[..2].copy_from_slice(&h);
    }
    Ok(bytes)
}

struct Pickler<'v> {
    out: Vec<u8>,
    records: Vec<&'v [u8]>,
}

impl<'v> Pickler<'v> {
    fn value(&mut self, v: &'v Value) -> Result<()> {
        match v {
            Value::None => self.out.push(b'N'),
            Value::Bool(true) => self.out.push(0x88),
            Value::Bool(false) => self.out.push(0x89),
            Value::Int(i) => self.int(*i),
            Value::Float(f) => {
                self.out.push(b'G');
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => {
                // SHORT_BINBYTES / BINBYTES (protocol 3; the reader takes them in any archive).
                match u8::try_from(b.len()) {
                    Ok(n) => self.out.extend_from_slice(&[b'C', n]),
                    Err(_) => {
                        self.out.push(b'B');
                        self.out.extend_from_slice(&len32(b.len())?.to_le_bytes());
                    }
                }
                self.out.extend_from_slice(b);
            }
            Value::List(items) => {
                self.out.extend_from_slice(b"](");
                items.iter().try_for_each(|x| self.value(x))?;
                self.out.push(b'e');
            }
            Value::Tuple(items) => self.tuple(items.iter(), |p, x| p.value(x))?,
            Value::Dict(items) => {
                self.out.extend_from_slice(b"}(");
                for (k, x) in items {
                    self.value(k)?;
                    self.value(x)?;
                }
                self.out.push(b'u');
            }
            Value::Tensor(t) => self.tensor(t)?,
            Value::Object { class, state } => {
                self.global(class)?;
                self.out.extend_from_slice(b")\x81");
                self.value(state)?;
                self.out.push(b'b');
            }
        }
        Ok(())
    }

    fn int(&mut self, i: i64) {
        if let Ok(b) = u8::try_from(i) {
            self.out.extend_from_slice(&[b'K', b]);
        } else if let Ok(h) = u16::try_from(i) {
            self.out.push(b'M');
            self.out.extend_from_slice(&h.to_le_bytes());
        } else if let Ok(w) = i32::try_from(i) {
            self.out.push(b'J');
            self.out.extend_from_slice(&w.to_le_bytes());
        } else {
            // LONG1: little-endian two's complement, 8 bytes are always enough for an i64.
            self.out.extend_from_slice(&[0x8a, 8]);
            self.out.extend_from_slice(&i.to_le_bytes());
        }
    }

    fn str(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    /// `GLOBAL module\nname\n` for a dotted `module.Name`.
    fn global(&mut self, dotted: &str) -> Result<()> {
        let (module, name) = dotted.rsplit_once('.').ok_or_else(|| Error::Unsupported(format!("class name without a module: {dotted:?}")))?;
        self.out.push(b'c');
        for part in [module, name] {
            self.out.extend_from_slice(part.as_bytes());
            self.out.push(b'\n');
        }
        Ok(())
    }

    fn tuple<T>(&mut self, items: impl Iterator<Item = T>, mut each: impl FnMut(&mut Self, T) -> Result<()>) -> Result<()> {
        self.out.push(b'(');
        for x in items {
            each(self, x)?;
        }
        self.out.push(b't');
        Ok(())
    }

    fn tensor(&mut self, t: &'v Tensor) -> Result<()> {
        let numel: usize = t.shape.iter().product();
        if t.data.len() != numel * t.dtype.size() {
            return Err(Error::Unsupported(format!("tensor of shape {:?} holds {} bytes", t.shape, t.data.len())));
        }
        let key = self.records.len();
        self.records.push(&t.data);
        self.global("torch._utils._rebuild_tensor_v2")?;
        self.out.push(b'(');
        // Persistent id ('storage', <StorageClass>, key, 'cpu', numel) → BINPERSID.
        self.out.push(b'(');
        self.str("storage");
        self.global(&format!("torch.{}", storage_class(t.dtype)))?;
        self.str(&key.to_string());
        self.str("cpu");
        self.int(numel as i64);
        self.out.extend_from_slice(b"tQ");
        self.int(0);
        self.tuple(t.shape.iter(), |p, &d| Ok(p.int(d as i64)))?;
        let strides: Vec<usize> = (0..t.shape.len()).map(|i| t.shape[i + 1..].iter().product()).collect();
        self.tuple(strides.iter(), |p, &s| Ok(p.int(s as i64)))?;
        self.out.push(0x89); // requires_grad
        self.global("collections.OrderedDict")?;
        self.out.extend_from_slice(b")R"); // backward hooks
        self.out.extend_from_slice(b"tR");
        Ok(())
    }
}

fn storage_class(d: DType) -> &'static str {
    match d {
        DType::F16 => "HalfStorage",
        DType::BF16 => "BFloat16Storage",
        DType::F32 => "FloatStorage",
        DType::F64 => "DoubleStorage",
        DType::I64 => "LongStorage",
        DType::I32 => "IntStorage",
        DType::I16 => "ShortStorage",
        DType::I8 => "CharStorage",
        DType::U8 => "ByteStorage",
        DType::Bool => "BoolStorage",
    }
}

fn len32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Unsupported(format!("{n} bytes do not fit one pickle item")))
}

//! Reads `torch.save` archives (zip + pickle protocol 2, plus the protocol 3-5 opcodes torch may
//! emit) as plain data, executing nothing.
//!
//! API contract (other crates build against it):
//! - [`load`] parses an archive held in memory, [`load_file`] reads one from disk.
//! - Tensors come back materialised: contiguous, row-major, little-endian bytes in their storage dtype
//!   (strided views and storage offsets are resolved; tensors sharing a storage each get a copy).
//! - Class instances that upstream pickles into configs (e.g. `utils.HParams`) come back as
//!   [`Value::Object`] with their class path and their `__setstate__`/`__dict__` state; calls of any
//!   class outside a small whitelist (`OrderedDict`, torch's tensor rebuild helpers, `torch.Size`,
//!   `_codecs.encode`...) become `Object { class, state: <args tuple> }`, never a call.
//! - [`save`] writes a value back as an archive (`load(&save(&v, None)?)? == v`).
//! - SoVITS v2Pro/v2ProPlus/LoRA files whose first two bytes were overwritten by a version tag
//!   (`b"05"` etc.) load as they are; [`sovits_header`] tells the caller which tag the file carries.
//!
//! Why an own reader rather than a crate: `candle-core`'s `pickle` module reads tensors and class
//! objects but pulls in all of candle (and its own tensor type) for a few hundred lines of pickle;
//! `serde-pickle` is built to deserialise plain Python data through serde, while torch archives
//! need a persistent-id hook (every storage is a `BINPERSID`) and unknown classes such as the
//! `utils.HParams` configs kept as data. The format subset torch writes is small, so a
//! bounds-checked VM (~900 lines) that only *records* calls is less code to trust than adapting
//! either. Zip parsing is left to the `zip` crate.
//!
//! Robustness: every length, index, offset and stride is checked against the bytes present; the
//! output is capped relative to the input size and nesting is depth-limited, so any input yields a
//! value or an [`Error`], never a panic or an unbounded allocation (see `docs/fuzzing.md`).

mod archive;
mod convert;
mod error;
mod pickle;
mod save;
mod tensor;
mod value;

use std::borrow::Cow;
use std::path::Path;

/// Storage dtype of a tensor, as torch names its storage classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F16,
    BF16,
    F32,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }
}

/// A tensor copied out of its storage into a contiguous buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Row-major, little-endian, `shape.iter().product() * dtype.size()` bytes.
    pub data: Vec<u8>,
}

/// A pickled value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Dict and OrderedDict, in insertion order.
    Dict(Vec<(Value, Value)>),
    Tensor(Tensor),
    /// An instance of a class we do not execute: `class` is `module.Name`, `state` what BUILD set.
    Object {
        class: String,
        state: Box<Value>,
    },
}

pub use error::{Error, Result};
pub use save::save;

/// Output budget: a checkpoint expands to about its own size; allow generous headroom for
/// broadcast views and tied weights while keeping hostile inputs bounded.
fn output_limit(input_len: usize) -> usize {
    input_len.saturating_mul(8).saturating_add(64 << 20)
}

/// The two ASCII bytes that upstream `process_ckpt.my_save2` writes over the zip's leading `PK`
/// (`b"03"` v3 LoRA, `b"04"` v4 LoRA, `b"05"` v2Pro, `b"06"` v2ProPlus; `00`-`02` reserved).
///
/// Returns `None` for an ordinary archive starting with `PK` (and for anything that is not a
/// zip local header behind the first two bytes).
pub fn sovits_header(bytes: &[u8]) -> Option<[u8; 2]> {
    match bytes {
        [a, b, 0x03, 0x04, ..] if [*a, *b] != *b"PK" => Some([*a, *b]),
        _ => None,
    }
}

/// Parses a `torch.save` archive held in memory.
pub fn load(bytes: &[u8]) -> Result<Value> {
    // [quirk] SoVITS version-tagged files: restore `PK` in a copy before unzipping, as upstream does.
    let bytes: Cow<[u8]> = match sovits_header(bytes) {
        Some(_) => {
            let mut v = bytes.to_vec();
            v[..2].copy_from_slice(b"PK");
            Cow::Owned(v)
        }
        None => Cow::Borrowed(bytes),
    };
    let mut archive = archive::Archive::open(&bytes)?;
    let pkl = archive.pickle()?;
    let up = pickle::unpickle(&pkl)?;
    let mut conv = convert::Converter::new(&up, &mut archive, output_limit(bytes.len()));
    conv.convert(&up.root, 0)
}

/// Reads and parses a `torch.save` archive from disk.
pub fn load_file(path: impl AsRef<Path>) -> Result<Value> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    load(&bytes)
}

//! Reads `torch.save` archives (zip + pickle protocol 2) as plain data, executing nothing.
//!
//! API contract (other crates build against it):
//! - [`load`] parses an archive held in memory, [`load_file`] reads one from disk.
//! - Tensors come back materialised: contiguous, row-major, little-endian bytes in their storage dtype.
//! - Class instances that upstream pickles into configs (e.g. `utils.HParams`) come back as
//!   [`Value::Object`] with their class path and their `__setstate__`/`__dict__` state.

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
    Object { class: String, state: Box<Value> },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Other(String),
}

pub fn load(_bytes: &[u8]) -> Result<Value, Error> {
    Err(Error::Other("torch-archive: not implemented yet".into()))
}

pub fn load_file(path: impl AsRef<Path>) -> Result<Value, Error> {
    let bytes = std::fs::read(path.as_ref())
        .map_err(|e| Error::Other(format!("{}: {e}", path.as_ref().display())))?;
    load(&bytes)
}

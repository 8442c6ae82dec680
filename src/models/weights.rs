//! Weight files as upstream ships them, mapped onto model parameters by upstream's key names.
//!
//! Loading is strict: each model takes every tensor it needs by name (recording, not panicking on,
//! missing or mis-shaped keys) and then [`Weights::finish`] fails with the full list of missing,
//! mis-shaped and unexpected keys. A model is never built with a silently random weight.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mlx_rs::{Array, Dtype};
use torch_archive::{DType as TorchDType, Tensor, Value};

use super::{Error, Result};

/// Tensors of one model keyed by upstream state-dict names, converted to the compute dtype.
pub struct Weights {
    source: String,
    tensors: BTreeMap<String, Array>,
    missing: Vec<String>,
    misshaped: Vec<String>,
    ignored_prefixes: Vec<String>,
}

impl Weights {
    /// Builds from a torch state dict (`Value::Dict` of name → tensor); `strip` is removed from
    /// the front of every key that has it (GPT checkpoints prefix `model.`).
    pub fn from_state_dict(value: &Value, strip: &str, dtype: Dtype, source: &str) -> Result<Self> {
        let Value::Dict(items) = value else {
            return Err(Error::Invalid(format!("{source}: state dict is not a dict")));
        };
        let mut tensors = BTreeMap::new();
        for (k, v) in items {
            let (Value::Str(name), Value::Tensor(t)) = (k, v) else {
                continue;
            };
            let name = name.strip_prefix(strip).unwrap_or(name);
            tensors.insert(name.to_string(), tensor_to_array(t, dtype)?);
        }
        Ok(Self::from_map(tensors, source))
    }

    /// The weights of a Hugging Face model folder: `model.safetensors`, else `pytorch_model.bin`.
    pub fn from_hf_folder(dir: &Path, dtype: Dtype) -> Result<Self> {
        let st = dir.join("model.safetensors");
        if st.exists() {
            return Self::from_safetensors(&st, dtype);
        }
        let bin = dir.join("pytorch_model.bin");
        let value = read_torch_file(&bin)?;
        Self::from_state_dict(&value, "", dtype, &bin.display().to_string())
    }

    /// Builds from a safetensors file (Hugging Face `model.safetensors`).
    pub fn from_safetensors(path: &Path, dtype: Dtype) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::File {
            path: path.into(),
            message: e.to_string(),
        })?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| Error::File {
            path: path.into(),
            message: format!("not a safetensors file: {e}"),
        })?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let dt = match view.dtype() {
                safetensors::Dtype::F16 => TorchDType::F16,
                safetensors::Dtype::BF16 => TorchDType::BF16,
                safetensors::Dtype::F32 => TorchDType::F32,
                safetensors::Dtype::F64 => TorchDType::F64,
                safetensors::Dtype::I64 => TorchDType::I64,
                safetensors::Dtype::I32 => TorchDType::I32,
                safetensors::Dtype::U8 => TorchDType::U8,
                safetensors::Dtype::BOOL => TorchDType::Bool,
                other => {
                    return Err(Error::File {
                        path: path.into(),
                        message: format!("tensor {name}: unsupported dtype {other:?}"),
                    })
                }
            };
            let t = Tensor {
                dtype: dt,
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            };
            tensors.insert(name, tensor_to_array(&t, dtype)?);
        }
        Ok(Self::from_map(tensors, &path.display().to_string()))
    }

    pub fn from_map(tensors: BTreeMap<String, Array>, source: &str) -> Self {
        Self {
            source: source.to_string(),
            tensors,
            missing: Vec::new(),
            misshaped: Vec::new(),
            ignored_prefixes: Vec::new(),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Shape of a tensor still in the file, if present (for configs that upstream infers from
    /// weight shapes, e.g. the SoVITS symbol count).
    pub fn shape_of(&self, name: &str) -> Option<Vec<i32>> {
        self.tensors.get(name).map(|a| a.shape().to_vec())
    }

    /// Takes a tensor by its upstream name. A missing key is recorded for [`Weights::finish`] and a
    /// zero scalar stands in so that construction can go on and report every problem at once.
    pub fn take(&mut self, name: &str) -> Array {
        match self.tensors.remove(name) {
            Some(a) => a,
            None => {
                self.missing.push(name.to_string());
                Array::from_f32(0.0)
            }
        }
    }

    /// Like [`Weights::take`], also checking the shape (torch layout, as stored).
    pub fn take_shaped(&mut self, name: &str, shape: &[i32]) -> Array {
        match self.tensors.remove(name) {
            None => {
                self.missing.push(name.to_string());
                Array::from_f32(0.0)
            }
            Some(a) => {
                if a.shape() != shape {
                    self.misshaped
                        .push(format!("{name}: expected {shape:?}, found {:?}", a.shape()));
                }
                a
            }
        }
    }

    /// Keys under this prefix are allowed to stay unused (training-only buffers and the like).
    pub fn ignore_prefix(&mut self, prefix: &str) {
        self.ignored_prefixes.push(prefix.to_string());
    }

    /// Fails with every missing, mis-shaped and unexpected key.
    pub fn finish(self) -> Result<()> {
        let unexpected: BTreeSet<&String> = self
            .tensors
            .keys()
            .filter(|k| !self.ignored_prefixes.iter().any(|p| k.starts_with(p.as_str())))
            .collect();
        if self.missing.is_empty() && self.misshaped.is_empty() && unexpected.is_empty() {
            return Ok(());
        }
        let mut details = String::new();
        let mut section = |title: &str, items: Vec<String>| {
            if !items.is_empty() {
                details.push_str(&format!("\n  {title} ({}):", items.len()));
                for i in items.iter().take(40) {
                    details.push_str(&format!("\n    {i}"));
                }
                if items.len() > 40 {
                    details.push_str(&format!("\n    … and {} more", items.len() - 40));
                }
            }
        };
        section("missing keys", self.missing);
        section("mis-shaped keys", self.misshaped);
        section(
            "unexpected keys",
            unexpected.into_iter().cloned().collect(),
        );
        Err(Error::Keys {
            source_name: self.source,
            details,
        })
    }
}

/// Copies a torch tensor into an MLX array; floats are cast to `dtype`, integers keep their type.
pub fn tensor_to_array(t: &Tensor, dtype: Dtype) -> Result<Array> {
    let shape: Vec<i32> = t
        .shape
        .iter()
        .map(|&d| i32::try_from(d).map_err(|_| Error::Invalid(format!("dimension {d} too large"))))
        .collect::<Result<_>>()?;
    let n: usize = t.shape.iter().product();
    if t.data.len() != n * t.dtype.size() {
        return Err(Error::Invalid(format!(
            "tensor of shape {:?} has {} bytes, expected {}",
            t.shape,
            t.data.len(),
            n * t.dtype.size()
        )));
    }
    let src_dtype = match t.dtype {
        TorchDType::F16 => Dtype::Float16,
        TorchDType::BF16 => Dtype::Bfloat16,
        TorchDType::F32 => Dtype::Float32,
        TorchDType::F64 => {
            // MLX has no float64 on GPU: convert on the host.
            let v: Vec<f32> = t
                .data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect();
            return Ok(Array::from_slice(&v, &shape).as_dtype(dtype)?);
        }
        TorchDType::I64 => Dtype::Int64,
        TorchDType::I32 => Dtype::Int32,
        TorchDType::I16 => Dtype::Int16,
        TorchDType::I8 => Dtype::Int8,
        TorchDType::U8 => Dtype::Uint8,
        TorchDType::Bool => Dtype::Bool,
    };
    // SAFETY: `data` holds exactly `n` little-endian elements of `src_dtype` (checked above), and
    // MLX copies the buffer before this call returns.
    let a = unsafe { Array::from_raw_data(t.data.as_ptr().cast(), &shape, src_dtype) };
    let is_float = matches!(
        src_dtype,
        Dtype::Float16 | Dtype::Bfloat16 | Dtype::Float32
    );
    Ok(if is_float && src_dtype != dtype {
        a.as_dtype(dtype)?
    } else {
        a
    })
}

/// Reads a `torch.save` archive from disk.
pub fn read_torch_file(path: &Path) -> Result<Value> {
    if !path.exists() {
        return Err(Error::File {
            path: path.into(),
            message: "file not found".into(),
        });
    }
    torch_archive::load_file(path).map_err(|source| Error::Archive {
        path: path.into(),
        source,
    })
}

/// Reads a Hugging Face `config.json` into its config struct (file and parse errors name the path).
pub fn read_json_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File {
        path: path.into(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Config {
        source_name: path.display().to_string(),
        message: e.to_string(),
    })
}

//! Turns the pickle machine's arena into the public [`Value`] tree, materialising tensors.
//!
//! The walk is depth-limited (cycles and absurd nesting become [`Error::TooDeep`]) and charged
//! against a byte budget (a DAG that references one object many times becomes
//! [`Error::TooLarge`] instead of an allocation storm).

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::pickle::{Node, Obj, Unpickled};
use crate::tensor::{gather, Budget, GatherError};
use crate::Value;

/// Deeper than any real checkpoint (configs nest a handful of levels).
pub(crate) const MAX_DEPTH: usize = 200;
/// Bookkeeping charge per value, on top of its payload bytes.
const NODE_COST: usize = 32;

pub(crate) struct Converter<'x, 'a> {
    nodes: &'x [Node],
    archive: &'x mut Archive<'a>,
    budget: Budget,
    /// Keys from the root to the value being converted, for error messages.
    path: Vec<String>,
}

impl<'x, 'a> Converter<'x, 'a> {
    pub fn new(up: &'x Unpickled, archive: &'x mut Archive<'a>, limit: usize) -> Self {
        Converter {
            nodes: &up.nodes,
            archive,
            budget: Budget::new(limit),
            path: Vec::new(),
        }
    }

    fn charge(&mut self, n: usize) -> Result<()> {
        if self.budget.charge(n.saturating_add(NODE_COST)) {
            Ok(())
        } else {
            Err(Error::TooLarge {
                limit: self.budget.limit,
            })
        }
    }

    fn path_str(&self) -> String {
        if self.path.is_empty() {
            "<root>".to_string()
        } else {
            format!("`{}`", self.path.join("/"))
        }
    }

    pub fn convert(&mut self, o: &Obj, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep(MAX_DEPTH));
        }
        let nodes = self.nodes;
        Ok(match o {
            Obj::None => Value::None,
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Int(i) => Value::Int(*i),
            Obj::Float(f) => Value::Float(*f),
            Obj::Str(s) => {
                self.charge(s.len())?;
                Value::Str(s.to_string())
            }
            Obj::Bytes(b) => {
                self.charge(b.len())?;
                Value::Bytes(b.to_vec())
            }
            Obj::Node(i) => {
                self.charge(0)?;
                let Some(node) = nodes.get(*i) else {
                    return Err(Error::TooDeep(MAX_DEPTH));
                };
                match node {
                    Node::List(v) => Value::List(self.seq(v, depth)?),
                    Node::Tuple(v) => Value::Tuple(self.seq(v, depth)?),
                    Node::Dict(d) => {
                        let mut out = Vec::with_capacity(d.items.len().min(1 << 16));
                        for (k, v) in &d.items {
                            let key = self.convert(k, depth + 1)?;
                            self.path.push(key_label(&key));
                            let val = self.convert(v, depth + 1);
                            self.path.pop();
                            out.push((key, val?));
                        }
                        Value::Dict(out)
                    }
                    Node::Global { module, name } => Value::Object {
                        class: format!("{module}.{name}"),
                        state: Box::new(Value::None),
                    },
                    Node::Object { class, state } => {
                        let state = self.convert(state, depth + 1)?;
                        Value::Object {
                            class: class.clone(),
                            state: Box::new(state),
                        }
                    }
                    Node::Storage(s) => {
                        // A bare storage outside a tensor: expose it as a flat tensor.
                        let dtype = s.dtype;
                        let numel = s.numel;
                        self.tensor(*i, dtype, 0, &[numel], &[1])?
                    }
                    Node::Tensor(t) => {
                        self.tensor(t.storage, t.dtype, t.offset, &t.shape, &t.stride)?
                    }
                }
            }
        })
    }

    fn seq(&mut self, v: &[Obj], depth: usize) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(v.len().min(1 << 16));
        for (n, x) in v.iter().enumerate() {
            self.path.push(n.to_string());
            let r = self.convert(x, depth + 1);
            self.path.pop();
            out.push(r?);
        }
        Ok(out)
    }

    fn tensor(
        &mut self,
        storage: usize,
        dtype: crate::DType,
        offset: u64,
        shape: &[u64],
        stride: &[u64],
    ) -> Result<Value> {
        let Some(Node::Storage(sref)) = self.nodes.get(storage) else {
            return Err(Error::TensorBounds {
                tensor: self.path_str(),
                msg: "no storage".into(),
            });
        };
        let tensor_name = self.path_str();
        let record = self.archive.record(&sref.key, &tensor_name)?;
        let declared = sref.numel.saturating_mul(sref.dtype.size() as u64);
        if (record.len() as u64) < declared {
            return Err(Error::TensorBounds {
                tensor: tensor_name,
                msg: format!(
                    "storage record `{}` has {} bytes but its header declares {} elements ({declared} bytes)",
                    sref.key,
                    record.len(),
                    sref.numel
                ),
            });
        }
        // Only the declared part of the record belongs to the storage.
        let record = &record[..declared as usize];
        match gather(record, dtype, offset, shape, stride, &mut self.budget) {
            Ok(t) => Ok(Value::Tensor(t)),
            Err(GatherError::Bounds(msg)) => Err(Error::TensorBounds {
                tensor: tensor_name,
                msg,
            }),
            Err(GatherError::Budget) => Err(Error::TooLarge {
                limit: self.budget.limit,
            }),
        }
    }
}

fn key_label(k: &Value) -> String {
    match k {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => "?".to_string(),
    }
}

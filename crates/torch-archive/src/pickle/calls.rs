//! The "calls" of a pickle (REDUCE, NEWOBJ, BUILD, persistent ids), interpreted from a whitelist
//! of torch/collections helpers; anything else is recorded as an opaque object, never run.

use std::rc::Rc;

use super::{DictNode, Node, Obj, StorageRef, TensorSpec, Vm, MAX_APPLY_DEPTH};
use crate::error::{Error, Result};
use crate::DType;

impl Vm<'_> {
    pub(super) fn extend(&mut self, target: usize, items: Vec<Obj>) -> Result<()> {
        let Obj::Node(i) = self.stack[target] else {
            return Err(self.err("APPEND to something that is not a list"));
        };
        match self.nodes.get_mut(i) {
            Some(Node::List(v)) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(self.err("APPEND to something that is not a list")),
        }
    }

    pub(super) fn set_items(&mut self, target: usize, items: Vec<Obj>) -> Result<()> {
        if items.len() % 2 == 1 {
            return Err(self.err("odd number of items for SETITEMS"));
        }
        let Obj::Node(i) = self.stack[target] else {
            return Err(self.err("SETITEM on something that is not a dict"));
        };
        match self.nodes.get_mut(i) {
            Some(Node::Dict(d)) => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.insert(k, v);
                }
                Ok(())
            }
            _ => Err(self.err("SETITEM on something that is not a dict")),
        }
    }

    /// BUILD: an object's state becomes what `__setstate__`/`__dict__` would receive. A dict's
    /// instance attributes (e.g. a state dict's `_metadata`) are dropped: they are not weights.
    pub(super) fn build(&mut self, target: usize, state: Obj) -> Result<()> {
        let Obj::Node(i) = self.stack[target] else {
            return Err(self.err("BUILD on a plain value"));
        };
        let slot = self.nodes.len();
        match self.nodes.get_mut(i) {
            Some(Node::Object { state: s, .. }) => {
                if matches!(s, Obj::None) {
                    *s = state;
                } else {
                    // Keep both the constructor arguments and the later state.
                    let old = std::mem::replace(s, Obj::Node(slot));
                    self.nodes.push(Node::Tuple(vec![old, state]));
                }
                Ok(())
            }
            Some(Node::Dict(_)) | Some(Node::Tensor(_)) | Some(Node::List(_)) => Ok(()),
            _ => Err(self.err("BUILD on a value that takes no state")),
        }
    }

    pub(super) fn new_obj(&mut self, cls: &Obj, args: Vec<Obj>) -> Result<Obj> {
        let (module, name) = self.global_of(cls)?;
        match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") | ("builtins", "dict") | ("__builtin__", "dict") => {
                Ok(self.push_node(Node::Dict(DictNode::default())))
            }
            ("builtins", "list") | ("builtins", "set") => {
                Ok(self.push_node(Node::List(Vec::new())))
            }
            _ => {
                let state = if args.is_empty() {
                    Obj::None
                } else {
                    self.push_node(Node::Tuple(args))
                };
                Ok(self.push_node(Node::Object {
                    class: format!("{module}.{name}"),
                    state,
                }))
            }
        }
    }

    /// Interprets a call of a whitelisted helper; anything else becomes `Object{class, args}`.
    pub(super) fn apply(&mut self, func: &Obj, args: Vec<Obj>, depth: usize) -> Result<Obj> {
        if depth > MAX_APPLY_DEPTH {
            return Err(self.err("calls nested too deeply"));
        }
        let (module, name) = self.global_of(func)?;
        match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") | ("builtins", "dict") | ("__builtin__", "dict") => {
                let mut d = DictNode::default();
                if let Some(src) = args.first() {
                    for pair in self.tuple_items(src)? {
                        let kv = self.tuple_items(&pair)?;
                        if kv.len() != 2 {
                            return Err(self.err("dict() item is not a pair"));
                        }
                        let mut kv = kv.into_iter();
                        if let (Some(k), Some(v)) = (kv.next(), kv.next()) {
                            d.insert(k, v);
                        }
                    }
                }
                Ok(self.push_node(Node::Dict(d)))
            }
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                self.rebuild_tensor(&args, None)
            }
            ("torch._utils", "_rebuild_tensor_v3") => {
                let dt = args
                    .get(6)
                    .ok_or_else(|| self.err("_rebuild_tensor_v3 needs a dtype"))?;
                let (dm, dn) = self.global_of(dt)?;
                let dtype = dtype_by_name(&dm, &dn)
                    .ok_or_else(|| Error::UnsupportedStorage(format!("{dm}.{dn}")))?;
                self.rebuild_tensor(&args, Some(dtype))
            }
            ("torch._utils", "_rebuild_parameter")
            | ("torch._utils", "_rebuild_parameter_with_state") => args
                .into_iter()
                .next()
                .ok_or_else(|| self.err("_rebuild_parameter without data")),
            ("torch._tensor", "_rebuild_from_type_v2")
            | ("torch._utils", "_rebuild_from_type_v2") => {
                let (Some(f), Some(a)) = (args.first(), args.get(2)) else {
                    return Err(self.err("_rebuild_from_type_v2 needs (func, type, args, state)"));
                };
                let inner = self.tuple_items(a)?;
                let f = f.clone();
                self.apply(&f, inner, depth + 1)
            }
            ("torch", "Size")
            | ("builtins", "tuple")
            | ("builtins", "list")
            | ("builtins", "set")
            | ("builtins", "frozenset") => {
                let items = match args.first() {
                    Some(a) => self.tuple_items(a)?,
                    None => Vec::new(),
                };
                let n = if name == "list" || name == "set" {
                    Node::List(items)
                } else {
                    Node::Tuple(items)
                };
                Ok(self.push_node(n))
            }
            // Python 3 pickles `bytes` at protocol 2 as `_codecs.encode(text, "latin1")`.
            ("_codecs", "encode") => match (args.first(), args.get(1)) {
                (Some(Obj::Str(s)), enc) => {
                    self.charge(s.len())?;
                    let latin1 = matches!(enc, Some(Obj::Str(e)) if e.eq_ignore_ascii_case("latin1") || e.eq_ignore_ascii_case("latin-1"));
                    let b: Vec<u8> = if latin1 {
                        s.chars()
                            .map(|c| {
                                u8::try_from(c as u32).map_err(|_| self.err("non-latin1 char"))
                            })
                            .collect::<Result<_>>()?
                    } else {
                        s.as_bytes().to_vec()
                    };
                    Ok(Obj::Bytes(b.into()))
                }
                _ => Err(self.err("_codecs.encode needs a string")),
            },
            ("builtins", "bytearray") | ("builtins", "bytes") | ("__builtin__", "bytearray") => {
                match args.first() {
                    Some(Obj::Bytes(b)) => Ok(Obj::Bytes(b.clone())),
                    None => Ok(Obj::Bytes(Rc::from(Vec::new()))),
                    _ => Err(self.err("bytearray needs bytes")),
                }
            }
            _ => {
                let state = self.push_node(Node::Tuple(args));
                Ok(self.push_node(Node::Object {
                    class: format!("{module}.{name}"),
                    state,
                }))
            }
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, meta])`.
    pub(super) fn rebuild_tensor(&mut self, args: &[Obj], dtype: Option<DType>) -> Result<Obj> {
        if args.len() < 4 {
            return Err(self.err("_rebuild_tensor needs (storage, offset, size, stride, ...)"));
        }
        let storage = match &args[0] {
            Obj::Node(i) if matches!(self.nodes.get(*i), Some(Node::Storage(_))) => *i,
            _ => return Err(self.err("_rebuild_tensor's first argument is not a storage")),
        };
        let Some(Node::Storage(sref)) = self.nodes.get(storage) else {
            return Err(self.err("_rebuild_tensor's first argument is not a storage"));
        };
        let dtype = dtype.unwrap_or(sref.dtype);
        let offset = self.int_of(&args[1], "storage offset")?;
        let offset = u64::try_from(offset).map_err(|_| self.err("negative storage offset"))?;
        let shape = self.uint_list(&args[2], "tensor size")?;
        let stride = self.uint_list(&args[3], "tensor stride")?;
        if shape.len() != stride.len() {
            return Err(self.err(format!(
                "size has {} dims but stride has {}",
                shape.len(),
                stride.len()
            )));
        }
        Ok(self.push_node(Node::Tensor(TensorSpec {
            storage,
            dtype,
            offset,
            shape,
            stride,
        })))
    }

    /// `('storage', StorageClass, key, location, numel)` → a storage reference (data read later).
    pub(super) fn persistent_load(&mut self, pid: &Obj) -> Result<Obj> {
        let items = self.tuple_items(pid)?;
        match items.first() {
            Some(Obj::Str(s)) if &**s == "storage" => {}
            _ => return Err(self.err("persistent id is not a ('storage', ...) tuple")),
        }
        if items.len() < 5 {
            return Err(self.err("storage persistent id needs 5 fields"));
        }
        let (module, name) = self.global_of(&items[1])?;
        let dtype = dtype_by_name(&module, &name)
            .ok_or_else(|| Error::UnsupportedStorage(format!("{module}.{name}")))?;
        let key = match &items[2] {
            Obj::Str(s) => {
                self.charge(s.len())?;
                s.to_string()
            }
            Obj::Int(i) => i.to_string(),
            _ => return Err(self.err("storage key is not a string")),
        };
        let numel = self.int_of(&items[4], "storage numel")?;
        let numel = u64::try_from(numel).map_err(|_| self.err("negative storage size"))?;
        Ok(self.push_node(Node::Storage(StorageRef { key, dtype, numel })))
    }
}

/// Storage classes (`torch.HalfStorage`, also `torch.cuda.*`) and dtype objects (`torch.float16`).
pub(super) fn dtype_by_name(module: &str, name: &str) -> Option<DType> {
    if module != "torch" && module != "torch.cuda" {
        return None;
    }
    Some(match name {
        "HalfStorage" | "float16" | "half" => DType::F16,
        "BFloat16Storage" | "bfloat16" => DType::BF16,
        "FloatStorage" | "float32" | "float" => DType::F32,
        "DoubleStorage" | "float64" | "double" => DType::F64,
        "LongStorage" | "int64" | "long" => DType::I64,
        "IntStorage" | "int32" | "int" => DType::I32,
        "ShortStorage" | "int16" | "short" => DType::I16,
        "CharStorage" | "int8" => DType::I8,
        "ByteStorage" | "UntypedStorage" | "uint8" => DType::U8,
        "BoolStorage" | "bool" => DType::Bool,
        _ => return None,
    })
}

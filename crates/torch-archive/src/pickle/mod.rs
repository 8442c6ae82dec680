//! A pickle virtual machine (protocols 0-5) that builds data and never calls anything.
//!
//! Containers live in an arena and the stack/memo hold indices into it, so a container that is
//! memoised and later filled (`EMPTY_DICT`, `BINPUT`, `SETITEMS`) is seen filled by every `GET`,
//! as in Python, while cycles and deep chains cost nothing until [`crate::convert`] walks them with
//! a depth limit. Every "call" (`REDUCE`, `NEWOBJ`, `INST`, `OBJ`) is interpreted from a short
//! whitelist of torch/collections helpers; any other class becomes an opaque object record.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::DType;

mod calls;
mod text;

use text::{opcode_name, py_string_literal, raw_unicode_escape};

/// A stack or memo slot: scalars inline, containers by arena index.
#[derive(Debug, Clone)]
pub(crate) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Node(usize),
}

/// Hashable dict keys, used to make `SETITEM` on an existing key replace it (as Python does)
/// without a quadratic scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(Rc<str>),
    Int(i64),
}

#[derive(Debug, Default)]
pub(crate) struct DictNode {
    pub items: Vec<(Obj, Obj)>,
    index: HashMap<Key, usize>,
}

impl DictNode {
    fn insert(&mut self, k: Obj, v: Obj) {
        let key = match &k {
            Obj::Str(s) => Some(Key::Str(s.clone())),
            Obj::Int(i) => Some(Key::Int(*i)),
            Obj::Bool(b) => Some(Key::Int(*b as i64)),
            _ => None,
        };
        if let Some(key) = key {
            if let Some(&i) = self.index.get(&key) {
                self.items[i].1 = v;
                return;
            }
            self.index.insert(key, self.items.len());
        }
        self.items.push((k, v));
    }
}

/// One `('storage', StorageClass, key, location, numel)` persistent id.
#[derive(Debug, Clone)]
pub(crate) struct StorageRef {
    pub key: String,
    pub dtype: DType,
    pub numel: u64,
}

/// A `_rebuild_tensor*` call, materialised later against the storage record.
#[derive(Debug, Clone)]
pub(crate) struct TensorSpec {
    pub storage: usize,
    pub dtype: DType,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

#[derive(Debug)]
pub(crate) enum Node {
    List(Vec<Obj>),
    Tuple(Vec<Obj>),
    Dict(DictNode),
    Global { module: String, name: String },
    Storage(StorageRef),
    Tensor(TensorSpec),
    Object { class: String, state: Obj },
}

/// What the machine leaves behind: the arena and the object `STOP` returned.
pub(crate) struct Unpickled {
    pub nodes: Vec<Node>,
    pub root: Obj,
}

/// `REDUCE`-style calls nest (e.g. `_rebuild_from_type_v2(func, ...)`); bound that recursion.
const MAX_APPLY_DEPTH: usize = 8;

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset and name of the opcode being executed, for error messages.
    op_at: usize,
    op: &'static str,
    stack: Vec<Obj>,
    marks: Vec<usize>,
    memo: HashMap<u64, Obj>,
    nodes: Vec<Node>,
    /// Items/bytes the machine may still copy. Memo references let a small pickle copy one big
    /// tuple or string again and again; this keeps the work linear in the input.
    copy_left: Cell<usize>,
}

/// Runs the pickle in `data` (a torch `data.pkl`) to its `STOP`.
pub(crate) fn unpickle(data: &[u8]) -> Result<Unpickled> {
    let mut vm = Vm {
        data,
        pos: 0,
        op_at: 0,
        op: "start",
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        nodes: Vec::new(),
        copy_left: Cell::new(data.len().saturating_mul(4).saturating_add(1 << 20)),
    };
    let root = vm.run()?;
    Ok(Unpickled {
        nodes: vm.nodes,
        root,
    })
}

impl<'a> Vm<'a> {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Pickle {
            offset: self.op_at,
            opcode: self.op,
            msg: msg.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let left = self.data.len() - self.pos;
        if n > left {
            return Err(self.err(format!("truncated: needs {n} bytes, only {left} left")));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.arr::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }

    /// A length prefix, checked against the bytes actually left so it never drives an allocation.
    fn len_u64(&mut self) -> Result<usize> {
        let n = u64::from_le_bytes(self.arr()?);
        usize::try_from(n).map_err(|_| self.err(format!("length {n} too large")))
    }

    /// A `\n`-terminated line (text opcodes of protocols 0/1), without the newline.
    fn line(&mut self) -> Result<&'a [u8]> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err("truncated: line without newline"))?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }

    fn line_str(&mut self) -> Result<&'a str> {
        let l = self.line()?;
        std::str::from_utf8(l).map_err(|_| self.err("line is not UTF-8"))
    }

    fn utf8(&self, b: &[u8]) -> Result<Obj> {
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Obj::Str(s.into())),
            Err(e) => Err(self.err(format!("string is not valid UTF-8: {e}"))),
        }
    }

    fn push_node(&mut self, n: Node) -> Obj {
        self.nodes.push(n);
        Obj::Node(self.nodes.len() - 1)
    }

    fn pop(&mut self) -> Result<Obj> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top_index(&self) -> Result<usize> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        Ok(self.stack.len() - 1)
    }

    /// Pops everything above the newest MARK, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Obj>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.err("no MARK on the stack"))?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    fn memo_get(&mut self, idx: u64) -> Result<()> {
        let v = self
            .memo
            .get(&idx)
            .cloned()
            .ok_or_else(|| self.err(format!("memo key {idx} not set")))?;
        self.stack.push(v);
        Ok(())
    }

    fn memo_put(&mut self, idx: u64) -> Result<()> {
        let i = self.top_index()?;
        self.memo.insert(idx, self.stack[i].clone());
        Ok(())
    }

    fn node(&self, o: &Obj) -> Option<&Node> {
        match o {
            Obj::Node(i) => self.nodes.get(*i),
            _ => None,
        }
    }

    /// Takes `n` from the copy budget.
    fn charge(&self, n: usize) -> Result<()> {
        match self.copy_left.get().checked_sub(n) {
            Some(l) => {
                self.copy_left.set(l);
                Ok(())
            }
            None => {
                Err(self.err("pickle copies more data than its size allows (memo reference bomb?)"))
            }
        }
    }

    fn global_of(&self, o: &Obj) -> Result<(String, String)> {
        match self.node(o) {
            Some(Node::Global { module, name }) => {
                self.charge(module.len() + name.len())?;
                Ok((module.clone(), name.clone()))
            }
            _ => Err(self.err("expected a class/function (GLOBAL) here")),
        }
    }

    fn tuple_items(&self, o: &Obj) -> Result<Vec<Obj>> {
        match self.node(o) {
            Some(Node::Tuple(v)) | Some(Node::List(v)) => {
                self.charge(v.len())?;
                Ok(v.clone())
            }
            _ => Err(self.err("expected a tuple of arguments")),
        }
    }

    fn int_of(&self, o: &Obj, what: &str) -> Result<i64> {
        match o {
            Obj::Int(i) => Ok(*i),
            Obj::Bool(b) => Ok(*b as i64),
            _ => Err(self.err(format!("{what}: expected an int"))),
        }
    }

    fn uint_list(&self, o: &Obj, what: &str) -> Result<Vec<u64>> {
        self.tuple_items(o)?
            .iter()
            .map(|x| {
                let v = self.int_of(x, what)?;
                u64::try_from(v).map_err(|_| self.err(format!("{what}: negative value {v}")))
            })
            .collect()
    }

    fn run(&mut self) -> Result<Obj> {
        loop {
            self.op_at = self.pos;
            let Some(&code) = self.data.get(self.pos) else {
                self.op = "end";
                return Err(self.err("pickle ended without STOP (truncated data.pkl?)"));
            };
            self.pos += 1;
            self.op = opcode_name(code);
            match code {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(self.err(format!("pickle protocol {p} is newer than 5")));
                    }
                }
                0x95 => {
                    // FRAME: only a read-ahead hint.
                    self.len_u64()?;
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let i = self.top_index()?;
                    self.stack.push(self.stack[i].clone());
                }
                b'N' => self.stack.push(Obj::None),
                0x88 => self.stack.push(Obj::Bool(true)),
                0x89 => self.stack.push(Obj::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.arr()?);
                    self.stack.push(Obj::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Obj::Int(v as i64));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.arr()?);
                    self.stack.push(Obj::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    let v = self.long_le(b)?;
                    self.stack.push(v);
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    let v = self.long_le(b)?;
                    self.stack.push(v);
                }
                b'I' => {
                    let l = self.line_str()?;
                    let v = match l {
                        "00" => Obj::Bool(false),
                        "01" => Obj::Bool(true),
                        _ => Obj::Int(
                            l.trim()
                                .parse()
                                .map_err(|_| self.err(format!("bad INT {l:?}")))?,
                        ),
                    };
                    self.stack.push(v);
                }
                b'L' => {
                    let l = self.line_str()?;
                    let t = l.trim().trim_end_matches('L');
                    let v = t
                        .parse()
                        .map_err(|_| self.err(format!("LONG {l:?} is not a 64-bit integer")))?;
                    self.stack.push(Obj::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.arr()?);
                    self.stack.push(Obj::Float(v));
                }
                b'F' => {
                    let l = self.line_str()?;
                    let v = l
                        .trim()
                        .parse()
                        .map_err(|_| self.err(format!("bad FLOAT {l:?}")))?;
                    self.stack.push(Obj::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    let v = self.utf8(b)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    let v = self.utf8(b)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let b = self.take(n)?;
                    let v = self.utf8(b)?;
                    self.stack.push(v);
                }
                b'V' => {
                    let l = self.line()?;
                    let s = raw_unicode_escape(l).ok_or_else(|| self.err("bad UNICODE escape"))?;
                    self.stack.push(Obj::Str(s.into()));
                }
                // Python-2 byte strings: text when UTF-8 (what torch.load(encoding="utf-8") gives).
                b'T' | b'U' => {
                    let n = if code == b'T' {
                        self.u32()? as usize
                    } else {
                        self.u8()? as usize
                    };
                    let b = self.take(n)?;
                    let v = match std::str::from_utf8(b) {
                        Ok(s) => Obj::Str(s.into()),
                        Err(_) => Obj::Bytes(b.into()),
                    };
                    self.stack.push(v);
                }
                b'S' => {
                    let l = self.line()?;
                    let s = py_string_literal(l).ok_or_else(|| self.err("bad STRING literal"))?;
                    self.stack.push(Obj::Str(s.into()));
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match code {
                        b'B' => self.u32()? as usize,
                        b'C' => self.u8()? as usize,
                        _ => self.len_u64()?,
                    };
                    let b = self.take(n)?;
                    self.stack.push(Obj::Bytes(b.into()));
                }
                0x97 | 0x98 => return Err(self.err("out-of-band pickle buffers are not supported")),
                b')' => {
                    let o = self.push_node(Node::Tuple(Vec::new()));
                    self.stack.push(o);
                }
                b']' => {
                    let o = self.push_node(Node::List(Vec::new()));
                    self.stack.push(o);
                }
                b'}' => {
                    let o = self.push_node(Node::Dict(DictNode::default()));
                    self.stack.push(o);
                }
                0x8f => {
                    let o = self.push_node(Node::List(Vec::new()));
                    self.stack.push(o);
                }
                b't' | b'l' | 0x91 => {
                    let items = self.pop_mark()?;
                    let n = if code == b't' {
                        Node::Tuple(items)
                    } else {
                        Node::List(items)
                    };
                    let o = self.push_node(n);
                    self.stack.push(o);
                }
                0x85..=0x87 => {
                    let n = (code - 0x84) as usize;
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err(self.err("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let o = self.push_node(Node::Tuple(items));
                    self.stack.push(o);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let d = self.dict_from_flat(items)?;
                    let o = self.push_node(Node::Dict(d));
                    self.stack.push(o);
                }
                b'a' => {
                    let v = self.pop()?;
                    let t = self.top_index()?;
                    self.extend(t, vec![v])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    let t = self.top_index()?;
                    self.extend(t, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let t = self.top_index()?;
                    self.set_items(t, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let t = self.top_index()?;
                    self.set_items(t, items)?;
                }
                b'g' => {
                    let l = self.line_str()?;
                    let i = l
                        .trim()
                        .parse()
                        .map_err(|_| self.err(format!("bad GET index {l:?}")))?;
                    self.memo_get(i)?;
                }
                b'h' => {
                    let i = self.u8()? as u64;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.u32()? as u64;
                    self.memo_get(i)?;
                }
                b'p' => {
                    let l = self.line_str()?;
                    let i = l
                        .trim()
                        .parse()
                        .map_err(|_| self.err(format!("bad PUT index {l:?}")))?;
                    self.memo_put(i)?;
                }
                b'q' => {
                    let i = self.u8()? as u64;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()? as u64;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.memo_put(i)?;
                }
                b'c' => {
                    let module = self.line_str()?.to_string();
                    let name = self.line_str()?.to_string();
                    let o = self.push_node(Node::Global { module, name });
                    self.stack.push(o);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Obj::Str(module), Obj::Str(name)) = (module, name) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    self.charge(module.len() + name.len())?;
                    let o = self.push_node(Node::Global {
                        module: module.to_string(),
                        name: name.to_string(),
                    });
                    self.stack.push(o);
                }
                0x82..=0x84 => return Err(self.err("copyreg extension codes are not supported")),
                b'Q' => {
                    let pid = self.pop()?;
                    let o = self.persistent_load(&pid)?;
                    self.stack.push(o);
                }
                b'P' => return Err(self.err("text persistent ids are not torch storages")),
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let args = self.tuple_items(&args)?;
                    let o = self.apply(&func, args, 0)?;
                    self.stack.push(o);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let args = self.tuple_items(&args)?;
                    let o = self.new_obj(&cls, args)?;
                    self.stack.push(o);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let args = self.tuple_items(&args)?;
                    let o = self.new_obj(&cls, args)?;
                    self.stack.push(o);
                }
                b'i' => {
                    let module = self.line_str()?.to_string();
                    let name = self.line_str()?.to_string();
                    let args = self.pop_mark()?;
                    let g = self.push_node(Node::Global { module, name });
                    let o = self.apply(&g, args, 0)?;
                    self.stack.push(o);
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return Err(self.err("OBJ without a class"));
                    }
                    let cls = items.remove(0);
                    let o = self.apply(&cls, items, 0)?;
                    self.stack.push(o);
                }
                b'b' => {
                    let state = self.pop()?;
                    let t = self.top_index()?;
                    self.build(t, state)?;
                }
                _ => {
                    return Err(Error::UnknownOpcode {
                        opcode: code,
                        offset: self.op_at,
                    })
                }
            }
        }
    }

    /// LONG1/LONG4: two's-complement little-endian; values beyond i64 are rejected.
    fn long_le(&self, b: &[u8]) -> Result<Obj> {
        if b.is_empty() {
            return Ok(Obj::Int(0));
        }
        let neg = b[b.len() - 1] & 0x80 != 0;
        let fill = if neg { 0xff } else { 0 };
        if b.len() > 8 && b[8..].iter().any(|&x| x != fill) {
            return Err(self.err(format!("{}-byte integer does not fit in 64 bits", b.len())));
        }
        let mut a = [fill; 8];
        let n = b.len().min(8);
        a[..n].copy_from_slice(&b[..n]);
        let v = i64::from_le_bytes(a);
        if (v < 0) != neg {
            return Err(self.err("integer does not fit in 64 bits"));
        }
        Ok(Obj::Int(v))
    }

    fn dict_from_flat(&self, items: Vec<Obj>) -> Result<DictNode> {
        if items.len() % 2 == 1 {
            return Err(self.err("odd number of items for a dict"));
        }
        let mut d = DictNode::default();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.insert(k, v);
        }
        Ok(d)
    }
}

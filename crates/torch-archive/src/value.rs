//! Convenience accessors on [`Value`] for walking checkpoints and configs.

use crate::{Tensor, Value};

impl Value {
    /// Looks `key` up in a dict with string keys; on an [`Value::Object`] (e.g. `utils.HParams`)
    /// it looks into the object's state, so `cfg.get("model")?.get("hidden_channels")` works
    /// whether the config was pickled as a dict or as a class instance.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            Value::Object { state, .. } => state.get(key),
            _ => None,
        }
    }

    /// Follows a `/`- or `.`-free path of keys: `v.path(&["config", "model", "head"])`.
    pub fn path(&self, keys: &[&str]) -> Option<&Value> {
        keys.iter().try_fold(self, |v, k| v.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Ints (and bools, as Python treats them).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// Floats, and ints widened to float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Lists and tuples alike.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Dict items in insertion order; for an object, the items of its state dict.
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(items) => Some(items),
            Value::Object { state, .. } => state.as_dict(),
            _ => None,
        }
    }

    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// The class path of an [`Value::Object`] (e.g. `utils.HParams`).
    pub fn class(&self) -> Option<&str> {
        match self {
            Value::Object { class, .. } => Some(class),
            _ => None,
        }
    }

    /// Every `(name, tensor)` of a state dict, in file order (non-string keys and non-tensor
    /// values skipped).
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.as_dict()
            .unwrap_or(&[])
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?, v.as_tensor()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_looks_through_objects_and_dicts() {
        let inner = Value::Dict(vec![(
            Value::Str("hidden_channels".into()),
            Value::Int(192),
        )]);
        let cfg = Value::Object {
            class: "utils.HParams".into(),
            state: Box::new(Value::Dict(vec![(Value::Str("model".into()), inner)])),
        };
        assert_eq!(
            cfg.path(&["model", "hidden_channels"])
                .and_then(Value::as_i64),
            Some(192)
        );
        assert_eq!(cfg.get("missing"), None);
        assert_eq!(cfg.class(), Some("utils.HParams"));
        assert_eq!(Value::Int(3).as_f64(), Some(3.0));
    }
}

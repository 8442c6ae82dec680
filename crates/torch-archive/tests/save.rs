//! `save` is the inverse of `load`: every fixture model (GPT, SoVITS v2 and v2Pro with their
//! version tag, speaker model, BERT, HuBERT) and hand-made values of every kind read back equal.
mod common;

use common::fixtures;
use torch_archive::{load, save, sovits_header, DType, Tensor, Value};

fn round_trip(v: &Value, header: Option<[u8; 2]>) -> Value {
    let bytes = save(v, header).expect("save");
    assert_eq!(sovits_header(&bytes), header);
    load(&bytes).expect("load of a saved archive")
}

fn count_tensors(v: &Value) -> usize {
    match v {
        Value::Tensor(_) => 1,
        Value::List(xs) | Value::Tuple(xs) => xs.iter().map(count_tensors).sum(),
        Value::Dict(items) => items.iter().map(|(k, x)| count_tensors(k) + count_tensors(x)).sum(),
        Value::Object { state, .. } => count_tensors(state),
        _ => 0,
    }
}

#[test]
fn every_fixture_model_reads_back_equal() {
    let pro = fixtures().join("../fixtures-pro/models");
    let files = [
        fixtures().join("models/gpt/tiny-v2-e15.ckpt"),
        fixtures().join("models/sovits/tiny-v2_e8_s96.pth"),
        fixtures().join("models/chinese-hubert-base-tiny/pytorch_model.bin"),
        fixtures().join("models/chinese-roberta-wwm-ext-large-tiny/pytorch_model.bin"),
        pro.join("sovits/tiny-v2Pro_e8_s96.pth"),
        pro.join("sv/tiny_eres2netv2w24s4ep4.ckpt"),
    ];
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let v = load(&bytes).unwrap();
        let header = sovits_header(&bytes);
        assert!(count_tensors(&v) > 10, "{}", f.display());
        assert!(round_trip(&v, header) == v, "{} differs after save + load", f.display());
    }
}

#[test]
fn values_of_every_kind_read_back_equal() {
    let t = |dtype: DType, shape: Vec<usize>| {
        let n: usize = shape.iter().product::<usize>() * dtype.size();
        Tensor { dtype, shape, data: (0..n).map(|i| (i * 7 % 251) as u8).collect() }
    };
    let ints = [0, 1, 255, 256, 65535, 65536, -1, -129, i32::MAX as i64, i32::MIN as i64, i64::MAX, i64::MIN, 1 << 40];
    let v = Value::Dict(vec![
        (Value::Str("ints".into()), Value::List(ints.iter().map(|&i| Value::Int(i)).collect())),
        (Value::Str("floats".into()), Value::Tuple(vec![Value::Float(0.1), Value::Float(-3e300), Value::Float(f64::INFINITY)])),
        (Value::Str("misc".into()), Value::List(vec![Value::None, Value::Bool(true), Value::Bool(false), Value::Tuple(vec![])])),
        (Value::Str("bytes".into()), Value::List(vec![Value::Bytes(vec![1, 2, 3]), Value::Bytes(vec![9; 300])])),
        (Value::Str("unicodé ✓".into()), Value::Dict(vec![(Value::Int(3), Value::List(vec![]))])),
        (
            Value::Str("config".into()),
            Value::Object { class: "utils.HParams".into(), state: Box::new(Value::Dict(vec![(Value::Str("a".into()), Value::Int(1))])) },
        ),
        (
            Value::Str("weight".into()),
            Value::Dict(vec![
                (Value::Str("h".into()), Value::Tensor(t(DType::F16, vec![3, 4, 5]))),
                (Value::Str("f".into()), Value::Tensor(t(DType::F32, vec![7]))),
                (Value::Str("s".into()), Value::Tensor(t(DType::I64, vec![]))),
                (Value::Str("e".into()), Value::Tensor(t(DType::Bool, vec![0, 4]))),
                (Value::Str("b".into()), Value::Tensor(t(DType::BF16, vec![2, 2]))),
            ]),
        ),
    ]);
    assert_eq!(round_trip(&v, None), v);
    assert_eq!(round_trip(&v, Some(*b"06")), v);
}

#[test]
fn unwritable_values_are_errors() {
    let bad = Value::Tensor(Tensor { dtype: DType::F32, shape: vec![2], data: vec![0; 3] });
    assert!(save(&bad, None).unwrap_err().to_string().contains("shape [2]"));
    let nameless = Value::Object { class: "HParams".into(), state: Box::new(Value::None) };
    assert!(save(&nameless, None).unwrap_err().to_string().contains("HParams"));
}

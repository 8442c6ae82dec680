//! Hand-built archives exercising what the fixture models do not: strided views, storage offsets,
//! shared storages, other dtypes, deflated entries, protocol 4 opcodes, memo aliasing and
//! classes that must be recorded instead of called.

mod common;

use common::{f32_bytes, torch_zip, Pickle};
use torch_archive::{DType, Value};

fn f32s(v: &Value, key: &str) -> Vec<f32> {
    let t = v
        .get(key)
        .and_then(Value::as_tensor)
        .unwrap_or_else(|| panic!("no tensor {key}"));
    assert_eq!(t.dtype, DType::F32);
    t.to_f32_vec()
}

#[test]
fn views_offsets_and_shared_storage() {
    // One storage [0..6) viewed five ways, plus a second storage; timestamp folder, not `archive/`.
    let mut p = Pickle::new();
    p.op(b"}").mark();
    p.str("a")
        .tensor("FloatStorage", "0", 6, 0, &[2, 3], &[3, 1]);
    p.str("a_t")
        .tensor("FloatStorage", "0", 6, 0, &[3, 2], &[1, 3]);
    p.str("tail").tensor("FloatStorage", "0", 6, 3, &[3], &[1]);
    p.str("col1")
        .tensor("FloatStorage", "0", 6, 1, &[2, 1], &[3, 1]);
    p.str("bcast")
        .tensor("FloatStorage", "0", 6, 4, &[2, 2], &[0, 1]);
    p.str("other").tensor("FloatStorage", "1", 2, 0, &[2], &[1]);
    p.str("scalar").tensor("FloatStorage", "1", 2, 1, &[], &[]);
    let pkl = p.op(b"u").stop();
    let zip = torch_zip(
        "1795636037.615029",
        &pkl,
        &[
            ("0", f32_bytes(&[0., 1., 2., 3., 4., 5.])),
            ("1", f32_bytes(&[7., 8.])),
        ],
        false,
    );
    let v = torch_archive::load(&zip).expect("loads");
    assert_eq!(f32s(&v, "a"), [0., 1., 2., 3., 4., 5.]);
    assert_eq!(f32s(&v, "a_t"), [0., 3., 1., 4., 2., 5.]);
    assert_eq!(f32s(&v, "tail"), [3., 4., 5.]);
    assert_eq!(f32s(&v, "col1"), [1., 4.]);
    assert_eq!(f32s(&v, "bcast"), [4., 5., 4., 5.]);
    assert_eq!(f32s(&v, "other"), [7., 8.]);
    assert_eq!(f32s(&v, "scalar"), [8.]);
    assert_eq!(
        v.get("a_t")
            .and_then(Value::as_tensor)
            .map(|t| t.shape.clone()),
        Some(vec![3, 2])
    );
    assert_eq!(
        v.get("scalar")
            .and_then(Value::as_tensor)
            .map(|t| t.shape.len()),
        Some(0)
    );
}

#[test]
fn dtypes_and_deflated_entries() {
    let mut p = Pickle::new();
    p.op(b"}").mark();
    p.str("long").tensor("LongStorage", "0", 2, 0, &[2], &[1]);
    p.str("bool").tensor("BoolStorage", "1", 3, 0, &[3], &[1]);
    p.str("bf16")
        .tensor("BFloat16Storage", "2", 1, 0, &[1], &[1]);
    p.str("f64").tensor("DoubleStorage", "3", 1, 0, &[1], &[1]);
    p.str("i8").tensor("CharStorage", "4", 2, 0, &[2], &[1]);
    let pkl = p.op(b"u").stop();
    let long: Vec<u8> = [-5i64, 1 << 40]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let records = [
        ("0", long),
        ("1", vec![1, 0, 1]),
        ("2", 1.5f32.to_bits().to_le_bytes()[2..].to_vec()),
        ("3", (-2.25f64).to_le_bytes().to_vec()),
        ("4", vec![0xff, 0x7f]),
    ];
    for deflate in [false, true] {
        let v = torch_archive::load(&torch_zip("archive", &pkl, &records, deflate)).expect("loads");
        let t = |k: &str| {
            v.get(k)
                .and_then(Value::as_tensor)
                .cloned()
                .unwrap_or_else(|| panic!("{k}"))
        };
        assert_eq!(t("long").dtype, DType::I64);
        assert_eq!(t("long").to_i64_vec(), [-5, 1 << 40]);
        assert_eq!(t("bool").dtype, DType::Bool);
        assert_eq!(t("bool").to_f32_vec(), [1., 0., 1.]);
        assert_eq!(t("bf16").dtype, DType::BF16);
        assert_eq!(t("bf16").to_f32_vec(), [1.5]);
        assert_eq!(t("f64").to_f32_vec(), [-2.25]);
        assert_eq!(t("i8").to_i64_vec(), [-1, 127]);
    }
}

#[test]
fn classes_are_recorded_not_called() {
    let mut p = Pickle::new();
    p.op(b"}").mark();
    // NEWOBJ + BUILD, like utils.HParams.
    p.str("hp")
        .global("utils", "HParams")
        .op(b")\x81")
        .op(b"}")
        .mark()
        .str("k")
        .int(3)
        .op(b"ub");
    // REDUCE of an unknown callable: recorded with its arguments.
    p.str("danger")
        .global("os", "system")
        .mark()
        .str("rm -rf /")
        .tuple()
        .op(b"R");
    // _codecs.encode (how Python 3 bytes look at protocol 2) and torch.Size.
    p.str("bytes")
        .global("_codecs", "encode")
        .mark()
        .str("\u{ff}A")
        .str("latin1")
        .tuple()
        .op(b"R");
    p.str("size")
        .global("torch", "Size")
        .mark()
        .int(2)
        .int(3)
        .op(b"\x86")
        .tuple()
        .op(b"R");
    let pkl = p.op(b"u").stop();
    let v = torch_archive::load(&torch_zip("archive", &pkl, &[], false)).expect("loads");
    let hp = v.get("hp").expect("hp");
    assert_eq!(hp.class(), Some("utils.HParams"));
    assert_eq!(hp.get("k").and_then(Value::as_i64), Some(3));
    match v.get("danger") {
        Some(Value::Object { class, state }) => {
            assert_eq!(class, "os.system");
            assert_eq!(**state, Value::Tuple(vec![Value::Str("rm -rf /".into())]));
        }
        other => panic!("os.system became {other:?}"),
    }
    assert_eq!(v.get("bytes"), Some(&Value::Bytes(vec![0xff, b'A'])));
    assert_eq!(
        v.get("size"),
        Some(&Value::Tuple(vec![Value::Int(2), Value::Int(3)]))
    );
}

#[test]
fn protocol_4_opcodes_and_memo_aliasing() {
    let mut p = Pickle(vec![0x80, 4]);
    p.op(b"\x95").op(&0u64.to_le_bytes()); // FRAME
    p.op(b"}\x94"); // EMPTY_DICT, MEMOIZE (memo 0)
    p.op(b"\x8c\x05inner\x94"); // SHORT_BINUNICODE, memo 1
    p.op(b"}\x94"); // inner dict, memo 2
    p.op(b"s"); // outer["inner"] = inner (still empty)
    p.op(b"h\x02"); // inner again, then fill it after it was stored
    p.op(b"\x8c\x01x\x8a\x02\x00\xffs0"); // inner["x"] = LONG1(-256); POP
    p.op(b"\x8c\x03set").op(b"\x8f(K\x01K\x02\x90s"); // outer["set"] = {1, 2}
    p.op(b"\x8c\x03obj\x8c\x05utils\x8c\x07HParams\x93)}\x92s"); // STACK_GLOBAL + NEWOBJ_EX
    p.op(b"\x8c\x03raw").op(b"C\x02ab").op(b"s"); // SHORT_BINBYTES
    p.op(b"\x8c\x01f").float(0.5).op(b"s");
    let pkl = p.stop();
    let v = torch_archive::load(&torch_zip("archive", &pkl, &[], false)).expect("loads");
    assert_eq!(
        v.path(&["inner", "x"]).and_then(Value::as_i64),
        Some(-256),
        "filled after memoising"
    );
    assert_eq!(
        v.get("set").and_then(Value::as_list).map(|l| l.len()),
        Some(2)
    );
    assert_eq!(v.get("obj").and_then(Value::class), Some("utils.HParams"));
    assert_eq!(v.get("raw"), Some(&Value::Bytes(b"ab".to_vec())));
    assert_eq!(v.get("f").and_then(Value::as_f64), Some(0.5));
}

#[test]
fn parameters_and_ordered_dict_with_metadata() {
    // state_dict-style: OrderedDict REDUCE, SETITEMS, then BUILD of its `_metadata` attribute.
    let mut p = Pickle::new();
    p.global("collections", "OrderedDict").op(b")R").mark();
    p.str("w")
        .global("torch._utils", "_rebuild_parameter")
        .mark();
    p.tensor("HalfStorage", "0", 2, 0, &[2], &[1])
        .op(b"\x88")
        .global("collections", "OrderedDict")
        .op(b")R")
        .tuple()
        .op(b"R");
    p.op(b"u")
        .op(b"}")
        .mark()
        .str("_metadata")
        .op(b"}")
        .op(b"ub");
    let pkl = p.stop();
    let v = torch_archive::load(&torch_zip(
        "archive",
        &pkl,
        &[("0", vec![0x00, 0x3c, 0x00, 0xc0])],
        false,
    ))
    .expect("loads");
    assert_eq!(v.as_dict().map(|d| d.len()), Some(1));
    let w = v.get("w").and_then(Value::as_tensor).expect("w");
    assert_eq!(w.dtype, DType::F16);
    assert_eq!(w.to_f32_vec(), [1.0, -2.0]);
}

#[test]
fn protocol_0_text_opcodes() {
    let mut p = Pickle(vec![0x80, 1]);
    p.op(b"(dp0\nS'a'\np1\nI01\nsV\\u00e9\np2\nL12345L\nsF1.5\n(lp3\nI7\naI-3\nas(I1\nI2\ntp4\ng4\ns");
    let v = torch_archive::load(&torch_zip("archive", &p.stop(), &[], false)).expect("loads");
    let d = v.as_dict().expect("dict");
    assert_eq!(d[0], (Value::Str("a".into()), Value::Bool(true)));
    assert_eq!(d[1], (Value::Str("é".into()), Value::Int(12345)));
    assert_eq!(
        d[2],
        (
            Value::Float(1.5),
            Value::List(vec![Value::Int(7), Value::Int(-3)])
        )
    );
    let t = Value::Tuple(vec![Value::Int(1), Value::Int(2)]);
    assert_eq!(d[3], (t.clone(), t));
}

#[test]
fn untyped_storage_with_rebuild_tensor_v3() {
    // torch's `_rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype)`
    // over an UntypedStorage whose numel counts bytes.
    let mut p = Pickle::new();
    p.global("torch._utils", "_rebuild_tensor_v3").mark();
    p.mark()
        .str("storage")
        .global("torch", "UntypedStorage")
        .str("0")
        .str("cpu")
        .int(8)
        .tuple()
        .op(b"Q");
    p.int(1)
        .ints(&[1])
        .ints(&[1])
        .op(b"\x89")
        .op(b"}")
        .global("torch", "float32")
        .tuple()
        .op(b"R");
    let v = torch_archive::load(&torch_zip(
        "archive",
        &p.stop(),
        &[("0", f32_bytes(&[1.0, 2.5]))],
        false,
    ))
    .expect("loads");
    let t = v.as_tensor().expect("tensor");
    assert_eq!((t.dtype, t.to_f32_vec()), (DType::F32, vec![2.5]));
}

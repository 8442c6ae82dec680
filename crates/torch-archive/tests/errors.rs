//! Every failure mode gives an error whose message names the problem; fixtures are mangled here
//! (truncated, opcode flipped, records dropped, header bytes replaced).

mod common;

use std::io::Read;

use common::{f32_bytes, read_fixture, torch_zip, Pickle};
use torch_archive::{load, sovits_header, Error};

const GPT: &str = "models/gpt/tiny-v2-e15.ckpt";

/// All entries of a zip, in order, as `(name, bytes)`.
fn entries(zip_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).expect("fixture is a zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).expect("entry");
            let mut d = Vec::new();
            f.read_to_end(&mut d).expect("read entry");
            (f.name().to_string(), d)
        })
        .collect()
}

/// Re-zips `entries` (valid CRCs), so a mangled pickle reaches the pickle machine.
fn rezip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (n, d) in entries {
        w.start_file(n.as_str(), opts).expect("zip");
        w.write_all(d).expect("zip");
    }
    w.finish().expect("zip").into_inner()
}

/// The GPT fixture with its data.pkl transformed by `f`.
fn gpt_with_pickle(f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut e = entries(&read_fixture(GPT));
    let pkl = e
        .iter_mut()
        .find(|(n, _)| n.ends_with("/data.pkl"))
        .expect("data.pkl");
    f(&mut pkl.1);
    rezip(&e)
}

fn err(bytes: &[u8]) -> (Error, String) {
    match load(bytes) {
        Ok(v) => panic!(
            "expected an error, loaded {:?}",
            v.as_dict().map(|d| d.len())
        ),
        Err(e) => {
            let m = e.to_string();
            (e, m)
        }
    }
}

#[test]
fn sovits_version_headers_load_and_are_reported() {
    let orig = read_fixture(GPT);
    let want = load(&orig).expect("fixture loads");
    assert_eq!(sovits_header(&orig), None);
    for tag in [b"03", b"04", b"05", b"06"] {
        let mut b = orig.clone();
        b[..2].copy_from_slice(tag);
        assert_eq!(sovits_header(&b), Some(*tag));
        assert_eq!(load(&b).expect("tagged file loads"), want);
    }
    // Other leading bytes without a zip local header behind them are not a tag.
    assert_eq!(sovits_header(b"05hello"), None);
}

#[test]
fn not_a_zip() {
    let (e, m) = err(b"hello, this is not a checkpoint");
    assert!(matches!(e, Error::NotZip(_)), "{m}");
    assert!(
        m.starts_with("not a torch.save archive: no zip signature (first bytes: 68 65 6c 6c"),
        "{m}"
    );
    let (e, m) = err(b"");
    assert!(matches!(e, Error::NotZip(_)), "{m}");
}

#[test]
fn legacy_pickle_file() {
    let (e, m) = err(b"\x80\x02\x8a\x0alZ\xfc\x9cF\xf9 j\xa8P\x19.");
    assert!(matches!(e, Error::LegacyFormat), "{m}");
    assert!(m.contains("legacy (pre-1.6, non-zip)"), "{m}");
}

#[test]
fn truncated_zip() {
    let b = read_fixture(GPT);
    let (e, m) = err(&b[..b.len() / 2]);
    assert!(matches!(e, Error::Zip(_)), "{m}");
    assert!(
        m.contains("corrupt or truncated zip archive") && m.contains("truncated download?"),
        "{m}"
    );
    // Cut inside the central directory at the end.
    let (e, m) = err(&b[..b.len() - 30]);
    assert!(matches!(e, Error::Zip(_)), "{m}");
}

#[test]
fn corrupted_record_fails_crc() {
    let mut b = read_fixture(GPT);
    // Flip a byte inside the first tensor record (stored, so its bytes appear verbatim).
    let rec = entries(&b)
        .into_iter()
        .find(|(n, _)| n.ends_with("/data/0"))
        .expect("record 0")
        .1;
    let at = b
        .windows(rec.len())
        .position(|w| w == rec.as_slice())
        .expect("record bytes in file");
    b[at + 10] ^= 0x55;
    let (e, m) = err(&b);
    assert!(matches!(e, Error::Zip(_)), "{m}");
    assert!(m.contains("data/0` fails its CRC check"), "{m}");
}

#[test]
fn zip_without_data_pkl() {
    let e: Vec<_> = entries(&read_fixture(GPT))
        .into_iter()
        .filter(|(n, _)| !n.ends_with("data.pkl"))
        .collect();
    let (err_, m) = err(&rezip(&e));
    assert!(matches!(err_, Error::NoDataPkl { .. }), "{m}");
    assert!(
        m.contains("no `*/data.pkl` entry") && m.contains("/byteorder"),
        "{m}"
    );
}

#[test]
fn missing_storage_record() {
    let e: Vec<_> = entries(&read_fixture(GPT))
        .into_iter()
        .filter(|(n, _)| !n.ends_with("/data/1"))
        .collect();
    let (err_, m) = err(&rezip(&e));
    assert!(matches!(err_, Error::MissingRecord { .. }), "{m}");
    assert!(
        m.contains("/data/1` in the archive") && m.contains("`weight/model.bert_proj.bias`"),
        "{m}"
    );
}

#[test]
fn unknown_opcode_names_byte_and_offset() {
    // Offset 2 is the GLOBAL `collections OrderedDict`; make it an undefined opcode.
    let b = gpt_with_pickle(|p| {
        assert_eq!(p[2], b'c');
        p[2] = 0xfe;
    });
    let (e, m) = err(&b);
    assert!(
        matches!(
            e,
            Error::UnknownOpcode {
                opcode: 0xfe,
                offset: 2
            }
        ),
        "{m}"
    );
    assert_eq!(m, "unknown pickle opcode 0xfe at offset 2 of data.pkl");
}

#[test]
fn truncated_pickle() {
    let (e, m) = err(&gpt_with_pickle(|p| p.truncate(p.len() / 2)));
    assert!(matches!(e, Error::Pickle { .. }), "{m}");
    assert!(m.contains("truncated") || m.contains("without STOP"), "{m}");
    let (_, m) = err(&gpt_with_pickle(|p| p.truncate(p.len() - 1)));
    assert!(m.contains("pickle ended without STOP"), "{m}");
}

#[test]
fn big_endian_archive() {
    let mut e = entries(&read_fixture(GPT));
    e.iter_mut()
        .find(|(n, _)| n.ends_with("/byteorder"))
        .expect("byteorder")
        .1 = b"big".to_vec();
    let (err_, m) = err(&rezip(&e));
    assert!(matches!(err_, Error::BigEndian(_)), "{m}");
}

fn one_tensor(
    class: &str,
    numel: i32,
    offset: i32,
    size: &[i32],
    stride: &[i32],
    record: Vec<u8>,
) -> Vec<u8> {
    let mut p = Pickle::new();
    p.op(b"}")
        .mark()
        .str("w")
        .tensor(class, "0", numel, offset, size, stride)
        .op(b"u");
    torch_zip("archive", &p.stop(), &[("0", record)], false)
}

#[test]
fn unsupported_storage_dtype() {
    let (e, m) = err(&one_tensor(
        "ComplexFloatStorage",
        1,
        0,
        &[1],
        &[1],
        vec![0; 8],
    ));
    assert!(matches!(e, Error::UnsupportedStorage(_)), "{m}");
    assert_eq!(m, "unsupported storage dtype `torch.ComplexFloatStorage`");
}

#[test]
fn tensor_out_of_storage_bounds() {
    let (e, m) = err(&one_tensor(
        "FloatStorage",
        4,
        2,
        &[2, 2],
        &[2, 1],
        f32_bytes(&[0.; 4]),
    ));
    assert!(matches!(e, Error::TensorBounds { .. }), "{m}");
    assert!(
        m.starts_with("tensor `w` is out of its storage bounds") && m.contains("reach element 5"),
        "{m}"
    );
    // A record shorter than the storage size its persistent id declares.
    let (_, m) = err(&one_tensor(
        "FloatStorage",
        8,
        0,
        &[2],
        &[1],
        f32_bytes(&[0.; 4]),
    ));
    assert!(
        m.contains("has 16 bytes but its header declares 8 elements"),
        "{m}"
    );
}

#[test]
fn negative_sizes_and_bad_arguments() {
    let (_, m) = err(&one_tensor(
        "FloatStorage",
        4,
        0,
        &[-1],
        &[1],
        f32_bytes(&[0.; 4]),
    ));
    assert!(m.contains("tensor size: negative value -1"), "{m}");
    let mut p = Pickle::new();
    p.global("torch._utils", "_rebuild_tensor_v2")
        .mark()
        .int(1)
        .int(0)
        .tuple()
        .op(b"R");
    let (_, m) = err(&torch_zip("archive", &p.stop(), &[], false));
    assert!(m.contains("needs (storage, offset, size, stride"), "{m}");
}

#[test]
fn nesting_and_cycles_are_bounded() {
    let mut p = Pickle::new();
    p.op(b")");
    p.op(&[0x85; 100_000]); // TUPLE1 wrapping 100k times
    let (e, m) = err(&torch_zip("archive", &p.stop(), &[], false));
    assert!(matches!(e, Error::TooDeep(_)), "{m}");
    // A list that contains itself.
    let mut p = Pickle::new();
    p.op(b"]q\x00h\x00a");
    let (e, m) = err(&torch_zip("archive", &p.stop(), &[], false));
    assert!(matches!(e, Error::TooDeep(_)), "{m}");
}

#[test]
fn shared_references_cannot_explode_the_output() {
    // A 4 MiB tensor referenced 2^10 times through doubling lists.
    let mut p = Pickle::new();
    p.tensor("FloatStorage", "0", 1 << 20, 0, &[1 << 20], &[1]);
    for _ in 0..10 {
        p.op(b"2\x86"); // DUP, TUPLE2
    }
    let (e, m) = err(&torch_zip(
        "archive",
        &p.stop(),
        &[("0", vec![0; 4 << 20])],
        false,
    ));
    assert!(matches!(e, Error::TooLarge { .. }), "{m}");
    assert!(
        m.starts_with("archive expands beyond the allowed output size"),
        "{m}"
    );
}

#[test]
fn stack_misuse() {
    for (bytes, want) in [
        (&b"\x80\x02."[..], "stack underflow"),
        (b"\x80\x02(u.", "stack underflow"),
        (b"\x80\x02h\x05.", "memo key 5 not set"),
        (
            b"\x80\x02K\x01K\x02a.",
            "APPEND to something that is not a list",
        ),
        (b"\x80\x09.", "pickle protocol 9 is newer than 5"),
        (
            b"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.",
            "does not fit in 64 bits",
        ),
    ] {
        let (e, m) = err(&torch_zip("archive", bytes, &[], false));
        assert!(matches!(e, Error::Pickle { .. }), "{m}");
        assert!(m.contains(want), "{m} should mention {want}");
    }
}

#[test]
fn memo_reference_bomb_is_bounded() {
    // A 100k-item list passed again and again (via the memo) as arguments to a recorded class.
    let mut p = Pickle::new();
    p.op(b"]q\x00(");
    for _ in 0..100_000 {
        p.op(b"K\x01");
    }
    p.op(b"e0").global("foo", "bar").op(b"q\x01");
    for _ in 0..50_000 {
        p.op(b"h\x01h\x00R0");
    }
    let (e, m) = err(&torch_zip("archive", &p.stop(), &[], false));
    assert!(
        matches!(
            e,
            Error::Pickle {
                opcode: "REDUCE",
                ..
            }
        ),
        "{m}"
    );
    assert!(m.contains("copies more data than its size allows"), "{m}");
}

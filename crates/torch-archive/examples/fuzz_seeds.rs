//! Writes small synthetic seed inputs for the fuzz targets (see scripts/fuzz.sh):
//! `DIR/load/*.zip` (whole archives) and `DIR/pickle/*.pkl` (data.pkl streams whose storages
//! `0`..`7` fit the 4 KiB records the `pickle` target provides).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{torch_zip, Pickle};

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut p = Pickle::new();
    p.global("collections", "OrderedDict").op(b")R").mark();
    p.str("a")
        .tensor("FloatStorage", "0", 6, 0, &[2, 3], &[3, 1]);
    p.str("a_t")
        .tensor("FloatStorage", "0", 6, 0, &[3, 2], &[1, 3]);
    p.str("tail")
        .tensor("HalfStorage", "1", 8, 3, &[2, 2], &[0, 1]);
    p.str("long").tensor("LongStorage", "2", 4, 1, &[3], &[1]);
    p.str("b")
        .tensor("BoolStorage", "3", 16, 0, &[4, 2, 2], &[4, 1, 2]);
    p.str("p")
        .global("torch._utils", "_rebuild_parameter")
        .mark();
    p.tensor("BFloat16Storage", "4", 4, 0, &[4], &[1])
        .op(b"\x88")
        .global("collections", "OrderedDict")
        .op(b")R")
        .tuple()
        .op(b"R");
    out.push(("tensors", p.op(b"u").stop()));

    let mut p = Pickle::new();
    p.op(b"}").mark().str("weight").op(b"}").mark();
    p.str("w")
        .tensor("HalfStorage", "5", 64, 0, &[8, 8], &[8, 1])
        .op(b"u");
    p.str("config")
        .global("utils", "HParams")
        .op(b")\x81")
        .op(b"}")
        .mark();
    p.str("model")
        .global("utils", "HParams")
        .op(b")\x81")
        .op(b"}")
        .mark()
        .str("hidden_channels")
        .int(192)
        .str("betas")
        .op(b"]")
        .mark();
    p.float(0.8).float(0.99).op(b"e").op(b"ub").op(b"ub");
    p.str("info")
        .str("8epoch_96iteration")
        .str("x")
        .global("os", "system")
        .mark()
        .str("echo")
        .tuple()
        .op(b"R");
    out.push(("sovits_like", p.op(b"u").stop()));

    let mut p = Pickle(vec![0x80, 4]);
    p.op(b"\x95")
        .op(&0u64.to_le_bytes())
        .op(b"}\x94\x8c\x05inner\x94}\x94sh\x02\x8c\x01x\x8a\x02\x00\xffs0");
    p.op(b"\x8c\x03set\x8f(K\x01K\x02\x90s\x8c\x03obj\x8c\x05utils\x8c\x07HParams\x93)}\x92s");
    p.op(b"\x8c\x03raw\x43\x02abs\x8c\x01s\x8d\x00\x00\x00\x00\x00\x00\x00\x00\x8e\x00\x00\x00\x00\x00\x00\x00\x00");
    p.op(b"\x96\x00\x00\x00\x00\x00\x00\x00\x00\x87s");
    out.push(("protocol4", p.stop()));

    let mut p = Pickle(vec![0x80, 1]);
    p.op(b"(dp0\nS'a'\np1\nI01\nsV\\u00e9\np2\nL12345L\nsF1.5\n(lp3\nI7\naI-3\nas(I1\nI2\ntp4\ng4\ns");
    p.op(b"ccollections\nOrderedDict\n)Rp5\ng5\ns");
    out.push(("protocol0", p.stop()));
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: fuzz_seeds DIR")?);
    std::fs::create_dir_all(dir.join("load"))?;
    std::fs::create_dir_all(dir.join("pickle"))?;
    let records: Vec<(String, Vec<u8>)> =
        (0..8).map(|k| (k.to_string(), vec![0x3c; 4096])).collect();
    let recs: Vec<(&str, Vec<u8>)> = records
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    for (name, pkl) in seeds() {
        // Each seed must load, or it would teach the fuzzer nothing past the first error.
        let zip = torch_zip("archive", &pkl, &recs, false);
        torch_archive::load(&zip).map_err(|e| format!("seed {name}: {e}"))?;
        std::fs::write(dir.join("pickle").join(format!("{name}.pkl")), &pkl)?;
        std::fs::write(dir.join("load").join(format!("{name}.zip")), &zip)?;
    }
    println!("wrote {} seeds to {}", seeds().len(), dir.display());
    Ok(())
}

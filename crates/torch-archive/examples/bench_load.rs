//! Times `load` on a synthetic fp16 checkpoint the size of the real GPT (~155 MB, 200 tensors):
//! `cargo run -p torch-archive --release --example bench_load [MB]`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{torch_zip, Pickle};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mb: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(155);
    let n = 200;
    let per = (mb << 20) / n / 2 / 1024 * 1024; // f16 elements per tensor, multiple of 1024
    let mut p = Pickle::new();
    p.op(b"}").mark();
    let mut records = Vec::new();
    for i in 0..n {
        let key = i.to_string();
        p.str(&format!("model.t{i}")).tensor(
            "HalfStorage",
            &key,
            per as i32,
            0,
            &[(per / 1024) as i32, 1024],
            &[1024, 1],
        );
        records.push((
            key,
            (0..per * 2)
                .map(|j| (j * 31 + i) as u8)
                .collect::<Vec<u8>>(),
        ));
    }
    let pkl = p.op(b"u").stop();
    let recs: Vec<(&str, Vec<u8>)> = records
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let zip = torch_zip("archive", &pkl, &recs, false);
    let t = std::time::Instant::now();
    let v = torch_archive::load(&zip)?;
    let dt = t.elapsed();
    println!(
        "{} MB archive, {} tensors: load {:?}",
        zip.len() >> 20,
        v.tensors().count(),
        dt
    );
    Ok(())
}

//! A libFuzzer-free mutation loop on the stable toolchain (the cargo-fuzz targets in `fuzz/` are
//! the thorough version): mutates seed pickles with a seeded PRNG, wraps each in a valid zip and
//! loads it; any panic aborts with the seed and iteration so it can be replayed.
//! `cargo run -p torch-archive --release --example fuzz_loop -- ITERATIONS [SEED]`

#[path = "../tests/common/mod.rs"]
mod common;

use common::{read_fixture, torch_zip, Pickle};

/// splitmix64: tiny, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, mut d: Vec<u8>) -> Vec<u8> {
    const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, b'(', b'.', b'R'];
    for _ in 0..1 + rng.below(4) {
        let n = d.len();
        match rng.below(7) {
            0 if n > 0 => d[rng.below(n)] ^= 1 << rng.below(8),
            1 if n > 0 => d[rng.below(n)] = INTERESTING[rng.below(8)],
            2 if n > 0 => d[rng.below(n)] = rng.next() as u8,
            3 => d.insert(rng.below(n + 1), rng.next() as u8),
            4 if n > 0 => {
                d.remove(rng.below(n));
            }
            5 if n > 0 => d.truncate(rng.below(n)),
            6 if n > 1 => {
                // Copy a chunk elsewhere (duplicates opcodes and their arguments).
                let a = rng.below(n);
                let len = 1 + rng.below((n - a).min(64));
                let chunk = d[a..a + len].to_vec();
                let at = rng.below(n + 1);
                d.splice(at..at, chunk);
            }
            _ => {}
        }
    }
    d
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let seed: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1);
    // Seed pickles: the GPT fixture's data.pkl and a small synthetic state dict.
    let gpt = read_fixture("models/gpt/tiny-v2-e15.ckpt");
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(&gpt[..]))?;
    let name = z
        .file_names()
        .find(|n| n.ends_with("data.pkl"))
        .ok_or("no data.pkl")?
        .to_string();
    let mut pkl = Vec::new();
    std::io::Read::read_to_end(&mut z.by_name(&name)?, &mut pkl)?;
    let mut p = Pickle::new();
    p.op(b"}")
        .mark()
        .str("a")
        .tensor("FloatStorage", "0", 6, 0, &[3, 2], &[1, 3]);
    p.str("h")
        .global("utils", "HParams")
        .op(b")\x81")
        .op(b"}")
        .mark()
        .str("k")
        .int(1)
        .op(b"ub");
    let seeds = [pkl, p.op(b"u").stop()];
    let records: Vec<(String, Vec<u8>)> =
        (0..8).map(|k| (k.to_string(), vec![0x3c; 4096])).collect();
    let recs: Vec<(&str, Vec<u8>)> = records
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();

    let mut rng = Rng(seed);
    let (mut ok, mut errs) = (0u64, 0u64);
    let t = std::time::Instant::now();
    for i in 0..iters {
        let which = rng.below(seeds.len());
        let input = mutate(&mut rng, seeds[which].clone());
        let zip = torch_zip("archive", &input, &recs, false);
        let r = std::panic::catch_unwind(|| torch_archive::load(&zip).is_ok());
        match r {
            Ok(true) => ok += 1,
            Ok(false) => errs += 1,
            Err(_) => {
                std::fs::write("fuzz_loop_crash.pkl", &input)?;
                return Err(format!(
                    "panic at iteration {i} (seed {seed}); input in fuzz_loop_crash.pkl"
                )
                .into());
            }
        }
    }
    println!(
        "{iters} iterations (seed {seed}) in {:?}: {ok} loaded, {errs} errors, 0 panics",
        t.elapsed()
    );
    Ok(())
}

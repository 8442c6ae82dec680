//! Where the fused decode step's device time goes, kernel by kernel: one step of
//! [`FusedKernels::step_graph`] and one sampler launch are captured (spec and real inputs,
//! [`capture_launches`]), and each distinct launch is replayed alone `reps` times on those
//! inputs. A kernel's time per launch is the wall time of its replays divided by their number —
//! device time when the device is the bound, host encoding when that is (for batch 1 it is the
//! host: on an H100 the replays of the smallest kernels took ~12 µs where Nsight Compute timed
//! 5–10 µs on the device, docs/benchmarks.md) — and its time per step
//! is that times the launches of its kind in one step. Their sum against the step's pipelined
//! time (`StepBreakdown::layers_pipelined_ms`) says how much of a step is the kernels themselves.
use mlx_rs::transforms::eval;
use mlx_rs::{Array, Dtype};
use serde::Serialize;

use crate::models::cuda_kernel::{capture_launches, CudaKernel, LaunchSpec, TemplateArg};
use crate::models::gpt::cache::KvCache;
use crate::models::gpt::fused::FusedKernels;
use crate::models::gpt::sampling::{BatchParams, CompiledSampler, SamplingParams};
use crate::models::gpt::Text2SemanticDecoder;
use crate::models::{Error, Result};

/// One kind of launch of a step.
#[derive(Debug, Clone, Serialize)]
pub struct KernelTime {
    pub name: String,
    /// Its template arguments, `R=1 K=512 N=1536 …`.
    pub template: String,
    pub launches_per_step: usize,
    pub us_per_launch: f64,
    pub us_per_step: f64,
}

/// Launches replayed per evaluation (bounds the memory of outputs held at once: an attention
/// launch returns copies of both cache buffers).
const CHUNK: usize = 25;

/// The kernels of one fused step for `rows` rows whose caches hold `cache_len` positions, and of
/// the sampler kernel, each replayed `reps` times (slowest per step first).
pub fn kernel_times(model: &Text2SemanticDecoder, rows: usize, cache_len: usize, reps: usize) -> Result<Vec<KernelTime>> {
    let (rows, offset) = (rows as i32, cache_len as i32);
    let capacity = (offset / KvCache::STEP + 1) * KvCache::STEP;
    let inputs = super::selftest::random_step_inputs(model, rows, capacity, offset, 41)?;
    let kernels = FusedKernels::new(model)?;
    let (outputs, mut launches) = capture_launches(|| kernels.step_graph(model, &inputs));
    let outputs = outputs?;
    eval(outputs.iter())?;
    let logits = outputs.first().ok_or_else(|| Error::Invalid("fused step returned nothing".into()))?;
    let (sampled, sampler) = capture_launches(|| sample(model, logits));
    sampled?;
    launches.extend(sampler);

    // One kind per kernel and template arguments, in launch order: (its text, first launch, count).
    let mut kinds: Vec<(String, LaunchSpec, Vec<Array>, usize)> = Vec::new();
    for (spec, args) in launches {
        let template = template_text(&spec);
        match kinds.iter_mut().find(|(t, s, _, _)| s.name == spec.name && *t == template) {
            Some((_, _, _, n)) => *n += 1,
            None => kinds.push((template, spec, args, 1)),
        }
    }
    let mut times = Vec::with_capacity(kinds.len());
    for (template, spec, args, per_step) in kinds {
        eval(args.iter())?;
        let args: Vec<&Array> = args.iter().collect();
        let kernel = CudaKernel::from_spec(&spec)?;
        eval(kernel.apply_spec(&spec, &args)?.iter())?; // JIT and warm-up
        let start = std::time::Instant::now();
        let mut left = reps.max(1);
        while left > 0 {
            let n = left.min(CHUNK);
            let mut outs = Vec::with_capacity(n * spec.outputs.len());
            for _ in 0..n {
                outs.extend(kernel.apply_spec(&spec, &args)?);
            }
            eval(outs.iter())?;
            left -= n;
        }
        let us_per_launch = start.elapsed().as_secs_f64() * 1e6 / reps.max(1) as f64;
        times.push(KernelTime {
            template,
            name: spec.name,
            launches_per_step: per_step,
            us_per_launch,
            us_per_step: us_per_launch * per_step as f64,
        });
    }
    times.sort_by(|a, b| b.us_per_step.total_cmp(&a.us_per_step));
    Ok(times)
}

fn template_text(spec: &LaunchSpec) -> String {
    spec.template
        .iter()
        .filter_map(|(k, v)| match v {
            TemplateArg::Int(i) => Some(format!("{k}={i}")),
            TemplateArg::Bool(b) => Some(format!("{k}={b}")),
            TemplateArg::Dtype(_) => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One launch of the sampler kernel on `logits`, api_v2's defaults.
fn sample(model: &Text2SemanticDecoder, logits: &Array) -> Result<()> {
    let (rows, v) = (logits.shape()[0], model.config.vocab_size);
    let mut sampler = CompiledSampler::with_kernel(model.config.eos, v, true)?;
    let params = BatchParams::new(&vec![SamplingParams::default(); rows as usize], v);
    let presence = mlx_rs::ops::zeros_dtype(&[rows, v], Dtype::Bool)?;
    let blocked = mlx_rs::ops::zeros_dtype(&[rows], Dtype::Bool)?;
    let q = Array::ones::<f32>(&[rows, v])?;
    let s = sampler.sample(logits, &presence, &blocked, &params, &q)?;
    eval([&s.tokens])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::bench::cuda_emulator::CpuEmulator;
    use crate::models::cuda_kernel::{with_emulator, KernelEmulator};
    use crate::models::gpt::fused::with_layer_kernel_here;

    #[test]
    #[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), ignore = "the kernel emulator runs on x86-64 Linux only")]
    fn every_launch_of_a_step_is_timed_once_per_kind() {
        let cfg = crate::bench::selftest::small_config();
        let model = Text2SemanticDecoder::random(cfg.clone(), Dtype::Float32, 5).unwrap();
        let emulator: Rc<dyn KernelEmulator> = Rc::new(CpuEmulator::in_temp_dir().unwrap());
        let five = || kernel_times(&model, 1, 40, 2);
        let times = with_emulator(emulator.clone(), || with_layer_kernel_here(false, five)).unwrap();
        // 5 launches per layer, the head, and the sampler.
        let launches: usize = times.iter().map(|t| t.launches_per_step).sum();
        assert_eq!(launches, 5 * cfg.n_layer as usize + 2, "{times:#?}");
        let names: std::collections::BTreeSet<&str> = times.iter().map(|t| t.name.as_str()).collect();
        // The default forms at batch 1: vector products and attention by warps.
        let gemv = |n: &str| if crate::models::gpt::gemv::vector_columns() { format!("{n}_v") } else { n.to_string() };
        let attention = if crate::models::gpt::fused::warp_attention_max_rows() >= 1 { "gsv_decode_attention_kv_w" } else { "gsv_decode_attention_kv" };
        let want = [gemv("gsv_embed_gemv_bias"), attention.into(), gemv("gsv_gemv"), gemv("gsv_norm_gemv_bias"), gemv("gsv_norm_gemv"), "gsv_sample".into()];
        for name in &want {
            assert!(names.contains(name.as_str()), "{name} missing: {times:#?}");
        }
        assert!(times.iter().all(|t| t.us_per_launch > 0.0 && t.template.contains("R=") != (t.name == attention || t.name == "gsv_sample")), "{times:#?}");
        assert!(times.windows(2).all(|w| w[0].us_per_step >= w[1].us_per_step));

        // One kernel per layer (the first one gathers the embedding), the head, the sampler.
        let times = with_emulator(emulator, || with_layer_kernel_here(true, || kernel_times(&model, 1, 40, 2))).unwrap();
        let per_step = |name: &str| times.iter().find(|t| t.name == name).map_or(0, |t| t.launches_per_step);
        assert_eq!(per_step("gsv_decode_layer_embed"), 1, "{times:#?}");
        assert_eq!(per_step("gsv_decode_layer"), cfg.n_layer as usize - 1, "{times:#?}");
        assert_eq!(times.iter().map(|t| t.launches_per_step).sum::<usize>(), cfg.n_layer as usize + 2, "{times:#?}");
    }
}

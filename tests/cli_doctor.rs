//! `gsv-server doctor` on the CPU: it computes, and it reports the MLX settings the program
//! chooses (a user's own value wins).
use std::process::Command;

fn doctor(envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gsv-server"));
    cmd.args(["doctor", "--device", "cpu"]).env_remove("MLX_ENABLE_CACHE_THRASHING_CHECK").env_remove("MLX_CUDA_CONV_CACHE_SIZE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run gsv-server doctor");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "doctor failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn doctor_turns_off_mlx_cache_miss_failure_unless_the_user_chose() {
    let text = doctor(&[]);
    assert!(text.contains("2x2 matmul ok"), "{text}");
    // On the CPU no custom kernel runs, and doctor says so (on CUDA it prints the layer
    // kernel's grid, checked on the device).
    assert!(text.contains("CUDA kernels     off"), "{text}");
    assert!(text.contains("MLX_ENABLE_CACHE_THRASHING_CHECK=0"), "{text}");
    assert!(text.contains("MLX_CUDA_CONV_CACHE_SIZE=4096"), "{text}");

    let text = doctor(&[("MLX_ENABLE_CACHE_THRASHING_CHECK", "1"), ("MLX_CUDA_CONV_CACHE_SIZE", "64")]);
    assert!(text.contains("MLX_ENABLE_CACHE_THRASHING_CHECK=1"), "{text}");
    assert!(text.contains("MLX_CUDA_CONV_CACHE_SIZE=64"), "{text}");
}

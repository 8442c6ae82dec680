//! mlx-sys bindings for Linux (gsv-server's overlay; see build.rs).
#![allow(non_upper_case_globals)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// mlx-rs seeds `RandomState::new()` from macOS's `mach_approximate_time`; Linux has no such
/// symbol, so provide one with the same meaning (a monotonic tick count).
#[no_mangle]
pub extern "C" fn mach_approximate_time() -> u64 {
    let mut ts = std::mem::MaybeUninit::<[i64; 2]>::uninit();
    extern "C" {
        fn clock_gettime(clk: i32, ts: *mut [i64; 2]) -> i32;
    }
    // CLOCK_MONOTONIC = 1 on Linux.
    let ok = unsafe { clock_gettime(1, ts.as_mut_ptr()) } == 0;
    if !ok {
        return 0;
    }
    let [s, ns] = unsafe { ts.assume_init() };
    (s as u64).wrapping_mul(1_000_000_000).wrapping_add(ns as u64)
}

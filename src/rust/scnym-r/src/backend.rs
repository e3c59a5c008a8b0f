//! What the libtorch backend is and how fast its matrix multiply runs inside this process.

use crate::boundary::{guard, RError};
use extendr_api::prelude::*;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

#[extendr]
fn rs_backend_info() -> Robj {
    guard(|| {
        let versions = scnym_core::backend_versions();
        let version = |name: &str| versions.get(name).cloned().unwrap_or_default();
        Ok(list!(
            libtorch_compiled = version("libtorch"),
            scnym_core = version("scnym-core"),
            tch = version("tch"),
            threads = tch::get_num_threads(),
            cuda_available = tch::Cuda::is_available(),
            cuda_devices = tch::Cuda::device_count() as i32,
            mkl = tch::utils::has_mkl(),
            openmp = tch::utils::has_openmp(),
            eval_batch = scnym_core::train::EVAL_BATCH as i32
        )
        .into())
    })
}

/// Sets libtorch's intra-op thread count (a process-wide setting).
#[extendr]
fn rs_set_threads(threads: i32) -> Robj {
    guard(|| {
        if threads < 1 {
            return Err(RError::new(
                "invalid_argument",
                format!("threads must be at least 1, not {threads}"),
            ));
        }
        tch::set_num_threads(threads);
        Ok(r!(tch::get_num_threads()))
    })
}

/// Median GFLOP/s of an n x n float32 matrix multiply over `reps` repetitions (after one warm-up).
#[extendr]
fn rs_gemm_gflops(n: i32, reps: i32) -> Robj {
    guard(|| {
        if n < 1 || reps < 1 {
            return Err(RError::new(
                "invalid_argument",
                "n and reps must be positive",
            ));
        }
        let n = n as i64;
        let a = Tensor::f_randn([n, n], (Kind::Float, Device::Cpu))?;
        let b = Tensor::f_randn([n, n], (Kind::Float, Device::Cpu))?;
        let _ = a.f_matmul(&b)?;
        let mut rates = Vec::with_capacity(reps as usize);
        for _ in 0..reps {
            let start = Instant::now();
            let _ = a.f_matmul(&b)?;
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            rates.push(2.0 * (n as f64).powi(3) / secs / 1e9);
        }
        rates.sort_by(f64::total_cmp);
        Ok(r!(rates[rates.len() / 2]))
    })
}

extendr_module! {
    mod backend;
    fn rs_backend_info;
    fn rs_set_threads;
    fn rs_gemm_gflops;
}

//! The engine's own parallelism for training: matrix products split into row blocks, each computed
//! by single-threaded libtorch on its own thread, joined with blocking waits.
//!
//! Prediction and integrated gradients likewise split their cells over threads (`map_with`).
//!
//! Why not libtorch's OpenMP threads: a training step runs dozens of short parallel regions, and
//! libgomp's workers spin between them. On a machine whose cores are busy with other processes a
//! spinning worker competes with the thread that has the work, and two threads measured several
//! times slower than one (bench/engine, `*_t2.json`). Threads that block instead degrade to the
//! speed of one thread when no second core is free.

use crate::error::{Error, Result};
use std::ops::Range;
use tch::Tensor;

/// Smallest number of output rows worth a second thread.
const MIN_ROWS_PER_THREAD: i64 = 32;

/// Row blocks `[start, len)` of `rows` split into at most `threads` parts.
fn blocks(rows: i64, threads: usize) -> Vec<(i64, i64)> {
    let parts = (threads.max(1) as i64).min((rows / MIN_ROWS_PER_THREAD).max(1));
    let base = rows / parts;
    let extra = rows % parts;
    let mut out = Vec::with_capacity(parts as usize);
    let mut start = 0;
    for p in 0..parts {
        let len = base + (p < extra) as i64;
        out.push((start, len));
        start += len;
    }
    out
}

/// Runs `work(i)` for every block on its own thread (block 0 on the calling thread), each with
/// libtorch limited to one thread, and returns the first error.
fn run_blocks<F>(n: usize, work: F) -> Result<()>
where
    F: Fn(usize) -> Result<()> + Sync,
{
    if n <= 1 {
        return work(0);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..n)
            .map(|i| {
                let work = &work;
                scope.spawn(move || {
                    // grad mode and the thread count are per thread in libtorch
                    let _no_grad = tch::no_grad_guard();
                    tch::set_num_threads(1);
                    work(i)
                })
            })
            .collect();
        let mut result = work(0);
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(Error::internal("a worker thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// `a @ b` with the rows of `a` split over `threads` threads.
pub(crate) fn mm(a: &Tensor, b: &Tensor, threads: usize) -> Result<Tensor> {
    let rows = a.size().first().copied().unwrap_or(0);
    let parts = blocks(rows, threads);
    if parts.len() <= 1 {
        return Ok(a.f_mm(b)?);
    }
    let cols = b.size().get(1).copied().unwrap_or(0);
    let out = Tensor::f_empty([rows, cols], (a.f_kind()?, a.device()))?;
    let mut handles = Vec::with_capacity(parts.len());
    for &(s, len) in &parts {
        handles.push((
            a.f_narrow(0, s, len)?,
            b.shallow_clone(),
            out.f_narrow(0, s, len)?,
        ));
    }
    // `Tensor` is `Send` but not `Sync`: each thread takes its own shallow handles (libtorch allows
    // concurrent reads, and each block writes a disjoint row block of the output)
    let handles = std::sync::Mutex::new(handles.into_iter().map(Some).collect::<Vec<_>>());
    run_blocks(parts.len(), |i| {
        let job = handles
            .lock()
            .map_err(|_| Error::internal("poisoned lock"))?
            .get_mut(i)
            .and_then(Option::take);
        let (a_i, b_i, out_i) = job.ok_or_else(|| Error::internal("missing block"))?;
        let _ = a_i.f_mm_out(&out_i, &b_i)?;
        Ok(())
    })?;
    Ok(out)
}

/// `a^T @ b` with the columns of `a` (rows of the result) split over `threads` threads.
pub(crate) fn mm_tn(a: &Tensor, b: &Tensor, threads: usize) -> Result<Tensor> {
    let a_t = a.f_tr()?;
    let rows = a_t.size().first().copied().unwrap_or(0);
    let parts = blocks(rows, threads);
    if parts.len() <= 1 {
        return Ok(a_t.f_mm(b)?);
    }
    mm(&a_t, b, threads)
}

/// Cells read or scanned on each thread at least.
const MIN_CELLS_PER_THREAD: usize = 4096;

/// The cells `0..n` split into one contiguous range per thread of the engine (libtorch's thread
/// count), of at least `MIN_CELLS_PER_THREAD` cells each: the parts of a pass over an input's
/// cells for `map_with`.
pub(crate) fn thread_ranges(n: usize) -> Vec<Range<usize>> {
    let threads = (tch::get_num_threads().max(1) as usize)
        .min(n / MIN_CELLS_PER_THREAD)
        .max(1);
    let per = n.div_ceil(threads).max(1);
    (0..n).step_by(per).map(|s| s..(s + per).min(n)).collect()
}

/// Runs `work(i, context_i)` for every context on its own thread (the first on the calling
/// thread), each with libtorch limited to one thread and gradient tracking as `grad` says, and
/// returns the results in order (or the first error).
pub(crate) fn map_with<C, T, F>(contexts: Vec<C>, grad: bool, work: F) -> Result<Vec<T>>
where
    C: Send,
    T: Send,
    F: Fn(usize, C) -> Result<T> + Sync,
{
    let _single = SingleThreadedTorch::enter();
    let _grad = if grad {
        None
    } else {
        Some(tch::no_grad_guard())
    };
    let mut contexts = contexts.into_iter();
    let Some(first) = contexts.next() else {
        return Ok(Vec::new());
    };
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = contexts
            .enumerate()
            .map(|(i, ctx)| {
                scope.spawn(move || {
                    let _grad = if grad {
                        None
                    } else {
                        Some(tch::no_grad_guard())
                    };
                    tch::set_num_threads(1);
                    work(i + 1, ctx)
                })
            })
            .collect();
        let mut results = vec![work(0, first)];
        for h in handles {
            results.push(
                h.join()
                    .unwrap_or_else(|_| Err(Error::internal("a worker thread panicked"))),
            );
        }
        results.into_iter().collect()
    })
}

/// Sets libtorch to one thread and restores the previous count when dropped.
pub(crate) struct SingleThreadedTorch(i32);

impl SingleThreadedTorch {
    pub(crate) fn enter() -> Self {
        let previous = tch::get_num_threads();
        if previous != 1 {
            tch::set_num_threads(1);
        }
        SingleThreadedTorch(previous)
    }
}

impl Drop for SingleThreadedTorch {
    fn drop(&mut self) {
        if self.0 != 1 {
            tch::set_num_threads(self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn split_products_equal_whole_ones() {
        let a = Tensor::f_randn([300, 40], (Kind::Float, Device::Cpu)).unwrap();
        let b = Tensor::f_randn([40, 17], (Kind::Float, Device::Cpu)).unwrap();
        let c = Tensor::f_randn([300, 17], (Kind::Float, Device::Cpu)).unwrap();
        for threads in [1, 2, 3] {
            let d = mm(&a, &b, threads)
                .unwrap()
                .f_sub(&a.f_mm(&b).unwrap())
                .unwrap();
            assert!(
                d.f_abs()
                    .unwrap()
                    .f_max()
                    .unwrap()
                    .f_double_value(&[])
                    .unwrap()
                    < 1e-4
            );
            let e = mm_tn(&a, &c, threads)
                .unwrap()
                .f_sub(&a.f_tr().unwrap().f_mm(&c).unwrap())
                .unwrap();
            assert!(
                e.f_abs()
                    .unwrap()
                    .f_max()
                    .unwrap()
                    .f_double_value(&[])
                    .unwrap()
                    < 1e-3
            );
        }
        assert_eq!(blocks(100, 2), vec![(0, 50), (50, 50)]);
        assert_eq!(blocks(40, 4), vec![(0, 40)]);
    }
}

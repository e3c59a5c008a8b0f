//! Direct access to the f32 data of CPU tensors, so that Rust loops (optimiser, sparse products,
//! masks, densified batches) read and write tensor memory in place instead of copying through
//! intermediate vectors (`Tensor::from_slice` zero-fills and then copies).
//!
//! The only `unsafe` of the crate is here. Soundness rests on the checks (defined, CPU, f32,
//! contiguous, hence `numel` f32 values at `data_ptr`) and on the borrow: callers hold the tensor
//! for the duration of the closure and run no libtorch operation on it meanwhile (the engine is
//! single-threaded on the Rust side; libtorch does not touch a tensor between operations).

use crate::error::{Error, Result};
use tch::{Device, Kind, Tensor};

fn checked_len(t: &Tensor) -> Result<usize> {
    if !t.defined() {
        return Err(Error::internal("undefined tensor"));
    }
    if t.device() != Device::Cpu {
        return Err(Error::internal("tensor is not on the CPU"));
    }
    if t.f_kind()? != Kind::Float {
        return Err(Error::internal("tensor is not float32"));
    }
    if !t.is_contiguous() {
        return Err(Error::internal("tensor is not contiguous"));
    }
    Ok(t.numel())
}

/// True when [`read_f32`]/[`write_f32`] can be used on `t`.
pub(crate) fn is_plain_cpu_f32(t: &Tensor) -> bool {
    checked_len(t).is_ok()
}

/// Runs `f` on the values of a contiguous CPU f32 tensor.
pub(crate) fn read_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let n = checked_len(t)?;
    if n == 0 {
        return Ok(f(&[]));
    }
    let ptr = t.data_ptr() as *const f32;
    // SAFETY: checked_len established n contiguous, initialised f32 values at ptr (libtorch
    // allocations are aligned); `t` is borrowed for the closure and nothing writes to it.
    let slice = unsafe { std::slice::from_raw_parts(ptr, n) };
    Ok(f(slice))
}

/// Runs `f` on the values of a contiguous CPU f32 tensor, which it may change in place.
pub(crate) fn write_f32<R>(t: &mut Tensor, f: impl FnOnce(&mut [f32]) -> R) -> Result<R> {
    let n = checked_len(t)?;
    if n == 0 {
        return Ok(f(&mut []));
    }
    let ptr = t.data_ptr() as *mut f32;
    // SAFETY: as in read_f32; `t` is borrowed mutably for the closure, and callers pass tensors
    // whose storage no other live slice or running libtorch operation uses.
    let slice = unsafe { std::slice::from_raw_parts_mut(ptr, n) };
    Ok(f(slice))
}

/// A new zero-filled CPU f32 tensor of `shape`, filled in place by `f`.
pub(crate) fn new_f32(shape: &[i64], f: impl FnOnce(&mut [f32])) -> Result<Tensor> {
    let mut t = Tensor::f_zeros(shape, (Kind::Float, Device::Cpu))?;
    write_f32(&mut t, f)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_in_place() {
        let mut t = new_f32(&[2, 3], |v| {
            for (i, x) in v.iter_mut().enumerate() {
                *x = i as f32;
            }
        })
        .unwrap();
        let sum = read_f32(&t, |v| v.iter().sum::<f32>()).unwrap();
        assert_eq!(sum, 15.0);
        write_f32(&mut t, |v| v[0] = 7.0).unwrap();
        assert_eq!(t.f_double_value(&[0, 0]).unwrap(), 7.0);
        let tr = t.f_tr().unwrap();
        assert!(read_f32(&tr, |_| ()).is_err());
        assert!(!is_plain_cpu_f32(
            &Tensor::f_zeros([2], (Kind::Int64, Device::Cpu)).unwrap()
        ));
    }
}

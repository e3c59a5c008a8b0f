//! Vectorisable f32 `exp` and `ln` for the augmentation's inner loops (libm's `expm1f`/`log1pf`
//! cost 25-35 ns per call there; these loops compile to SIMD without unsafe code). Accuracy: a
//! few ulp (relative error below 4e-7 for `exp`, absolute error below 2e-6 for `ln` on the
//! log1p-CPM range), far below the resolution that matters for masking augmentation.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2: f32 = std::f32::consts::LN_2;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding and subtracting it rounds an f32 of magnitude < 2^22 to an integer.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `exp(x)` for x in [-80, 80] (clamped outside).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-80.0, 80.0);
    let n = (x * LOG2E + ROUND_MAGIC) - ROUND_MAGIC; // nearest integer to x / ln 2
                                                     // Cody-Waite reduction: ln 2 split into a short high part (n * LN2_HI is exact) and the rest
    let y = (x - n * LN2_HI) - n * LN2_LO; // |y| <= 0.347
                                           // Taylor series of e^y to degree 7 (truncation error < 6e-9 relative)
    let p = 1.0
        + y * (1.0
            + y * (0.5
                + y * (1.0 / 6.0
                    + y * (1.0 / 24.0
                        + y * (1.0 / 120.0 + y * (1.0 / 720.0 + y * (1.0 / 5040.0)))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// `ln(x)` for finite x >= 1e-30.
#[inline(always)]
pub(crate) fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
    let big = m > std::f32::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    e += big as i32;
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        s * (2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0)))));
    e as f32 * LN2 + series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_std() {
        let mut worst_exp = 0f64;
        let mut worst_ln = 0f64;
        for i in 0..200_000 {
            let x = -20.0 + 40.0 * i as f32 / 200_000.0;
            let exact = (x as f64).exp();
            worst_exp = worst_exp.max(((exp_f32(x) as f64) - exact).abs() / exact);
            let y = 1.0 + 3e6 * (i as f32 / 200_000.0).powi(3);
            worst_ln = worst_ln.max(((ln_f32(y) as f64) - (y as f64).ln()).abs());
        }
        assert!(worst_exp < 4e-7, "exp relative error {worst_exp}");
        assert!(worst_ln < 2e-6, "ln absolute error {worst_ln}");
        assert!((ln_f32(1.0)).abs() < 1e-7);
        assert!((exp_f32(0.0) - 1.0).abs() < 1e-7);
    }
}

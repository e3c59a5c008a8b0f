//! Loss-weight schedules over epochs (`t` is the 0-based epoch index).

/// `max * exp(-5 (1 - t/ramp)^2)` for `t < ramp`, then `max`.
pub(crate) fn sigmoid_ramp(max: f64, t: usize, ramp: usize) -> f64 {
    if ramp == 0 || t >= ramp {
        return max;
    }
    let r = t as f64 / ramp as f64;
    max * (-5.0 * (1.0 - r) * (1.0 - r)).exp()
}

/// `max * t / ramp` for `t < ramp`, then `max`.
pub(crate) fn linear_ramp(max: f64, t: usize, ramp: usize) -> f64 {
    if ramp == 0 || t >= ramp {
        return max;
    }
    max * t as f64 / ramp as f64
}

/// The SSL weight lambda_ssl(t) of a configuration.
pub(crate) fn ssl_weight(config: &crate::config::Config, t: usize) -> f64 {
    match config.ssl_ramp.as_str() {
        "sigmoid" => sigmoid_ramp(config.ssl_weight, t, config.ssl_ramp_epochs),
        _ => linear_ramp(config.ssl_weight, t, config.ssl_ramp_epochs),
    }
}

/// The adversary weight lambda_adv(t) of a configuration.
pub(crate) fn adv_weight(config: &crate::config::Config, t: usize) -> f64 {
    sigmoid_ramp(config.adv_weight, t, config.adv_ramp_epochs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps() {
        assert_eq!(linear_ramp(1.0, 0, 100), 0.0);
        assert_eq!(linear_ramp(1.0, 50, 100), 0.5);
        assert_eq!(linear_ramp(1.0, 150, 100), 1.0);
        assert!((sigmoid_ramp(0.1, 0, 20) - 0.1 * (-5.0f64).exp()).abs() < 1e-12);
        assert_eq!(sigmoid_ramp(0.1, 20, 20), 0.1);
        assert_eq!(sigmoid_ramp(0.1, 3, 0), 0.1);
    }
}

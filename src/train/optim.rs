//! AdamW with its state in plain tensors (so a checkpoint can hold it and a resumed run takes the
//! same steps), and the learning-rate schedule: linear warmup, then cosine decay to zero.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// The optimizer's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// AdamW over a fixed list of variables.
pub struct AdamW {
    pub cfg: AdamWConfig,
    /// Steps taken.
    pub t: u64,
    /// First and second moments, one pair per variable, in the variables' order.
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
}

impl AdamW {
    pub fn new(vars: &[&Var], cfg: AdamWConfig) -> Result<AdamW> {
        let zeros = |v: &&Var| v.as_tensor().zeros_like();
        Ok(AdamW {
            cfg,
            t: 0,
            m: vars.iter().map(zeros).collect::<Result<_>>()?,
            v: vars.iter().map(zeros).collect::<Result<_>>()?,
        })
    }

    /// One step at learning rate `lr` with `grads` (one per variable, in order).
    pub fn step(&mut self, vars: &[&Var], grads: &[Tensor], lr: f64) -> Result<()> {
        self.t += 1;
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        for (i, (var, g)) in vars.iter().zip(grads).enumerate() {
            self.m[i] = ((&self.m[i] * b1)? + (g * (1.0 - b1))?)?;
            self.v[i] = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let m_hat = (&self.m[i] / c1)?;
            let v_hat = (&self.v[i] / c2)?;
            let update = (m_hat / (v_hat.sqrt()? + self.cfg.eps)?)?;
            let decayed = (var.as_tensor() * (1.0 - lr * self.cfg.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }
}

/// Each variable's gradient, in order. A variable without one is an error: the forward lost it
/// somewhere (candle's fast ops drop gradients silently), and training on would train nothing.
pub fn gradients(vars: &[(String, &Var)], grads: &GradStore) -> Result<Vec<Tensor>> {
    vars.iter()
        .map(|(name, v)| {
            grads
                .get(v.as_tensor())
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("{name} received no gradient")))
        })
        .collect()
}

/// The learning rate at optimizer step `step` (0-based) of `total`: linear warmup over `warmup`
/// steps to `peak`, then cosine decay to zero at `total`.
pub fn lr_at(step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn the_schedule_warms_up_then_decays_by_cosine() {
        assert!((lr_at(0, 100, 10, 1e-3) - 1e-4).abs() < 1e-12);
        assert!((lr_at(9, 100, 10, 1e-3) - 1e-3).abs() < 1e-12);
        assert!((lr_at(10, 100, 10, 1e-3) - 1e-3).abs() < 1e-12, "the peak right after warmup");
        assert!(
            (lr_at(55, 100, 10, 1e-3) - 5e-4).abs() < 1e-12,
            "half way down at the middle of the decay"
        );
        assert!(lr_at(99, 100, 10, 1e-3) < 2e-6);
        assert!(
            (lr_at(3, 4, 0, 1.0) - 0.5 * (1.0 + (std::f64::consts::PI * 0.75).cos())).abs() < 1e-12
        );
    }

    #[test]
    fn adamw_matches_the_textbook_update() {
        // Minimise (x - 3)^2 from x = 0: the first Adam step moves by lr exactly (m̂/√v̂ = ±1).
        let x = Var::new(&[0f64], &Device::Cpu).unwrap();
        let mut opt =
            AdamW::new(&[&x], AdamWConfig { weight_decay: 0.0, ..AdamWConfig::default() }).unwrap();
        let vars = vec![("x".to_string(), &x)];
        let loss = x.as_tensor().affine(1.0, -3.0).unwrap().sqr().unwrap().sum_all().unwrap();
        opt.step(&[&x], &gradients(&vars, &loss.backward().unwrap()).unwrap(), 0.1).unwrap();
        let v: Vec<f64> = x.as_tensor().to_vec1().unwrap();
        assert!((v[0] - 0.1).abs() < 1e-6, "{v:?}");
        for _ in 0..300 {
            let loss = x.as_tensor().affine(1.0, -3.0).unwrap().sqr().unwrap().sum_all().unwrap();
            opt.step(&[&x], &gradients(&vars, &loss.backward().unwrap()).unwrap(), 0.1).unwrap();
        }
        let v: Vec<f64> = x.as_tensor().to_vec1().unwrap();
        assert!((v[0] - 3.0).abs() < 0.05, "converges: {v:?}");
        // A variable the loss never reached is an error, not a silent no-op.
        let y = Var::new(&[1f64], &Device::Cpu).unwrap();
        let err = gradients(&[("y".to_string(), &y)], &loss.backward().unwrap()).unwrap_err();
        assert!(err.to_string().contains("y received no gradient"), "{err}");
    }
}

//! The matrix kernels: a tile of 16 weight rows against up to [`MR`] activation rows, on the
//! instruction set chosen at load. [`Kernels`] is made only for a set this CPU runs, so its
//! methods are safe to call.
//!
//! Each activation row is computed with the same operations in the same order whichever rows
//! share its call, so a sequence's results do not depend on what else is in the batch.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;

use super::isa::Isa;
use super::matrix::{Dense, Matrix, TILE};
use super::quant::Acts;

/// Activation rows per kernel call.
pub const MR: usize = 8;

/// What a product reads: the activations as f32 (dense matrices) and quantized (packed ones).
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub x: &'a [f32],
    pub acts: Option<&'a Acts>,
    pub k: usize,
}

/// The kernels of an instruction set this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels(Isa);

impl Kernels {
    /// The kernels of `isa`, or why this CPU cannot run them.
    pub fn new(isa: Isa) -> Result<Kernels, String> {
        isa.check()?;
        Ok(Kernels(isa))
    }

    pub fn isa(self) -> Isa {
        self.0
    }

    /// Rows `r0..r0 + out.len()` (at most [`MR`]) of `x` against tile `t` of `m`: `out[i][j]` is
    /// output `16 t + j` of row `r0 + i` (0 past the matrix's last row).
    pub fn tile(self, m: &Matrix, t: usize, x: &Input, r0: usize, out: &mut [[f32; TILE]]) {
        debug_assert!(out.len() <= MR);
        match m {
            Matrix::Dense(d) => dense(d, t, x, r0, out),
            Matrix::Packed(p) => {
                let a = x.acts.expect("packed matrices read quantized activations");
                debug_assert!(r0 + out.len() <= a.m && p.k == a.k);
                match self.0 {
                    // SAFETY: `Kernels::new` checked that this CPU runs the instruction set.
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => unsafe { avx512::tile(p, t, a, r0, out) },
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => unsafe { avx2::tile(p, t, a, r0, out) },
                    #[cfg(target_arch = "aarch64")]
                    Isa::Neon => unsafe { neon::tile(p, t, a, r0, out) },
                    _ => scalar::tile(p, t, a, r0, out),
                }
            }
        }
    }
}

/// A float matrix's tile, in f32 with eight running sums per output.
fn dense(d: &Dense, t: usize, x: &Input, r0: usize, out: &mut [[f32; TILE]]) {
    for (i, o) in out.iter_mut().enumerate() {
        let xr = &x.x[(r0 + i) * x.k..(r0 + i + 1) * x.k];
        for (j, o) in o.iter_mut().enumerate() {
            let n = t * TILE + j;
            *o = if n < d.n { dot(&d.w[n * d.k..(n + 1) * d.k], xr) } else { 0.0 };
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            s[l] += x[l] * y[l];
        }
    }
    (s[0] + s[4]) + (s[1] + s[5]) + (s[2] + s[6]) + (s[3] + s[7]) + tail
}

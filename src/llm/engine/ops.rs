//! The parallel loops of a forward pass: matrix products split into units of whole tiles (each
//! unit writes its own columns, through an `emit` callback that also applies what follows the
//! product: rope, the cache write, SiLU, the residual add), and row-wise loops.

use super::kernels::{Input, Kernels, MR};
use super::matrix::{Matrix, TILE};
use super::pool::Pool;

/// What a unit hands over: (matrix index, tile, first row, results of rows `r0..`).
pub type Emit<'a> = dyn Fn(usize, usize, usize, &[[f32; TILE]]) + Sync + 'a;
/// The same for two matrices computed side by side: (tile, first row, first's, second's).
pub type EmitPair<'a> = dyn Fn(usize, usize, &[[f32; TILE]], &[[f32; TILE]]) + Sync + 'a;

/// A pointer that parallel units write through, each to its own part.
#[derive(Clone, Copy)]
pub struct Out<T>(pub *mut T);

// SAFETY: every use writes disjoint elements, and the owner outlives the parallel region.
unsafe impl<T> Send for Out<T> {}
unsafe impl<T> Sync for Out<T> {}

impl<T> Out<T> {
    pub fn new(v: &mut [T]) -> Out<T> {
        Out(v.as_mut_ptr())
    }

    /// # Safety
    /// `i..i + n` is within the buffer and no other thread touches it meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, i: usize, n: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(i), n)
    }
}

fn tiles(m: &Matrix) -> usize {
    m.dims().0.div_ceil(TILE)
}

/// Tiles per unit: about 8 units per thread for a few rows (a decoding step), one tile each
/// for many (a prompt).
fn group(pool: &Pool, total: usize, rows: usize) -> usize {
    if rows > 2 * MR {
        return 1;
    }
    (total / (pool.active() * 8)).clamp(1, 16)
}

/// Computes `x · Wᵀ` for each matrix of `mats` (`rows` activation rows) and hands each tile's
/// results to `emit`.
pub fn each_tile(pool: &Pool, k: Kernels, mats: &[&Matrix], x: Input, rows: usize, emit: &Emit) {
    let total: usize = mats.iter().map(|m| tiles(m)).sum();
    let g = group(pool, total, rows);
    let per: Vec<usize> = mats.iter().map(|m| tiles(m).div_ceil(g)).collect();
    let units: usize = per.iter().sum();
    pool.run(units, &|mut u| {
        let mut i = 0;
        while u >= per[i] {
            u -= per[i];
            i += 1;
        }
        let n = tiles(mats[i]);
        let mut out = [[0f32; TILE]; MR];
        for t in u * g..((u + 1) * g).min(n) {
            for r0 in (0..rows).step_by(MR) {
                let r = MR.min(rows - r0);
                k.tile(mats[i], t, &x, r0, &mut out[..r]);
                emit(i, t, r0, &out[..r]);
            }
        }
    });
}

/// Computes `a` and `b` (of the same shape) tile by tile together and hands both results to
/// `emit` (the gate and up projections, for SiLU(gate) · up).
pub fn each_tile_pair(
    pool: &Pool,
    k: Kernels,
    a: &Matrix,
    b: &Matrix,
    x: Input,
    rows: usize,
    emit: &EmitPair,
) {
    let n = tiles(a);
    let g = group(pool, 2 * n, rows);
    pool.run(n.div_ceil(g), &|u| {
        let (mut oa, mut ob) = ([[0f32; TILE]; MR], [[0f32; TILE]; MR]);
        for t in u * g..((u + 1) * g).min(n) {
            for r0 in (0..rows).step_by(MR) {
                let r = MR.min(rows - r0);
                k.tile(a, t, &x, r0, &mut oa[..r]);
                k.tile(b, t, &x, r0, &mut ob[..r]);
                emit(t, r0, &oa[..r], &ob[..r]);
            }
        }
    });
}

/// Calls `f(row)` for each row, in parallel when there are many.
pub fn each_row(pool: &Pool, rows: usize, f: &(dyn Fn(usize) + Sync)) {
    const CHUNK: usize = 16;
    if rows <= CHUNK {
        (0..rows).for_each(f);
        return;
    }
    pool.run(rows.div_ceil(CHUNK), &|u| (u * CHUNK..((u + 1) * CHUNK).min(rows)).for_each(f));
}

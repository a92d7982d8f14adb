//! The portable kernel: each block's weights unpacked from the tiles, exact integer dot
//! products per block, scaled in f32. The reference the SIMD paths are tested against.

use super::super::matrix::{Format, Packed, QK, TILE};
use super::super::quant::Acts;

/// Rows `r0..r0 + out.len()` of the activations against tile `t`.
pub fn tile(p: &Packed, t: usize, a: &Acts, r0: usize, out: &mut [[f32; TILE]]) {
    let kb = p.k / QK;
    let per = p.format.chunks();
    out.iter_mut().for_each(|o| *o = [0.0; TILE]);
    // 16-bit weights and activations, so the compiler can pair the products (pmaddwd on
    // x86-64's baseline SSE2) where no SIMD path was written.
    let mut w = [[0i16; QK]; TILE];
    for b in 0..kb {
        let base = t * kb + b;
        let chunks = &p.qs[base * per..(base + 1) * per];
        for (lane, wl) in w.iter_mut().enumerate() {
            for j in 0..QK {
                wl[j] = match p.format {
                    Format::Q8_0 => chunks[j / 4].0[lane * 4 + j % 4] as i8 as i16,
                    Format::Q4_1 => {
                        let byte = chunks[(j % 16) / 4].0[lane * 4 + j % 4];
                        (if j < 16 { byte & 15 } else { byte >> 4 }) as i16
                    }
                };
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            let row = r0 + i;
            let mut xq = [0i16; QK];
            for (d, &s) in xq.iter_mut().zip(&a.q[row * a.k + b * QK..][..QK]) {
                *d = s as i16;
            }
            let (xs, sum) = (a.s[row * kb + b], a.sum[row * kb + b] as f32);
            for (lane, f) in o.iter_mut().enumerate() {
                let dot: i32 = w[lane].iter().zip(&xq).map(|(&w, &x)| w as i32 * x as i32).sum();
                *f += dot as f32 * (p.d[base * TILE + lane].to_f32() * xs);
                *f += p.min(base, lane) * (xs * sum);
            }
        }
    }
}

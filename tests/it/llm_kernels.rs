//! The matrix kernels of every instruction set this CPU runs (AVX2 and scalar on an AVX-512
//! host too) against the dequantized weights: every output within the error that 8-bit
//! activations allow, for 1 to 17 activation rows, row counts that do not fill a tile, and Q8_0,
//! Q4_1, Q4_0 and f32 matrices; each row the same bits whatever rows share its call.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use distillery::llm::engine::isa::supported;
use distillery::llm::engine::kernels::{Input, Kernels};
use distillery::llm::engine::matrix::{Matrix, TILE};
use distillery::llm::engine::ops::{each_tile, Out};
use distillery::llm::engine::pool::Pool;
use distillery::llm::engine::quant::Acts;
use distillery::llm::sampling::Rng;
use std::time::Duration;

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| (rng.next_f64() as f32 - 0.5) * 2.0).collect()
}

/// A random `[n, k]` matrix of `dtype` for the kernels, and its dequantized values.
fn matrix(n: usize, k: usize, dtype: GgmlDType, rng: &mut Rng) -> (Matrix, Vec<f32>) {
    let t = Tensor::from_vec(random(n * k, rng), (n, k), &Device::Cpu).unwrap();
    let q = QTensor::quantize(&t, dtype).unwrap();
    let w = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    (Matrix::from_qtensor(&q).unwrap().0, w)
}

/// `x · Wᵀ` in f64, and for each output the most that quantizing `x` to 8 bits per 32-block
/// (half a step of `amax / 127`) can move it (none for float matrices).
fn reference(w: &[f32], x: &[f32], n: usize, k: usize, quantized: bool) -> (Vec<f32>, Vec<f32>) {
    let m = x.len() / k;
    let (mut out, mut tol) = (vec![0f32; m * n], vec![0f32; m * n]);
    for i in 0..m {
        let xi = &x[i * k..(i + 1) * k];
        let step: Vec<f32> = xi
            .chunks(32)
            .flat_map(|b| {
                let amax = b.iter().fold(0f32, |a, v| a.max(v.abs()));
                std::iter::repeat_n(if quantized { amax / 127.0 / 2.0 } else { 0.0 }, b.len())
            })
            .collect();
        for r in 0..n {
            let wr = &w[r * k..(r + 1) * k];
            out[i * n + r] =
                wr.iter().zip(xi).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() as f32;
            tol[i * n + r] =
                wr.iter().zip(&step).map(|(a, s)| a.abs() * s).sum::<f32>() * 1.01 + 1e-4;
        }
    }
    (out, tol)
}

/// `x · Wᵀ` in f64 on the activations as quantized (their bytes times their scales): what the
/// kernels compute exactly but for float rounding. Returns it and each output's Σ|w·x|.
fn exact(
    w: &[f32],
    x: &[f32],
    n: usize,
    k: usize,
    isa: distillery::llm::engine::Isa,
    quantized: bool,
) -> (Vec<f64>, Vec<f64>) {
    let m = x.len() / k;
    let mut a = Acts::default();
    a.quantize(isa, x, m, k);
    let xq: Vec<f64> = if quantized {
        a.q.iter().enumerate().map(|(i, &q)| q as f64 * a.s[i / 32] as f64).collect()
    } else {
        x.iter().map(|&v| v as f64).collect()
    };
    let (mut out, mut mag) = (vec![0f64; m * n], vec![0f64; m * n]);
    for i in 0..m {
        for r in 0..n {
            let (wr, xi) = (&w[r * k..(r + 1) * k], &xq[i * k..(i + 1) * k]);
            out[i * n + r] = wr.iter().zip(xi).map(|(a, b)| *a as f64 * b).sum();
            mag[i * n + r] = wr.iter().zip(xi).map(|(a, b)| (*a as f64 * b).abs()).sum();
        }
    }
    (out, mag)
}

/// The product on `kernels`, through the same parallel loop the forward pass uses.
fn product(pool: &Pool, kernels: Kernels, m: &Matrix, x: &[f32], rows: usize) -> Vec<f32> {
    let (n, k) = m.dims();
    let mut acts = Acts::default();
    acts.quantize(kernels.isa(), x, rows, k);
    let quantized = matches!(m, Matrix::Packed(_));
    let input = Input { x, acts: quantized.then_some(&acts), k };
    let mut out = vec![f32::NAN; rows * n];
    let o = Out::new(&mut out);
    each_tile(pool, kernels, &[m], input, rows, &|_, t, r0, res| {
        let (c0, cols) = (t * TILE, TILE.min(n - t * TILE));
        for (i, v) in res.iter().enumerate() {
            // SAFETY: each unit writes its own tile of each row.
            unsafe { o.slice((r0 + i) * n + c0, cols) }.copy_from_slice(&v[..cols]);
        }
    });
    out
}

const TYPES: [(GgmlDType, bool); 4] = [
    (GgmlDType::Q8_0, true),
    (GgmlDType::Q4_1, true),
    (GgmlDType::Q4_0, true),
    (GgmlDType::F32, false),
];

#[test]
fn every_kernel_path_matches_the_dequantized_weights() {
    let mut rng = Rng::new(7);
    let pool = Pool::new(2, Duration::from_micros(20));
    let paths = supported();
    assert!(
        paths.len() >= 2,
        "scalar and at least one SIMD path on x86-64 and aarch64 test machines: {paths:?}"
    );
    for (dtype, quantized) in TYPES {
        for (n, k) in [(48, 96), (40, 64), (7, 32)] {
            let (m, w) = matrix(n, k, dtype, &mut rng);
            assert_eq!(m.dims(), (n, k));
            for rows in (1..=17).step_by(2).chain([4, 16]) {
                let x = random(rows * k, &mut rng);
                let (want, tol) = reference(&w, &x, n, k, quantized);
                for &isa in &paths {
                    let got = product(&pool, Kernels::new(isa).unwrap(), &m, &x, rows);
                    for (j, ((g, w), t)) in got.iter().zip(&want).zip(&tol).enumerate() {
                        assert!((g - w).abs() <= *t, "{isa} {dtype:?} {n}×{k}, {rows} rows: output {j} is {g}, want {w} ± {t}");
                    }
                    // On the quantized activations themselves, only float rounding differs.
                    let (want, mag) = exact(&w, &x, n, k, isa, quantized);
                    for (j, ((g, w), m)) in got.iter().zip(&want).zip(&mag).enumerate() {
                        assert!(
                            (*g as f64 - w).abs() <= 1e-5 * m + 1e-6,
                            "{isa} {dtype:?} {n}×{k}, {rows} rows: output {j} is {g}, exactly {w}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_row_gives_the_same_bits_whatever_rows_share_its_call() {
    let mut rng = Rng::new(9);
    let pool = Pool::new(2, Duration::from_micros(20));
    for (dtype, _) in TYPES {
        let (m, _) = matrix(64, 128, dtype, &mut rng);
        let x = random(9 * 128, &mut rng);
        for isa in supported() {
            let k = Kernels::new(isa).unwrap();
            let all = product(&pool, k, &m, &x, 9);
            for r in [0, 3, 8] {
                let alone = product(&pool, k, &m, &x[r * 128..(r + 1) * 128], 1);
                assert_eq!(alone, all[r * 64..(r + 1) * 64], "{isa} {dtype:?} row {r}");
            }
        }
    }
}

#[test]
fn row_lookups_give_the_dequantized_rows_exactly() {
    let mut rng = Rng::new(3);
    for (dtype, _) in TYPES {
        let (m, w) = matrix(40, 96, dtype, &mut rng);
        let mut row = vec![0f32; 96];
        for r in [0, 17, 39] {
            m.row(r, &mut row);
            assert_eq!(row, w[r * 96..(r + 1) * 96], "{dtype:?} row {r}");
        }
    }
}

#[test]
fn other_block_types_are_requantized_to_q8_0() {
    let mut rng = Rng::new(5);
    let t = Tensor::from_vec(random(32 * 256, &mut rng), (32, 256), &Device::Cpu).unwrap();
    let q = QTensor::quantize(&t, GgmlDType::Q4K).unwrap();
    let (m, how) = Matrix::from_qtensor(&q).unwrap();
    assert_eq!((m.kind(), how), ("Q8_0", distillery::llm::engine::matrix::Loaded::Requantized));
}

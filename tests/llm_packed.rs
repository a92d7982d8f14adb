//! The packed Q4_1/Q8_0 kernel against candle's dequantized weights: every output within the
//! error that 8-bit activations allow, on the SIMD path (where the CPU has it) and the scalar one,
//! for 1 to 9 activation rows; and the whole model on it against candle's matmuls.

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use distillery::llm::llama::Llama;
use distillery::llm::packed::{matmul_many, matmul_scalar, simd, Format, Packed};
use distillery::llm::sampling::Rng;
use distillery::llm::testing::TinyOptions;
use distillery::llm::weights::Kernel;

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| (rng.next_f64() as f32 - 0.5) * 2.0).collect()
}

/// A random `[n, k]` matrix quantized to `dtype`, and its dequantized values.
fn matrix(n: usize, k: usize, dtype: GgmlDType, rng: &mut Rng) -> (QTensor, Vec<f32>) {
    let t = Tensor::from_vec(random(n * k, rng), (n, k), &Device::Cpu).unwrap();
    let q = QTensor::quantize(&t, dtype).unwrap();
    let w = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    (q, w)
}

/// `x · Wᵀ` in f64, and for each output the most that quantizing `x` to 8 bits per 32-block
/// (half a step of `amax / 127`) can move it.
fn reference(w: &[f32], x: &[f32], n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    let m = x.len() / k;
    let (mut out, mut tol) = (vec![0f32; m * n], vec![0f32; m * n]);
    for i in 0..m {
        let xi = &x[i * k..(i + 1) * k];
        let step: Vec<f32> = xi.chunks(32).flat_map(|b| {
            let amax = b.iter().fold(0f32, |a, v| a.max(v.abs()));
            std::iter::repeat_n(amax / 127.0 / 2.0, b.len())
        }).collect();
        for r in 0..n {
            let wr = &w[r * k..(r + 1) * k];
            out[i * n + r] = wr.iter().zip(xi).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() as f32;
            tol[i * n + r] = wr.iter().zip(&step).map(|(a, s)| a.abs() * s).sum::<f32>() * 1.01 + 1e-4;
        }
    }
    (out, tol)
}

fn check(name: &str, got: &[f32], want: &[f32], tol: &[f32]) {
    for (j, ((g, w), t)) in got.iter().zip(want).zip(tol).enumerate() {
        assert!((g - w).abs() <= *t, "{name}: output {j} is {g}, want {w} ± {t}");
    }
}

#[test]
fn packed_matmuls_match_the_dequantized_weights() {
    let mut rng = Rng::new(7);
    let (n, k) = (48, 96);
    for (dtype, format) in [(GgmlDType::Q8_0, Format::Q8_0), (GgmlDType::Q4_1, Format::Q4_1)] {
        let (q, w) = matrix(n, k, dtype, &mut rng);
        let p = Packed::new(&q).unwrap().expect("a 48×96 matrix tiles");
        assert_eq!((p.format(), p.dims()), (format, (n, k)));
        // Row lookups give the dequantized rows exactly.
        let mut row = vec![0f32; k];
        for r in [0, 17, 47] {
            p.row(r, &mut row);
            assert_eq!(row, w[r * k..(r + 1) * k], "{format:?} row {r}");
        }
        for m in [1, 2, 3, 4, 5, 9] {
            let x = random(m * k, &mut rng);
            let (want, tol) = reference(&w, &x, n, k);
            check(&format!("{format:?} scalar, {m} rows"), &matmul_scalar(&p, &x, m), &want, &tol);
            let name = format!("{format:?} {}, {m} rows", if simd() { "AVX-512" } else { "scalar" });
            check(&name, &matmul_many(&[&p], &x, m)[0], &want, &tol);
        }
    }
}

#[test]
fn several_matrices_share_one_pass_and_odd_shapes_are_not_packed() {
    let mut rng = Rng::new(9);
    let (a, wa) = matrix(32, 64, GgmlDType::Q4_1, &mut rng);
    let (b, wb) = matrix(16, 64, GgmlDType::Q8_0, &mut rng);
    let (pa, pb) = (Packed::new(&a).unwrap().unwrap(), Packed::new(&b).unwrap().unwrap());
    let x = random(3 * 64, &mut rng);
    let outs = matmul_many(&[&pa, &pb], &x, 3);
    let (ra, ta) = reference(&wa, &x, 32, 64);
    let (rb, tb) = reference(&wb, &x, 16, 64);
    check("first of two", &outs[0], &ra, &ta);
    check("second of two", &outs[1], &rb, &tb);
    // 20 rows do not make tiles of 16; F32 is not a packed format.
    assert!(Packed::new(&matrix(20, 64, GgmlDType::Q8_0, &mut rng).0).unwrap().is_none());
    assert!(Packed::new(&matrix(16, 64, GgmlDType::F32, &mut rng).0).unwrap().is_none());
}

/// The tiny llama on the packed kernel, and the same weights dequantized to F32 on candle's
/// matmuls (the reference: exact weights, f32 activations).
fn tiny_pair(opts: &TinyOptions) -> (Llama, Llama) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tiny.gguf");
    distillery::llm::testing::write_tiny_llama(&p, opts).unwrap();
    let mut f = std::fs::File::open(&p).unwrap();
    let ct = gguf_file::Content::read(&mut f).unwrap();
    let packed = Llama::from_gguf_with(&ct, &mut f, Kernel::Packed).unwrap();
    let ts: Vec<(String, QTensor)> = ct
        .tensor_infos
        .keys()
        .map(|n| {
            let t = ct.tensor(&mut f, n, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap();
            (n.clone(), QTensor::quantize(&t, GgmlDType::F32).unwrap())
        })
        .collect();
    let md: Vec<(&str, &gguf_file::Value)> = ct.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tr: Vec<(&str, &QTensor)> = ts.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut buf = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut buf, &md, &tr).unwrap();
    buf.set_position(0);
    let ct = gguf_file::Content::read(&mut buf).unwrap();
    (packed, Llama::from_gguf_with(&ct, &mut buf, Kernel::Candle).unwrap())
}

#[test]
fn the_model_on_the_packed_kernel_gives_candles_logits() {
    let ids = [1u32, 40, 41, 42, 43, 2, 50, 60, 61];
    for opts in [
        TinyOptions { q4_1: true, ..Default::default() },
        TinyOptions { q8_0: true, ..Default::default() },
        TinyOptions { q4_1: true, tied: true, ..Default::default() },
    ] {
        let (packed, candle) = tiny_pair(&opts);
        let a = packed.prefill(&mut packed.prefix().unwrap(), &ids).unwrap().to_vec1::<f32>().unwrap();
        let b = candle.prefill(&mut candle.prefix().unwrap(), &ids).unwrap().to_vec1::<f32>().unwrap();
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        // Only the 8-bit activations differ: a few per cent of the largest logit at most, where
        // a misplaced weight gives errors of the logits' own size.
        assert!(diff < 0.05 * scale, "{opts:?}: logits differ by {diff} (largest {scale})");
    }
}

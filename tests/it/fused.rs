//! The fused training ops against the same computation composed from candle's differentiable
//! ops: values and the gradients of every input, in f64 (tight) and f32, on shapes with grouped
//! KV heads and a sequence long enough for the causal mask to matter.

use candle_core::{DType, Device, Tensor, Var, D};
use distillery::llm::sampling::Rng;
use distillery::train::attention::{causal_attention, CausalAttention};
use distillery::train::fused;

fn random(shape: &[usize], rng: &mut Rng, dtype: DType) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

/// The largest absolute difference, relative to the largest absolute value of `b`.
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let a: Vec<f64> = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f64> = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
    a.iter().zip(&b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Runs `fused` and `reference` on the same inputs, with the loss `Σ out · r` for a random `r`,
/// and asserts that the outputs and every input's gradient agree within `tol`.
fn agree(
    inputs: &[Tensor],
    tol: f64,
    fused: impl Fn(&[Tensor]) -> Tensor,
    reference: impl Fn(&[Tensor]) -> Tensor,
    what: &str,
) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let (a, b) = (fused(&ts), reference(&ts));
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let d = rel_diff(&a, &b);
    assert!(d < tol, "{what}: outputs differ by {d}");
    let r = random(a.dims(), &mut Rng::new(5), a.dtype());
    let (ga, gb) = (
        (a * &r).unwrap().sum_all().unwrap().backward().unwrap(),
        (b * &r).unwrap().sum_all().unwrap().backward().unwrap(),
    );
    for (i, t) in ts.iter().enumerate() {
        let (x, y) = (
            ga.get(t).unwrap_or_else(|| panic!("{what}: input {i} got no gradient")),
            gb.get(t).unwrap(),
        );
        let d = rel_diff(x, y);
        assert!(d < tol, "{what}: the gradients of input {i} differ by {d}");
    }
}

/// Attention composed as the trainer did before the fused op: per-head layout, `rope_i_slow`,
/// the KV heads repeated, an additive causal mask and the generic softmax.
fn reference_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    nh: usize,
    nkv: usize,
    d: usize,
    base: f64,
) -> Tensor {
    let (b, s, _) = q.dims3().unwrap();
    let dt = q.dtype();
    let heads = |x: &Tensor, n: usize| {
        x.reshape((b, s, n, d)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap()
    };
    let (q, k, v) = (heads(q, nh), heads(k, nkv), heads(v, nkv));
    let ang: Vec<f64> = (0..s)
        .flat_map(|t| (0..d / 2).map(move |i| t as f64 / base.powf(2.0 * i as f64 / d as f64)))
        .collect();
    let cos =
        Tensor::from_vec(ang.iter().map(|a| a.cos()).collect::<Vec<_>>(), (s, d / 2), &Device::Cpu)
            .unwrap()
            .to_dtype(dt)
            .unwrap();
    let sin =
        Tensor::from_vec(ang.iter().map(|a| a.sin()).collect::<Vec<_>>(), (s, d / 2), &Device::Cpu)
            .unwrap()
            .to_dtype(dt)
            .unwrap();
    let q = candle_nn::rotary_emb::rope_i_slow(&q, &cos, &sin).unwrap();
    let k = candle_nn::rotary_emb::rope_i_slow(&k, &cos, &sin).unwrap();
    let g = nh / nkv;
    let rep = |x: &Tensor| {
        x.unsqueeze(2)
            .unwrap()
            .broadcast_as((b, nkv, g, s, d))
            .unwrap()
            .reshape((b, nh, s, d))
            .unwrap()
    };
    let (k, v) = (rep(&k), rep(&v));
    let mask: Vec<f64> = (0..s)
        .flat_map(|r| (0..s).map(move |j| if j > r { f64::NEG_INFINITY } else { 0.0 }))
        .collect();
    let mask = Tensor::from_vec(mask, (1, 1, s, s), &Device::Cpu).unwrap().to_dtype(dt).unwrap();
    let att = (q.matmul(&k.t().unwrap()).unwrap() / (d as f64).sqrt())
        .unwrap()
        .broadcast_add(&mask)
        .unwrap();
    let att = candle_nn::ops::softmax(&att, D::Minus1).unwrap();
    att.matmul(&v).unwrap().transpose(1, 2).unwrap().reshape((b, s, nh * d)).unwrap()
}

#[test]
fn attention_with_rope_matches_the_composed_ops_with_grouped_kv_heads() {
    for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-4)] {
        for (b, s, nh, nkv, d) in [(2, 9, 6, 2, 8), (1, 33, 4, 4, 16), (3, 1, 2, 1, 4)] {
            let mut rng = Rng::new(3);
            let inputs = [
                random(&[b, s, nh * d], &mut rng, dtype),
                random(&[b, s, nkv * d], &mut rng, dtype),
                random(&[b, s, nkv * d], &mut rng, dtype),
            ];
            let op =
                || CausalAttention { n_head: nh, n_kv_head: nkv, head_dim: d, rope_base: 100.0 };
            agree(
                &inputs,
                tol,
                |t| causal_attention(&t[0], &t[1], &t[2], op()).unwrap(),
                |t| reference_attention(&t[0], &t[1], &t[2], nh, nkv, d, 100.0),
                &format!("attention {dtype:?} b{b} s{s} h{nh}/{nkv} d{d}"),
            );
        }
    }
}

#[test]
fn rms_norm_swiglu_and_cross_entropy_match_the_composed_ops() {
    for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-4)] {
        let mut rng = Rng::new(9);
        let w = random(&[24], &mut rng, dtype);
        let x = random(&[2, 5, 24], &mut rng, dtype);
        agree(
            &[x],
            tol,
            |t| fused::rms_norm(&t[0], &w, 1e-5).unwrap(),
            |t| candle_nn::ops::rms_norm_slow(&t[0], &w, 1e-5).unwrap(),
            &format!("rms norm {dtype:?}"),
        );

        let (g, u) = (random(&[3, 7, 10], &mut rng, dtype), random(&[3, 7, 10], &mut rng, dtype));
        agree(
            &[(g * 4.0).unwrap(), u],
            tol,
            |t| fused::swiglu(&t[0], &t[1]).unwrap(),
            |t| (t[0].silu().unwrap() * &t[1]).unwrap(),
            &format!("swiglu {dtype:?}"),
        );

        let logits = (random(&[6, 50], &mut rng, dtype) * 8.0).unwrap();
        let targets = Tensor::new(&[0u32, 49, 7, 7, 13, 30], &Device::Cpu).unwrap();
        let reference = |t: &[Tensor]| {
            let lp = candle_nn::ops::log_softmax(&t[0], D::Minus1).unwrap();
            (lp.gather(&targets.unsqueeze(1).unwrap(), 1)
                .unwrap()
                .sum_all()
                .unwrap()
                .neg()
                .unwrap()
                / 6.0)
                .unwrap()
        };
        agree(
            &[logits],
            tol,
            |t| fused::cross_entropy(&t[0], &targets).unwrap(),
            reference,
            &format!("cross-entropy {dtype:?}"),
        );
    }
}

#[test]
fn the_fused_ops_name_what_does_not_fit() {
    let t = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
    let op = CausalAttention { n_head: 4, n_kv_head: 2, head_dim: 8, rope_base: 1e4 };
    let e = causal_attention(&t(&[1, 3, 32]), &t(&[1, 3, 8]), &t(&[1, 3, 16]), op)
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 heads, 2 KV heads of 8"), "{e}");
    let e = fused::cross_entropy(&t(&[2, 5]), &Tensor::new(&[1u32, 5], &Device::Cpu).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("target 5 is outside the vocabulary of 5"), "{e}");
    let e = fused::swiglu(&t(&[2, 5]), &t(&[2, 4])).unwrap_err().to_string();
    assert!(e.contains("differ in shape"), "{e}");
    let e =
        distillery::train::frozen::frozen_matmul(&t(&[2, 5]), &t(&[3, 4])).unwrap_err().to_string();
    assert!(e.contains("does not end in the weight's 4 columns"), "{e}");
}

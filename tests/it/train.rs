//! The training forward on a tiny random llama: with untrained adapters it gives the inference
//! engine's logits; every adapter gets a gradient; the gradients match finite differences.

use candle_core::{DType, Device, Tensor};
use distillery::llm::engine::forward::Engine;
use distillery::llm::engine::isa::supported;
use distillery::llm::testing::{write_tiny_llama, TinyOptions};
use distillery::train::loss::masked_cross_entropy;
use distillery::train::model::{LoraConfig, Target, TrainModel};

fn tiny(dir: &std::path::Path, tied: bool) -> std::path::PathBuf {
    let p = dir.join("tiny.gguf");
    write_tiny_llama(&p, &TinyOptions { tied, seed: 7, ..TinyOptions::default() }).unwrap();
    p
}

fn all_targets(dropout: f32) -> LoraConfig {
    LoraConfig { rank: 4, alpha: 8.0, dropout, targets: Target::ALL.to_vec(), seed: 3 }
}

const IDS: [u32; 9] = [1, 72, 69, 76, 76, 79, 2, 100, 120];

#[test]
fn untrained_adapters_give_the_inference_engines_logits() {
    let dir = tempfile::tempdir().unwrap();
    for tied in [false, true] {
        let path = tiny(dir.path(), tied);
        let mut m = TrainModel::from_gguf(&path, &all_targets(0.0), DType::F32).unwrap();
        m.train = false;
        let logits = m.forward(&Tensor::new(&[IDS], &Device::Cpu).unwrap()).unwrap();
        for isa in supported() {
            let mut engine = Engine::open(&path, isa, 1, 16).unwrap();
            for end in [1, 5, IDS.len()] {
                let want = engine.last_logits(&IDS[..end]).unwrap();
                let got: Vec<f32> = logits.get(0).unwrap().get(end - 1).unwrap().to_vec1().unwrap();
                let diff = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(diff < 1e-4, "{isa}, tied={tied}, position {end}: logits differ by {diff}");
            }
        }
    }
}

fn loss_of(m: &mut TrainModel) -> Tensor {
    let n = IDS.len() - 1;
    let ids = Tensor::new(&IDS[..n], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let targets = Tensor::new(&IDS[1..], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    // The response: the last four positions only.
    let mask = Tensor::new(&[[0f32, 0., 0., 0., 1., 1., 1., 1.]], &Device::Cpu).unwrap();
    masked_cross_entropy(&m.forward(&ids).unwrap(), &targets, &mask).unwrap().0
}

#[test]
fn every_adapter_gets_a_gradient_and_the_gradients_match_finite_differences() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny(dir.path(), true);
    let mut m = TrainModel::from_gguf(&path, &all_targets(0.0), DType::F64).unwrap();
    // B starts at zero (so A's gradient would be zero): give B small values for the check.
    let mut r = distillery::llm::sampling::Rng::new(11);
    for (name, v) in m.trainable() {
        if name.ends_with("lora_B.weight") {
            let n = v.as_tensor().elem_count();
            let vals: Vec<f64> = (0..n).map(|_| (r.next_f64() - 0.5) * 0.2).collect();
            v.set(&Tensor::from_vec(vals, v.as_tensor().shape(), &Device::Cpu).unwrap()).unwrap();
        }
    }
    assert_eq!(m.trainable().len(), 2 * 7 * 2, "A and B on seven projections of two blocks");
    let loss = loss_of(&mut m);
    let grads = loss.backward().unwrap();
    let trainable: Vec<(String, Tensor)> =
        m.trainable().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
    for (name, t) in &trainable {
        let g = grads.get(t).unwrap_or_else(|| panic!("{name} received no gradient"));
        let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(norm > 0.0, "{name}: the gradient is zero");
    }
    // Central differences on a few entries of each kind of adapter.
    let eps = 1e-5;
    let mut checked = 0;
    for (name, t) in trainable
        .iter()
        .filter(|(n, _)| n.contains("layers.1.") || n.contains("layers.0.self_attn.q_proj"))
    {
        let g: Vec<f64> = grads.get(t).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let base: Vec<f64> = t.flatten_all().unwrap().to_vec1().unwrap();
        let var = m.trainable().into_iter().find(|(n, _)| n == name).unwrap().1.clone();
        for &i in &[0, base.len() / 2, base.len() - 1] {
            let mut at = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                var.set(&Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap()).unwrap();
                loss_of(&mut m).to_scalar::<f64>().unwrap()
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            at(0.0);
            let err = (numeric - g[i]).abs() / numeric.abs().max(g[i].abs()).max(1e-6);
            assert!(
                err < 1e-4,
                "{name}[{i}]: backward {} vs finite difference {numeric} (relative error {err})",
                g[i]
            );
            checked += 1;
        }
    }
    assert!(checked >= 3 * 8, "{checked} entries checked");
}

#[test]
fn dropout_is_seeded_and_off_in_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny(dir.path(), false);
    let ids = Tensor::new(&[IDS], &Device::Cpu).unwrap();
    let run = |train: bool| -> Vec<f32> {
        let mut m = TrainModel::from_gguf(&path, &all_targets(0.5), DType::F32).unwrap();
        for (_, v) in m.trainable() {
            let n = v.as_tensor().elem_count();
            v.set(
                &Tensor::ones(n, DType::F32, &Device::Cpu)
                    .unwrap()
                    .reshape(v.as_tensor().shape())
                    .unwrap(),
            )
            .unwrap();
        }
        m.train = train;
        m.forward(&ids).unwrap().flatten_all().unwrap().to_vec1().unwrap()
    };
    assert_eq!(run(true), run(true), "the same seed draws the same dropout");
    assert_ne!(run(true), run(false), "dropout changes the adapters' input in training");
    assert_eq!(Target::parse("gate"), Some(Target::Gate));
    assert_eq!(Target::parse("q"), Some(Target::Q));
    assert_eq!(Target::parse("attn"), None);
}

mod loop_ {
    use super::*;
    use distillery::train::checkpoint;
    use distillery::train::data::{Example, Formatter};
    use distillery::train::run::{train, TrainOptions};
    use std::sync::atomic::{AtomicBool, Ordering};

    fn examples(path: &std::path::Path) -> Vec<Example> {
        let f = Formatter::from_gguf(path).unwrap();
        ["hello", "hell", "he", "hello hello"]
            .iter()
            .enumerate()
            .map(|(i, a)| {
                f.example(
                    format!("sample #{}", i + 1),
                    &distillery::sample::SampleText::new(format!("say {i}"), "", *a),
                )
                .unwrap()
            })
            .collect()
    }

    fn opts() -> TrainOptions {
        TrainOptions {
            lr: 2e-2,
            warmup: 1,
            epochs: 3,
            batch: 2,
            accum: 1,
            seed: 5,
            checkpoint_every: 1,
        }
    }

    fn adapters(m: &TrainModel) -> Vec<Vec<f32>> {
        m.trainable()
            .into_iter()
            .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }

    #[test]
    fn the_template_marks_the_response_and_the_loss_falls() {
        let dir = tempfile::tempdir().unwrap();
        let path = tiny(dir.path(), true);
        let ex = examples(&path);
        let f = Formatter::from_gguf(&path).unwrap();
        let e = &ex[0];
        let tok = |ids: &[u32]| {
            ids.iter()
                .map(|i| distillery::llm::testing::vocab().0[*i as usize].clone())
                .collect::<String>()
        };
        assert_eq!(
            tok(&e.ids[e.response_start..]),
            "hello<|im_end|>Ċ",
            "the answer and the end of its turn, as the template closes it"
        );
        assert!(
            tok(&e.ids[..e.response_start]).ends_with("<|im_start|>assistantĊ"),
            "the prompt as inference renders it"
        );
        let _ = f;
        let mut m = TrainModel::from_gguf(&path, &all_targets(0.0), DType::F32).unwrap();
        let mut losses = Vec::new();
        let done = train(
            &mut m,
            &ex,
            &opts(),
            &dir.path().join("ck"),
            false,
            &AtomicBool::new(false),
            &mut |r| losses.push(r.loss),
        )
        .unwrap();
        assert_eq!((done.steps, losses.len()), (6, 6));
        assert!(losses[5] < losses[0] * 0.8, "the loss falls: {losses:?}");
    }

    #[test]
    fn a_run_stopped_and_resumed_ends_with_the_uninterrupted_runs_adapters() {
        let dir = tempfile::tempdir().unwrap();
        let path = tiny(dir.path(), false);
        let ex = examples(&path);
        let lora = all_targets(0.1);
        let mut whole = TrainModel::from_gguf(&path, &lora, DType::F32).unwrap();
        train(
            &mut whole,
            &ex,
            &opts(),
            &dir.path().join("a"),
            false,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        // Stopped after step 3 (the process is gone: a new model is loaded), then resumed.
        let stop = AtomicBool::new(false);
        let mut first = TrainModel::from_gguf(&path, &lora, DType::F32).unwrap();
        let part = train(&mut first, &ex, &opts(), &dir.path().join("b"), false, &stop, &mut |r| {
            stop.store(r.step == 3, Ordering::Relaxed)
        })
        .unwrap();
        assert!(part.cancelled && part.steps == 3, "{part:?}");
        let mut again = TrainModel::from_gguf(&path, &lora, DType::F32).unwrap();
        let done = train(
            &mut again,
            &ex,
            &opts(),
            &dir.path().join("b"),
            true,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(done.resumed_from, Some(3));
        let (a, b) = (adapters(&whole), adapters(&again));
        let diff = a
            .iter()
            .flatten()
            .zip(b.iter().flatten())
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "the resumed run's adapters differ by {diff}");
        assert!(a.iter().flatten().any(|x| *x != 0.0));
        // A damaged newest checkpoint is named and skipped; the one before it is used.
        let ck = dir.path().join("b");
        let newest = std::fs::read_dir(&ck)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .max()
            .unwrap();
        std::fs::write(newest.join("adapter.safetensors"), b"garbage").unwrap();
        let (found, skipped) = checkpoint::latest(&ck).unwrap();
        assert_eq!(found.unwrap().state.step, 5);
        assert!(
            skipped[0].contains("step-00000006") && skipped[0].contains("checksum"),
            "{skipped:?}"
        );
        // Other settings do not resume from it.
        let mut other = TrainModel::from_gguf(&path, &lora, DType::F32).unwrap();
        let err = train(
            &mut other,
            &ex,
            &TrainOptions { lr: 1e-3, ..opts() },
            &ck,
            true,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.contains("other settings"), "{err}");
    }
}

#[test]
fn the_masked_loss_equals_the_full_one_and_the_frozen_op_passes_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny(dir.path(), true);
    let mut m = TrainModel::from_gguf(&path, &all_targets(0.0), DType::F64).unwrap();
    let n = IDS.len() - 1;
    let ids = Tensor::new(&IDS[..n], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let targets = Tensor::new(&IDS[1..], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let mask = Tensor::new(&[[0f64, 0., 1., 0., 1., 1., 1., 1.]], &Device::Cpu).unwrap();
    let (full, n_full) = masked_cross_entropy(&m.forward(&ids).unwrap(), &targets, &mask).unwrap();
    let (part, n_part) = m.loss(&ids, &targets, &mask).unwrap().expect("response positions");
    assert_eq!((n_full, n_part), (5, 5));
    let none = Tensor::zeros((1, n), DType::F64, &Device::Cpu).unwrap();
    assert!(
        m.loss(&ids, &targets, &none).unwrap().is_none(),
        "no response position: nothing to learn, no error"
    );
    let (a, b) = (full.to_scalar::<f64>().unwrap(), part.to_scalar::<f64>().unwrap());
    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    // The frozen op's input gradient is the plain matmul's.
    let w = Tensor::new(&[[1f64, 2.], [3., -1.], [0.5, 0.25]], &Device::Cpu).unwrap();
    let x = candle_core::Var::new(&[[0.3f64, -0.7]], &Device::Cpu).unwrap();
    let g1 = distillery::train::frozen::frozen_matmul(x.as_tensor(), &w)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g2 = x
        .as_tensor()
        .matmul(&w.t().unwrap())
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let (g1, g2): (Vec<Vec<f64>>, Vec<Vec<f64>>) = (
        g1.get(x.as_tensor()).unwrap().to_vec2().unwrap(),
        g2.get(x.as_tensor()).unwrap().to_vec2().unwrap(),
    );
    assert_eq!(g1, g2);
}

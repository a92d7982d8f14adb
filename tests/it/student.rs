//! The student after training, on a tiny llama: the merged GGUF computes what the adapted model
//! computes; `train` hears a cancel request and keeps a checkpoint; `eval` scores base and
//! student side by side and stores the student's failures; `llm2llm` starts from them;
//! `export-model` writes a GGUF the engine loads.

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use distillery::llm::engine::forward::Engine;
use distillery::llm::testing::{write_tiny_llama, TinyOptions};
use distillery::sample::{EvalItem, Instance, SampleText, SeedTask};
use distillery::store::{DecisionKind, NewSample, NewSeed, Provenance};
use distillery::train::model::{LoraConfig, Target, TrainModel};
use distillery::workspace::Workspace;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const IDS: [u32; 7] = [1, 72, 69, 76, 76, 79, 2];

#[test]
fn the_merged_gguf_computes_what_the_adapted_model_computes() {
    let dir = tempfile::tempdir().unwrap();
    // Q8_0 matrices (untouched ones stay Q8_0), and F32 ones (for an exact check of the engine,
    // which quantizes activations for Q8_0 matmuls).
    for q8 in [true, false] {
        let base = dir.path().join("tiny.gguf");
        write_tiny_llama(
            &base,
            &TinyOptions { tied: true, q8_0: q8, seed: 5, ..TinyOptions::default() },
        )
        .unwrap();
        let lora = LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: Target::ALL.to_vec(),
            seed: 2,
        };
        let mut m = TrainModel::from_gguf(&base, &lora, DType::F32).unwrap();
        m.train = false;
        // Trained-looking adapters: B away from zero.
        let mut r = distillery::llm::sampling::Rng::new(9);
        let mut adapters = HashMap::new();
        for (name, v) in m.trainable() {
            if name.contains("lora_B") {
                let n = v.as_tensor().elem_count();
                let vals: Vec<f32> = (0..n).map(|_| (r.next_f64() as f32 - 0.5) * 0.2).collect();
                v.set(&Tensor::from_vec(vals, v.as_tensor().shape(), &Device::Cpu).unwrap())
                    .unwrap();
            }
            adapters.insert(name, v.as_tensor().clone());
        }
        let ids = Tensor::new(&[IDS], &Device::Cpu).unwrap();
        let want = m.forward(&ids).unwrap();
        let out = dir.path().join("merged.gguf");
        let merged =
            distillery::train::merge::merge(&base, &adapters, 2.0, "test student", &out).unwrap();
        assert_eq!(merged.merged, 14, "7 projections × 2 layers");
        let mut plain = TrainModel::from_gguf(
            &out,
            &LoraConfig { targets: vec![], ..lora.clone() },
            DType::F32,
        )
        .unwrap();
        plain.train = false;
        let got = plain.forward(&ids).unwrap();
        let diff = (want.clone() - got)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-4, "q8={q8}: the merged model's logits differ by {diff}");
        let mut f = std::fs::File::open(&out).unwrap();
        let ct = gguf_file::Content::read(&mut f).unwrap();
        assert_eq!(ct.metadata["general.name"].to_string().unwrap(), "test student");
        assert_eq!(
            ct.tensor_infos["blk.0.attn_q.weight"].ggml_dtype,
            candle_core::quantized::GgmlDType::F32
        );
        if q8 {
            assert_eq!(
                ct.tensor_infos["token_embd.weight"].ggml_dtype,
                candle_core::quantized::GgmlDType::Q8_0
            );
            continue;
        }
        // The inference engine loads it and agrees.
        let last = Engine::open(&out, distillery::llm::engine::Isa::Scalar, 1, 16)
            .unwrap()
            .last_logits(&IDS)
            .unwrap();
        let w: Vec<f32> = want.get(0).unwrap().get(IDS.len() - 1).unwrap().to_vec1().unwrap();
        let d = last.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d < 1e-4, "the engine's logits on the merged file differ by {d}");
        // An adapter of another shape is refused, and nothing is written.
        let mut wrong = adapters.clone();
        wrong.insert(
            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight".into(),
            Tensor::zeros((5, 4), DType::F32, &Device::Cpu).unwrap(),
        );
        let bad = dir.path().join("bad.gguf");
        let e = distillery::train::merge::merge(&base, &wrong, 2.0, "x", &bad).unwrap_err();
        assert!(e.contains("blk.0.attn_q.weight") && e.contains("another model"), "{e}");
        assert!(!bad.exists());
    }
}

fn cli(ws: &Path, models: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_distillery"))
        .arg("-w")
        .arg(ws)
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .env("DISTILLERY_MODELS", models)
        .output()
        .unwrap()
}

#[test]
fn a_round_trains_evaluates_exports_and_seeds_llm2llm() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, _) = Workspace::init(&dir.path().join("ws")).unwrap();
    let models = dir.path().join("models");
    let mut s = ws.store().unwrap();
    let rows: Vec<NewSample> = (0..6)
        .map(|i| NewSample {
            text: SampleText::new("Add the numbers.", format!("{i} + 2"), (i + 2).to_string()),
            task: Some("two-number sums".into()),
            provenance: Provenance { origin: "generated".into(), ..Provenance::default() },
        })
        .collect();
    s.insert_samples(&rows).unwrap();
    s.decide(&crate::common::decision((1..=6).collect(), DecisionKind::Accept)).unwrap();
    let seed = SeedTask {
        name: Some("two-number sums".into()),
        instruction: "Add the numbers.".into(),
        instances: vec![Instance { input: "3 + 4".into(), output: "7".into() }],
        is_classification: Some(false),
    };
    s.insert_seeds(&[NewSeed {
        seed,
        task: Some("two-number sums".into()),
        source: "test".into(),
    }])
    .unwrap();
    assert_eq!(
        s.seed_tasks().unwrap(),
        vec!["two-number sums".to_string()],
        "what the training dialog offers"
    );
    let items: Vec<(EvalItem, String)> = (0..3)
        .map(|i| {
            (
                EvalItem {
                    task: Some("two-number sums".into()),
                    instruction: "Add the numbers.".into(),
                    input: format!("{i} + 5"),
                    reference: (i + 5).to_string(),
                    scorer: "number".into(),
                },
                "test".into(),
            )
        })
        .collect();
    s.insert_eval_items(&items).unwrap();
    let base = dir.path().join("tiny.gguf");
    write_tiny_llama(&base, &TinyOptions { tied: true, q4_1: true, ..TinyOptions::default() })
        .unwrap();
    let base = base.to_str().unwrap();

    // Before any run, eval scores the base alone.
    let out = cli(&ws.dir, &models, &["eval", "--max-tokens", "8", "--base", base]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("base"));

    // A run cancelled through its cancel file stops after a step, with a checkpoint of it.
    let ws_dir = ws.dir.clone();
    let watcher = std::thread::spawn(move || {
        let progress = ws_dir.join("runs/1").join(distillery::train::PROGRESS);
        for _ in 0..600 {
            if std::fs::read_to_string(&progress).is_ok_and(|t| t.lines().count() >= 2) {
                std::fs::write(ws_dir.join("runs/1").join(distillery::train::CANCEL), "").unwrap();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let out = cli(
        &ws.dir,
        &models,
        &[
            "train",
            "--base",
            base,
            "--epochs",
            "50",
            "--batch",
            "2",
            "--checkpoint-every",
            "0",
            "--lr",
            "0.01",
        ],
    );
    watcher.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("cancel asked for") && err.contains("synthetic_share 1.000"), "{err}");
    let run = s.run(1).unwrap().unwrap();
    assert_eq!(run.status, distillery::store::RunStatus::Cancelled);
    let steps = std::fs::read_to_string(ws.dir.join("runs/1").join(distillery::train::PROGRESS))
        .unwrap()
        .lines()
        .count();
    assert!((2..150).contains(&steps), "{steps} steps");
    let (ck, _) =
        distillery::train::checkpoint::latest(&ws.dir.join("runs/1/checkpoints")).unwrap();
    assert_eq!(ck.unwrap().state.step, steps, "the cancelled step was checkpointed");

    // eval: the student joins the base; its wrong answers on its training items are stored.
    let out = cli(&ws.dir, &models, &["eval", "--max-tokens", "8"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("base")
            && text.contains("round 1")
            && text.contains("exact match")
            && text.contains("loss"),
        "{text}"
    );
    // Every row of the table ends in the same column, the long task's rows too.
    let table: Vec<&str> = text
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("warning") && !l.contains("wrong answers"))
        .collect();
    let widths: std::collections::BTreeSet<usize> =
        table.iter().map(|l| l.chars().count()).collect();
    assert!(
        table.iter().any(|l| l.contains("two-number sums: verifier pass")) && widths.len() == 1,
        "{text}"
    );
    let m = s.metrics().unwrap();
    for run in [None, Some(1)] {
        let loss =
            m.iter().find(|x| x.run_id == run && x.task.is_none() && x.metric == "loss").unwrap();
        assert!(loss.value.is_finite() && loss.value > 0.0 && loss.n == 3, "{loss:?}");
        assert!(m.iter().any(|x| x.run_id == run
            && x.task.as_deref() == Some("two-number sums")
            && x.metric == "exact_match"));
    }
    assert!(m.iter().any(|x| x.run_id == Some(1) && x.metric == "guard.distinct_2"));
    let failures = s.failures(None).unwrap();
    // A random tiny model gets (nearly) everything wrong: 1 seed + 6 samples asked.
    assert!(failures.len() >= 5, "{failures:?}");
    assert!(failures.iter().any(|f| f.kind == "seed" && f.reference == "7"));

    // llm2llm starts from those failures, linked to them.
    let srcs =
        distillery::recipes::dispatch::sources(&s, "llm2llm".parse().unwrap(), None, None).unwrap();
    assert_eq!(srcs.len(), failures.len());
    assert!(srcs.iter().any(|x| x.seed_id == Some(1) && x.text.output == "7"));

    // export-model: a GGUF the engine loads.
    let gguf = dir.path().join("out/student.gguf");
    let out = cli(&ws.dir, &models, &["export-model", "-o", gguf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--model"));
    distillery::llm::LocalModel::load(&gguf).unwrap();
}

/// A Hugging Face folder holding the same model as a tiny GGUF: HF names, q's and k's rows
/// un-permuted, config.json, tokenizer.json.
fn hf_folder_of(gguf: &Path, dir: &Path) {
    use distillery::train::export::unpermute_rows;
    std::fs::create_dir_all(dir).unwrap();
    let mut f = std::fs::File::open(gguf).unwrap();
    let ct = gguf_file::Content::read(&mut f).unwrap();
    let u = |k: &str| ct.metadata[k].to_u32().unwrap() as usize;
    let (heads, kv) = (u("llama.attention.head_count"), u("llama.attention.head_count_kv"));
    let mut out = HashMap::new();
    for name in ct.tensor_infos.keys() {
        let t = ct.tensor(&mut f, name, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap();
        let hf = match name.as_str() {
            "token_embd.weight" => "model.embed_tokens.weight".to_string(),
            "output.weight" => "lm_head.weight".to_string(),
            "output_norm.weight" => "model.norm.weight".to_string(),
            n => {
                let rest = n.strip_prefix("blk.").unwrap();
                let (layer, m) = rest.split_once('.').unwrap();
                let m = m.strip_suffix(".weight").unwrap();
                let module = match m {
                    "attn_norm" => "input_layernorm",
                    "ffn_norm" => "post_attention_layernorm",
                    m => Target::ALL.into_iter().find(|t| t.gguf() == m).unwrap().hf(),
                };
                format!("model.layers.{layer}.{module}.weight")
            }
        };
        let t = if hf.ends_with("q_proj.weight") {
            unpermute_rows(&t, heads).unwrap()
        } else if hf.ends_with("k_proj.weight") {
            unpermute_rows(&t, kv).unwrap()
        } else {
            t
        };
        out.insert(hf, t);
    }
    candle_core::safetensors::save(&out, dir.join("model.safetensors")).unwrap();
    let config = serde_json::json!({
        "model_type": "llama", "hidden_size": u("llama.embedding_length"), "num_attention_heads": heads, "num_key_value_heads": kv,
        "num_hidden_layers": u("llama.block_count"), "intermediate_size": u("llama.feed_forward_length"),
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": !ct.tensor_infos.contains_key("output.weight"),
        "_name_or_path": "tiny/llama"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    distillery::llm::tokenizer::from_gguf(&ct.metadata, gguf)
        .unwrap()
        .save(dir.join("tokenizer.json"), false)
        .unwrap();
}

#[test]
fn a_hugging_face_folder_trains_like_its_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_tiny_llama(&gguf, &TinyOptions { seed: 4, ..TinyOptions::default() }).unwrap();
    let hf = dir.path().join("tiny-hf");
    hf_folder_of(&gguf, &hf);
    let lora =
        LoraConfig { rank: 2, alpha: 4.0, dropout: 0.0, targets: Target::ALL.to_vec(), seed: 2 };
    let ids = Tensor::new(&[IDS], &Device::Cpu).unwrap();
    let mut a = TrainModel::from_gguf(&gguf, &lora, DType::F32).unwrap();
    let mut b = TrainModel::from_path(&hf, &lora, DType::F32).unwrap();
    let d = (a.forward(&ids).unwrap() - b.forward(&ids).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-5, "the folder's logits differ from the GGUF's by {d}");
    let fa = distillery::train::data::Formatter::from_gguf(&gguf).unwrap();
    let fb = distillery::train::data::Formatter::from_path(&hf).unwrap();
    let t = SampleText::new("say hello", "", "hello hello");
    assert_eq!(fa.example("x".into(), &t).unwrap(), fb.example("x".into(), &t).unwrap());
    // The CLI trains on the folder and exports the adapter; merging asks for a GGUF.
    let (ws, _) = Workspace::init(&dir.path().join("ws")).unwrap();
    let mut s = ws.store().unwrap();
    s.insert_samples(&[NewSample {
        text: t,
        task: None,
        provenance: Provenance { origin: "generated".into(), ..Provenance::default() },
    }])
    .unwrap();
    s.decide(&crate::common::decision(vec![1], DecisionKind::Accept)).unwrap();
    let models = dir.path().join("models");
    let out = cli(&ws.dir, &models, &["train", "--base", hf.to_str().unwrap(), "--epochs", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let adapter = dir.path().join("adapter");
    let out = cli(&ws.dir, &models, &["export-adapter", "-o", adapter.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["base_model_name_or_path"], "tiny/llama");
    let out =
        cli(&ws.dir, &models, &["export-model", "-o", dir.path().join("m.gguf").to_str().unwrap()]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("need a GGUF base"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Evaluating a model: its greedy answers to prompts, scored against references, and its mean
//! loss on the reference answers (the same loss training minimises, on the response tokens only).

use super::data::Example;
use super::model::TrainModel;
use crate::llm::{GenParams, Generator, LlmError};
use crate::sample::SampleText;

pub use crate::judge::score::{correct, scorer_for, TEXT_ROUGE};

/// The model's greedy answer to each prompt (`text.output` is ignored), at most `max_tokens`;
/// several prompts in flight at once (the local engine decodes them as one batch). `on` hears
/// how many are answered, in order.
pub fn answer_all(
    model: &mut dyn Generator,
    prompts: &[SampleText],
    max_tokens: usize,
    on: &mut dyn FnMut(usize),
) -> Result<Vec<String>, LlmError> {
    let p = GenParams { temperature: 0.0, max_tokens, ..GenParams::default() };
    let mut out = Vec::with_capacity(prompts.len());
    let mut failed = None;
    let work = |m: &mut dyn Generator, t: &SampleText| {
        let mut msgs = SampleText { output: String::new(), ..t.clone() }.to_messages();
        msgs.pop();
        m.generate(&msgs, &p, 1).map(|mut c| c.remove(0).text.trim().to_owned())
    };
    let mut commit = |i: usize, answer: Result<String, LlmError>| match answer {
        Ok(a) => {
            out.push(a);
            on(i + 1);
            true
        }
        Err(e) => {
            failed = Some(e);
            false
        }
    };
    let width = crate::llm::parallel::width(model, 1, 32);
    let never = std::sync::atomic::AtomicBool::new(false);
    crate::llm::parallel::run_ordered(
        model,
        width,
        &never,
        &mut |i| prompts.get(i),
        &work,
        &mut commit,
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The mean cross-entropy per response token over `examples`, in batches of `batch`, with
/// dropout off, and the number of response tokens it is the mean of.
pub fn mean_loss(
    model: &mut TrainModel,
    examples: &[Example],
    batch: usize,
) -> candle_core::Result<(f64, usize)> {
    model.train = false;
    let (mut sum, mut n) = (0.0, 0usize);
    let idx: Vec<usize> = (0..examples.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let (ids, targets, mask, _) = super::run::batch(examples, chunk)?;
        // A batch without response tokens has no loss to count.
        let Some((loss, k)) = model.loss(&ids, &targets, &mask)? else { continue };
        sum += loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()? * k as f64;
        n += k;
    }
    Ok((if n == 0 { f64::NAN } else { sum / n as f64 }, n))
}

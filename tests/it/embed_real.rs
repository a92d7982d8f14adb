//! The real all-MiniLM-L6-v2 (fetched by `distillery models fetch`; CI fetches it): unit vectors
//! of 384, paraphrases close and unrelated texts far, and padding in a batch changing nothing.
//! Outside CI the test says so and passes when the model is absent; in CI it must be there.

use distillery::judge::embed::{cosine, default_dir, Embedder};

fn model() -> Option<Embedder> {
    let dir = default_dir();
    if !dir.join("model.safetensors").exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must fetch the model first: {} is missing",
            dir.display()
        );
        eprintln!("SKIPPED: {} is missing; run `distillery models fetch`", dir.display());
        return None;
    }
    Some(Embedder::load(&dir).expect("the real embedding model loads"))
}

#[test]
fn real_minilm_embeds_paraphrases_close_and_pads_without_effect() {
    let Some(e) = model() else { return };
    let texts = [
        "A man is playing a guitar.",
        "Someone plays the guitar.",
        "The central bank raised interest rates again this quarter, citing persistent inflation.",
        "How do I bake bread at home?",
    ];
    let v = e.embed(&texts).unwrap();
    assert_eq!(v.len(), 4);
    for x in &v {
        assert_eq!(x.len(), 384);
        let n: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "unit length: {n}");
    }
    let para = cosine(&v[0], &v[1]);
    let far = cosine(&v[0], &v[2]);
    eprintln!("paraphrase {para:.3}, unrelated {far:.3}, bread/guitar {:.3}", cosine(&v[3], &v[0]));
    assert!(para > 0.7, "paraphrases are close: {para}");
    assert!(far < 0.2, "unrelated texts are far: {far}");
    assert!(para > far + 0.5);
    // The short text alone (no padding) gives the vector it got in the padded batch.
    let alone = e.embed(&texts[..1]).unwrap();
    let drift: f32 = alone[0].iter().zip(&v[0]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(drift < 1e-4, "padding leaks into the mean: {drift}");
}

#[test]
fn real_minilm_clusters_long_answers_that_say_the_same() {
    use distillery::judge::vote::{cluster, tally, Ballot};
    let Some(e) = model() else { return };
    let answers = [
        "The sky looks blue because molecules in the air scatter short blue wavelengths of sunlight much more strongly than the longer red ones, so blue light reaches our eyes from every direction.",
        "Sunlight is scattered by the gases of the atmosphere, and blue light, having a shorter wavelength, is scattered far more than red, which is why we see a blue sky all around us.",
        "To make a good sourdough loaf you feed the starter the night before, mix flour and water, let the dough rise slowly, shape it, and bake it hot in a covered pot.",
        "Blue light has a short wavelength and the air's molecules scatter it much more than other colours (Rayleigh scattering), so the sky appears blue to us during the day.",
    ];
    let ballots: Vec<Ballot> =
        answers.iter().map(|a| Ballot { text: (*a).into(), logprobs: vec![] }).collect();
    let mut v = tally(&ballots);
    assert_eq!(v.unanswered.len(), 4, "long free text has no extractable answer");
    let texts: Vec<&str> = answers.to_vec();
    let vecs = e.embed(&texts).unwrap();
    cluster(&mut v, &ballots, &vecs);
    let groups: Vec<Vec<usize>> = v.groups.iter().map(|g| g.members.clone()).collect();
    eprintln!(
        "clusters {groups:?}; cosines to the first: {:?}",
        vecs.iter().map(|x| cosine(&vecs[0], x)).collect::<Vec<_>>()
    );
    assert_eq!(groups, vec![vec![0, 1, 3], vec![2]]);
    assert!((v.agreement() - 0.75).abs() < 1e-9);
    let own = e.embed(&["Because air molecules scatter blue sunlight more than red light, the daytime sky is blue."]).unwrap();
    assert_eq!(v.agrees_in_meaning(&own[0]), Some(true));
    let off = e.embed(&["Bake the loaf in a covered pot after a slow rise."]).unwrap();
    assert_eq!(v.agrees_in_meaning(&off[0]), Some(false));
}

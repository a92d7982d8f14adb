//! Near-duplicates on a narrow task: every sample shares the task's instruction, so what tells
//! them apart is the input, and numbers most of all. On the demo's arithmetic candidates,
//! accepting the 20 distinct problems one after another asks for no confirmation; a real copy
//! asks once, naming the part that matched.

use super::cli::bin;
use distillery::sample::SampleText;
use distillery::store::{DecisionKind, NewSample, Provenance, Store};

fn import(ws: &std::path::Path, file: &str) {
    let path = format!("{}/sample-data/arithmetic/{file}", env!("CARGO_MANIFEST_DIR"));
    let o = bin().arg("-w").arg(ws).args(["import", &path, "--task", "arithmetic"]).output();
    assert!(o.unwrap().status.success());
}

fn accept(s: &mut Store, id: i64) {
    s.decide(&crate::common::decision(vec![id], DecisionKind::Accept)).unwrap();
}

#[test]
fn distinct_problems_of_one_task_are_not_near_duplicates_and_a_copy_is() {
    let ws = super::cli::workspace();
    import(ws.path(), "seeds.jsonl");
    import(ws.path(), "candidates.jsonl");
    let mut s = Store::open(&ws.path().join("distillery.db")).unwrap();
    let n = s.sample_count().unwrap();
    assert_eq!(n, 20);
    let mut asked = Vec::new();
    for id in 1..=n {
        if let Some(nb) = s.nearest(id).unwrap().filter(|nb| nb.near) {
            asked.push((id, nb.id, nb.why()));
        }
        accept(&mut s, id);
    }
    assert!(asked.is_empty(), "confirmations for distinct problems: {asked:#?}");
    // The first candidate again, reworded a little: a copy.
    let first = s.sample(1).unwrap().current;
    let copy = SampleText {
        input: first.input.replace(" How many", " So how many"),
        output: first.output.clone(),
        ..first.clone()
    };
    s.insert_samples(&[NewSample {
        text: copy,
        task: Some("arithmetic".into()),
        provenance: Provenance::imported("copy.jsonl:1".into()),
    }])
    .unwrap();
    let nb = s.nearest(n + 1).unwrap().unwrap();
    assert!(nb.near && nb.id == 1, "{nb:?}");
    assert!(nb.why().contains("on the input"), "{}", nb.why());
}

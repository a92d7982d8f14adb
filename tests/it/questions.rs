//! The labelled seed questions rejection sampling starts from: the sample data's never overlap
//! the held-out items, and GSM8K's `#### N` answers import as references.

#[test]
fn labelled_questions_never_overlap_the_held_out_items() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    for task in ["arithmetic", "extraction"] {
        let read = |f: &str| -> Vec<serde_json::Value> {
            std::fs::read_to_string(root.join(task).join(f))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let held: Vec<String> =
            read("eval.jsonl").iter().map(|v| v["input"].as_str().unwrap().to_owned()).collect();
        let questions = read("questions.jsonl");
        assert!(questions.len() >= 200, "{task}: {} questions", questions.len());
        let mut seen = std::collections::HashSet::new();
        for q in &questions {
            let inst = &q["instances"][0];
            let input = inst["input"].as_str().unwrap();
            assert!(
                !inst["output"].as_str().unwrap().is_empty(),
                "{task}: a question without its reference"
            );
            assert!(!held.iter().any(|h| h == input), "{task}: {input:?} is also held out");
            assert!(seen.insert(input.to_owned()), "{task}: {input:?} twice");
        }
        for f in ["seeds.jsonl", "candidates.jsonl"] {
            for v in read(f) {
                let input = v["instances"][0]["input"].as_str().or(v["input"].as_str()).unwrap();
                assert!(
                    !seen.contains(input) && !held.iter().any(|h| h == input),
                    "{task}/{f}: {input:?} overlaps"
                );
            }
        }
    }
}

#[test]
fn gsm8k_answers_import_as_seed_references() {
    let line = r#"{"question": "Natalia sold 48 clips in April and half as many in May. How many altogether?", "answer": "48/2 = 24.\n48+24 = 72\n#### 72"}"#;
    let file = std::path::Path::new("gsm8k.jsonl");
    let recs = distillery::formats::read_records(file, line.as_bytes()).unwrap();
    let (format, parsed) =
        distillery::formats::parse_records(file, &recs, distillery::formats::Format::Auto, None)
            .unwrap();
    assert_eq!(format, distillery::formats::Format::Seeds);
    let distillery::formats::Parsed::Seeds(seeds) = parsed else { panic!("seeds") };
    let seed = &seeds[0].1;
    assert!(seed.instruction.starts_with("Natalia"));
    let reference = &seed.instances[0].output;
    let c = distillery::judge::score::reference_check("So the answer is 72.", reference);
    assert_eq!(c.passed, Some(true), "{c:?}");
    assert_eq!(distillery::judge::score::reference_check("70", reference).passed, Some(false));
}

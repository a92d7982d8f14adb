//! Self-Instruct (Alpaca): few-shot prompts from seed tasks, parsing of the numbered
//! `Instruction / Input / Output` the teacher continues with, and the filters that drop
//! near-copies (ROUGE-L > 0.7), blacklisted keywords and bad lengths, recording why.

use crate::sample::SampleText;
use crate::text::rouge::{most_similar, words};

/// Keywords Self-Instruct drops: tasks a text model cannot do.
pub const BLACKLIST: &[&str] = &[
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
];

/// Similarity above which a candidate is dropped.
pub const MAX_ROUGE_L: f64 = 0.7;

/// One few-shot example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub instruction: String,
    pub input: String,
    pub output: String,
}

/// Renders the prompt from the template: `{examples}` becomes the numbered examples, `{next}` the
/// number the teacher continues with. When every example shares one instruction (a narrow
/// task), the prompt also writes that instruction and opens the input, so the teacher only
/// writes a new input and output. Returns the prompt and the start of the new example that the
/// prompt already holds (to put before the continuation when parsing).
pub fn prompt(template: &str, examples: &[Example]) -> (String, String) {
    let mut ex = String::new();
    for (i, e) in examples.iter().enumerate() {
        let input = if e.input.trim().is_empty() { "<noinput>" } else { e.input.trim() };
        ex.push_str(&format!(
            "{n}. Instruction: {}\n{n}. Input: {input}\n{n}. Output: {}\n\n",
            e.instruction.trim(),
            e.output.trim(),
            n = i + 1
        ));
    }
    let next = examples.len() + 1;
    let text = template.replace("{examples}", ex.trim_end()).replace("{next}", &next.to_string());
    let shared = examples
        .first()
        .map(|e| e.instruction.trim())
        .filter(|i| examples.iter().all(|e| e.instruction.trim() == *i));
    match shared {
        Some(instr) => {
            let opened = format!(" {instr}\n{next}. Input:");
            (format!("{text}{opened}"), format!("{next}. Instruction:{opened}"))
        }
        None => (text, format!("{next}. Instruction:")),
    }
}

/// Parses one generated example, `text` starting at `N. Instruction:`. Returns it, or why not.
pub fn parse(text: &str, n: usize) -> Result<SampleText, String> {
    let tag = format!("{n}. Instruction:");
    let text = text.trim_start();
    // The teacher may repeat the `N. Instruction:` the prompt ended with.
    let body = text.strip_prefix(&tag).unwrap_or(text).trim_start();
    let body = body.strip_prefix(&tag).unwrap_or(body);
    let text = format!("{tag} {}", body.trim_start());
    let field = |name: &str| -> Option<String> {
        let tag = format!("{n}. {name}:");
        let start = text.find(&tag)? + tag.len();
        let rest = &text[start..];
        // A field ends at the next numbered field of any example.
        let end = (0..rest.len())
            .filter(|&i| rest.is_char_boundary(i))
            .find(|&i| {
                let r = &rest[i..];
                (i == 0 || rest[..i].ends_with('\n'))
                    && r.split_once(". ").is_some_and(|(num, tail)| {
                        !num.is_empty()
                            && num.chars().all(|c| c.is_ascii_digit())
                            && ["Instruction:", "Input:", "Output:"]
                                .iter()
                                .any(|t| tail.starts_with(t))
                    })
            })
            .unwrap_or(rest.len());
        Some(rest[..end].trim().to_owned())
    };
    let instruction = field("Instruction").filter(|s| !s.is_empty()).ok_or("no instruction")?;
    let input = field("Input").ok_or("no input field")?;
    let output = field("Output").filter(|s| !s.is_empty()).ok_or("no output")?;
    let input = if input.eq_ignore_ascii_case("<noinput>") { String::new() } else { input };
    Ok(SampleText::new(instruction, input, output))
}

/// Why a candidate was dropped, or its nearest neighbour when kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep { most_similar: Option<(usize, f64)> },
    Drop(String),
}

/// Self-Instruct's filters. `pool` holds the word lists of every seed and kept candidate
/// (instruction + input, since a narrow task's samples share one instruction).
pub fn filter(t: &SampleText, pool: &[Vec<String>]) -> Verdict {
    let n = words(&t.instruction).len();
    if !(3..=150).contains(&n) {
        return Verdict::Drop(format!("instruction has {n} words (3–150 allowed)"));
    }
    let lower = format!("{} {}", t.instruction, t.input).to_lowercase();
    let ws = words(&lower);
    let listed =
        |k: &&&str| if k.contains(' ') { lower.contains(**k) } else { ws.iter().any(|w| w == **k) };
    if let Some(k) = BLACKLIST.iter().find(listed) {
        return Verdict::Drop(format!("blacklisted keyword {k:?}"));
    }
    if t.instruction.starts_with(|c: char| c.is_ascii_punctuation())
        || !t.instruction.starts_with(|c: char| c.is_ascii())
    {
        return Verdict::Drop(
            "instruction starts with punctuation or a non-ASCII character".into(),
        );
    }
    if t.instruction.to_lowercase().starts_with("write a program") {
        return Verdict::Drop("asks for a program".into());
    }
    let best = most_similar(&words(&format!("{} {}", t.instruction, t.input)), pool);
    match best {
        Some((i, s)) if s > MAX_ROUGE_L => {
            Verdict::Drop(format!("too similar (ROUGE-L {s:.2}) to #{i} of the pool"))
        }
        other => Verdict::Keep { most_similar: other },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = " Solve the word problem. Answer with just the number.\n3. Input: Mei has 12 pears and eats 5. How many pears are left?\n3. Output: 7\n\n4. Instruction: Solve";

    #[test]
    fn parses_a_recorded_continuation() {
        let t = parse(&format!("3. Instruction:{RECORDED}"), 3).unwrap();
        assert_eq!(t.instruction, "Solve the word problem. Answer with just the number.");
        assert_eq!(t.input, "Mei has 12 pears and eats 5. How many pears are left?");
        assert_eq!(t.output, "7");
    }

    #[test]
    fn malformed_outputs_say_what_is_missing() {
        assert_eq!(parse("3. Instruction:", 3).unwrap_err(), "no instruction");
        assert_eq!(
            parse("3. Instruction: Add two numbers.\n3. Output: 4", 3).unwrap_err(),
            "no input field"
        );
        assert_eq!(parse("3. Instruction: Add.\n3. Input: 2 and 2\n", 3).unwrap_err(), "no output");
        assert_eq!(
            parse("3. Instruction: Tell a joke.\n3. Input: <noinput>\n3. Output: Why?", 3)
                .unwrap()
                .input,
            ""
        );
        assert_eq!(
            parse("3. Instruction: 3. Instruction: Add.\n3. Input: 1\n3. Output: 1", 3)
                .unwrap()
                .instruction,
            "Add."
        );
    }

    #[test]
    fn filters_record_why() {
        let seed = SampleText::new(
            "Solve the word problem. Answer with just the number.",
            "Tom has 3 apples and gets 2 more.",
            "5",
        );
        let pool = vec![words(&format!("{} {}", seed.instruction, seed.input))];
        assert!(matches!(filter(&seed, &pool), Verdict::Drop(r) if r.contains("ROUGE-L 1.00")));
        let new = SampleText::new(
            seed.instruction.clone(),
            "Priya bakes 14 cakes and sells 9 of them at the fair.",
            "5",
        );
        assert!(
            matches!(filter(&new, &pool), Verdict::Keep { most_similar: Some((0, s)) } if s < 0.7)
        );
        assert!(
            matches!(filter(&SampleText::new("Draw a picture of a cat please", "", "x"), &pool), Verdict::Drop(r) if r.contains("picture"))
        );
        assert!(
            matches!(filter(&SampleText::new("Hi", "", "x"), &pool), Verdict::Drop(r) if r.contains("words"))
        );
        assert!(matches!(
            filter(&SampleText::new("Write a program that adds numbers", "", "x"), &pool),
            Verdict::Drop(_)
        ));
    }

    #[test]
    fn prompt_numbers_the_examples_and_opens_a_shared_instruction() {
        let e = |i: &str| Example { instruction: i.into(), input: "".into(), output: "4".into() };
        let (p, prefix) = prompt("{examples}\n{next}. Instruction:", &[e("Add."), e("Sub.")]);
        assert_eq!(p, "1. Instruction: Add.\n1. Input: <noinput>\n1. Output: 4\n\n2. Instruction: Sub.\n2. Input: <noinput>\n2. Output: 4\n3. Instruction:");
        assert_eq!(prefix, "3. Instruction:");
        let (p, prefix) = prompt("{examples}\n{next}. Instruction:", &[e("Add."), e("Add.")]);
        assert!(p.ends_with("3. Instruction: Add.\n3. Input:"), "{p}");
        let t = parse(&format!("{prefix} 7 and 8\n3. Output: 15"), 3).unwrap();
        assert_eq!(
            (t.instruction.as_str(), t.input.as_str(), t.output.as_str()),
            ("Add.", "7 and 8", "15")
        );
    }
}

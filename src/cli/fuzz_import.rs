//! `distillery debug fuzz-import`: a mutation fuzzer for the importers (not coverage-guided).
//! It mutates a corpus of every input format (bit flips, JSON tokens, cut, repeated and spliced
//! spans), reads each result with every `--format`, and stages every eighth one into an in-memory
//! store. A panic is a crash and an input that takes over a second is a hang; both are saved.

use crate::formats::{import_stream, Format, ImportOptions, RecordParser, RecordReader};
use crate::store::Store;
use std::path::Path;
use std::time::{Duration, Instant};

/// One valid record of each shape the importers read.
const CORPUS: &[&str] = &[
    r#"{"instruction":"a","input":"b","output":"c","system":"s","history":[["q","r"]],"id":1}"#,
    r#"{"conversations":[{"from":"system","value":"s"},{"from":"human","value":"a"},{"from":"gpt","value":"b"}]}"#,
    r#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":"b","weight":1}]}"#,
    r#"{"prompt":"a","completion":"b"}"#,
    r#"{"prompt":[{"role":"user","content":"a"}],"completion":[{"role":"assistant","content":"b"}]}"#,
    r#"{"prompt":"a","chosen":"b","rejected":"c"}"#,
    r#"{"chosen":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],"rejected":[{"role":"user","content":"a"},{"role":"assistant","content":"c"}]}"#,
    r#"{"input":{"messages":[{"role":"user","content":"a"}]},"preferred_output":[{"role":"assistant","content":"b"}],"non_preferred_output":[{"role":"assistant","content":"c"}]}"#,
    r#"{"instruction":"a","input":"","chosen":"b","rejected":"c"}"#,
    r#"{"conversations":[{"from":"human","value":"a"}],"chosen":{"from":"gpt","value":"b"},"rejected":{"from":"gpt","value":"c"}}"#,
    r#"{"instruction":"a","instances":[{"input":"x","output":"y"}],"is_classification":false,"name":"n"}"#,
    r#"{"question":"a","answer":"b #### 4"}"#,
    r#"{"task":"t","instruction":"a","input":"","reference":4,"scorer":"number"}"#,
];

const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"1e309",
    b"-0",
    b"\"\\ud800\"",
    b"{}",
    b"[]",
    b"\"weight\":0,",
    b"\"tool_calls\":[],",
    b"\"role\":\"system\",",
    b"\xef\xbb\xbf",
    b"\n",
    b"\\u0000",
    b"\"a\":1,",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\xff",
    b"\xc3",
];

/// A small, fast generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A file built from corpus records: JSON Lines or one array.
fn seed_input(rng: &mut Rng) -> Vec<u8> {
    let n = 1 + rng.below(4);
    let first = rng.below(CORPUS.len());
    let recs: Vec<&str> = (0..n)
        .map(|i| {
            if i == 0 || rng.below(3) > 0 {
                CORPUS[first]
            } else {
                CORPUS[rng.below(CORPUS.len())]
            }
        })
        .collect();
    if rng.below(3) == 0 {
        format!("[{}]", recs.join(",\n")).into_bytes()
    } else {
        (recs.join("\n") + "\n").into_bytes()
    }
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8)
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, t.iter().copied());
            }
            2 if at < data.len() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 if at < data.len() => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                let span = data[at..end].to_vec();
                data.splice(at..at, span);
            }
            4 => {
                let other = CORPUS[rng.below(CORPUS.len())].as_bytes();
                let from = rng.below(other.len());
                data.splice(at..at, other[from..].iter().copied());
            }
            _ if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] = rng.next() as u8
            }
            _ => {}
        }
    }
}

const FORMATS: &[Format] = &[
    Format::Auto,
    Format::Alpaca,
    Format::Sharegpt,
    Format::Openai,
    Format::PromptCompletion,
    Format::Preference,
    Format::OpenaiPreference,
    Format::AlpacaPreference,
    Format::SharegptPreference,
    Format::Seeds,
    Format::Eval,
];

/// Reads `data` with every format; the number of records read without an error.
fn read_all(data: &[u8]) -> usize {
    let name = Path::new("fuzz.jsonl");
    let mut ok = 0;
    for &format in FORMATS {
        let mut reader = RecordReader::new(name, data);
        let mut parser = RecordParser::new(name, format, None);
        while let Some(r) = reader.next_record() {
            match r.and_then(|r| parser.parse(&r)) {
                Ok(_) => ok += 1,
                Err(e) => {
                    std::hint::black_box(e.to_string());
                    break;
                }
            }
        }
    }
    ok
}

fn stage(data: &[u8]) -> anyhow::Result<()> {
    let mut store = Store::open_in_memory()?;
    let opts = ImportOptions { format: Format::Auto, as_: None, task: None };
    let _ = import_stream(&mut store, Path::new("fuzz.jsonl"), data, &opts);
    anyhow::ensure!(store.staged_rows()? == 0, "an import left staged rows behind");
    Ok(())
}

/// Runs for `seconds`, saving crashes and hangs under `out`; fails when any was found.
pub fn run(seconds: u64, seed: u64, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let (mut runs, mut records, mut crashes, mut hangs, mut slowest) =
        (0u64, 0u64, 0, 0, Duration::ZERO);
    while start.elapsed() < Duration::from_secs(seconds) {
        let mut data = seed_input(&mut rng);
        mutate(&mut rng, &mut data);
        let t = Instant::now();
        let staged = runs % 8 == 0;
        let res = std::panic::catch_unwind(|| {
            let n = read_all(&data);
            if staged {
                stage(&data).map(|_| n)
            } else {
                Ok(n)
            }
        });
        let took = t.elapsed();
        slowest = slowest.max(took);
        match res {
            Ok(Ok(n)) => records += n as u64,
            _ => {
                crashes += 1;
                if crashes <= 100 {
                    std::fs::write(out.join(format!("crash-{runs}.json")), &data)?;
                }
            }
        }
        if took > Duration::from_secs(1) {
            hangs += 1;
            std::fs::write(out.join(format!("hang-{runs}.json")), &data)?;
        }
        runs += 1;
    }
    let _ = std::panic::take_hook();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz import: {runs} inputs in {secs:.0} s ({:.0}/s), {records} records read, {crashes} crashes, {hangs} hangs (over 1 s), slowest {:.1} ms",
        runs as f64 / secs,
        slowest.as_secs_f64() * 1e3
    );
    anyhow::ensure!(crashes == 0 && hangs == 0, "saved under {}", out.display());
    Ok(())
}

//! Editing a sample in `$EDITOR`: the text goes to a temp file with one marked section per field.

use crate::sample::SampleText;
use std::process::Command;

const MARK: &str = "### distillery:";

/// Renders the editable document.
pub fn to_document(t: &SampleText) -> String {
    format!(
        "{MARK} instruction\n{}\n{MARK} input\n{}\n{MARK} output\n{}\n",
        t.instruction, t.input, t.output
    )
}

/// Parses the edited document back; fails when a section marker was removed.
pub fn from_document(doc: &str, base: &SampleText) -> Result<SampleText, String> {
    let mut fields: [Option<String>; 3] = [None, None, None];
    let mut current: Option<usize> = None;
    let mut buf: Vec<&str> = Vec::new();
    let names = ["instruction", "input", "output"];
    let flush = |cur: Option<usize>, buf: &mut Vec<&str>, fields: &mut [Option<String>; 3]| {
        if let Some(i) = cur {
            fields[i] = Some(buf.join("\n"));
        }
        buf.clear();
    };
    for line in doc.strip_suffix('\n').unwrap_or(doc).split('\n') {
        if let Some(name) = line.strip_prefix(MARK) {
            flush(current, &mut buf, &mut fields);
            current = names.iter().position(|n| *n == name.trim());
            if current.is_none() {
                return Err(format!("unknown section {:?}", name.trim()));
            }
        } else if current.is_some() {
            buf.push(line);
        }
    }
    flush(current, &mut buf, &mut fields);
    match fields {
        [Some(instruction), Some(input), Some(output)] => {
            Ok(SampleText { instruction, input, output, ..base.clone() })
        }
        _ => Err(format!("a `{MARK} <field>` line was removed; nothing was changed")),
    }
}

/// Runs `$VISUAL` / `$EDITOR` (default `vi`) on the text; `Ok(None)` when nothing changed.
pub fn edit(text: &SampleText) -> Result<Option<SampleText>, String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let file = tempfile::Builder::new()
        .prefix("distillery-")
        .suffix(".md")
        .tempfile()
        .map_err(|e| e.to_string())?;
    std::fs::write(file.path(), to_document(text)).map_err(|e| e.to_string())?;
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi");
    let status = Command::new(program)
        .args(parts)
        .arg(file.path())
        .status()
        .map_err(|e| format!("{editor}: {e}"))?;
    if !status.success() {
        return Err(format!("{editor} exited with {status}; nothing was changed"));
    }
    let doc = std::fs::read_to_string(file.path()).map_err(|e| e.to_string())?;
    let new = from_document(&doc, text)?;
    Ok((new != *text).then_some(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_round_trips() {
        let t = SampleText::new("Do\nthis", "", "line1\n\nline3");
        assert_eq!(from_document(&to_document(&t), &t).unwrap(), t);
    }

    #[test]
    fn removed_marker_is_an_error() {
        let t = SampleText::new("a", "b", "c");
        assert!(from_document("### distillery: instruction\na\n", &t).is_err());
    }
}

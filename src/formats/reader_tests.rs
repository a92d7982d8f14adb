//! The record reader: lines, arrays, elements, and the faults it names.

use super::*;

fn read(s: &[u8]) -> Result<Vec<Record>, FormatError> {
    read_records(Path::new("f.jsonl"), s)
}

#[test]
fn jsonl_with_bom_and_blank_lines() {
    let r = read(b"\xef\xbb\xbf{\"a\":1}\n\n  \n{\"a\":2}\n").unwrap();
    assert_eq!(r.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 4]);
    let r = read(b"\n\n{\"a\":1}").unwrap();
    assert_eq!(r[0].line, 3);
}

#[test]
fn array_records_know_their_line_and_index() {
    let r = read(b"\xef\xbb\xbf[\n {\"a\":1},\n\n {\"a\":\"],[{\\\"\"}\n]\n").unwrap();
    assert_eq!(
        r.iter().map(|r| (r.line, r.element)).collect::<Vec<_>>(),
        vec![(2, Some(0)), (4, Some(1))]
    );
    let r = read(b"[{\"a\":1},{\"a\":{\"b\":[2]}}]").unwrap();
    assert_eq!(r.len(), 2);
    assert!(read(b"[]").unwrap().is_empty());
    assert!(read(b"").unwrap().is_empty());
}

#[test]
fn errors_name_the_line_and_element() {
    let e = read(b"{\"a\":1}\n{\"a\":").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("truncated"), "{e}");
    let e = read(b"{\"a\":1}\n\xff\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("UTF-8"));
    let e = read(b"{\"a\":1}\n[1]\n").unwrap_err();
    assert!(e.message.contains("expected a JSON object"), "{e}");
    let e = read(b"[{\"a\":1},{\"a\":2},{\"a\":2 \"b\":1}]").unwrap_err();
    assert_eq!((e.line, e.element), (1, Some(2)), "{e}");
    let e = read(b"[{\"a\":1},3]").unwrap_err();
    assert_eq!(e.element, Some(1), "{e}");
    assert!(e.message.contains("found a number"), "{e}");
    let e = read(b"[{\"a\":1},]").unwrap_err();
    assert!(e.message.contains("trailing comma"), "{e}");
    let e = read(b"[{\"a\":1}").unwrap_err();
    assert!(e.message.contains("ends early"), "{e}");
    let e = read(b"[{\"a\":1}] x").unwrap_err();
    assert!(e.message.contains("after the end"), "{e}");
}

#[test]
fn duplicate_keys_are_named() {
    let e = read(b"{\"a\":1,\"b\":{\"c\":1,\"c\":2}}").unwrap_err();
    assert!(e.message.contains("duplicate key `c`"), "{e}");
    let e = read(b"[{\"a\":1},{\"a\":1,\"a\":2}]").unwrap_err();
    assert_eq!(e.element, Some(1), "{e}");
    assert!(e.message.contains("duplicate key `a`"), "{e}");
}

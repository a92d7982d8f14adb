//! Where the writing stands in a [`Grammar`]: a stack of frames, fed one character at a time.
//! Every prefix the state accepts can still be completed to a whole valid text, so a token mask
//! built from it never leads the model into a dead end.

use super::{Grammar, Node};

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// The next child of a sequence to start.
    Seq {
        node: usize,
        next: usize,
    },
    Lit {
        node: usize,
        pos: usize,
    },
    /// `alive`: the options still matching after `pos` characters (a bit each).
    OneOf {
        node: usize,
        pos: usize,
        alive: u64,
    },
    /// `esc`: 0 none, 1 after a backslash, 2..=5 hex digits of `\u` still to come.
    Str {
        node: usize,
        opened: bool,
        closed: bool,
        esc: u8,
        len: usize,
    },
    Digits {
        left: usize,
        total: usize,
    },
    /// The digits so far (their value and how many, without the sign).
    Int {
        node: usize,
        neg: bool,
        value: u64,
        len: u8,
    },
    /// A JSON number's DFA state (see [`num_step`]).
    Num {
        st: u8,
    },
    /// `items`: items started; `open`: `[` written; `sep`: 1 after `,`, 2 after `, `.
    Array {
        node: usize,
        open: bool,
        items: usize,
        sep: u8,
        closed: bool,
    },
}

/// What one frame does with a character.
enum Step {
    Consumed,
    /// Start this child; it gets the character.
    Push(Frame),
    /// This frame is complete: pop it, the parent gets the character.
    Pass,
    Reject,
}

/// The state of one constrained generation.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    stack: Vec<Frame>,
}

fn frame(g: &Grammar, node: usize) -> Frame {
    match &g.nodes[node] {
        Node::Seq(_) => Frame::Seq { node, next: 0 },
        Node::Lit(_) => Frame::Lit { node, pos: 0 },
        Node::OneOf(v) => {
            let alive = if v.len() >= 64 { u64::MAX } else { (1u64 << v.len()) - 1 };
            Frame::OneOf { node, pos: 0, alive }
        }
        Node::Str { .. } => Frame::Str { node, opened: false, closed: false, esc: 0, len: 0 },
        Node::Digits(n) => Frame::Digits { left: *n, total: *n },
        Node::Int { .. } => Frame::Int { node, neg: false, value: 0, len: 0 },
        Node::Num => Frame::Num { st: 0 },
        Node::Array { .. } => Frame::Array { node, open: false, items: 0, sep: 0, closed: false },
    }
}

/// Whether some integer in `min..=max` is written starting with these `len` digits of value
/// `value` (and sign `neg`); `complete`: whether they are that integer itself.
fn int_viable(
    neg: bool,
    value: u64,
    len: u8,
    min: Option<i64>,
    max: Option<i64>,
    complete: bool,
) -> bool {
    let (lo, hi) = (min.unwrap_or(i64::MIN) as i128, max.unwrap_or(i64::MAX) as i128);
    if len == 0 {
        return !complete && if neg { lo < 0 } else { hi >= 0 };
    }
    let leading_zero = len > 1 && (value as u128) < 10u128.pow(u32::from(len) - 1);
    if len > 19 || leading_zero || (neg && value == 0) {
        return false; // "007", "-0"
    }
    let v = value as i128;
    let mut scale: i128 = 1;
    for k in 0..=(19 - len) {
        if k > 0 && (complete || v == 0) {
            break;
        }
        let (a, b) = (v * scale, v * scale + scale - 1);
        let (a, b) = if neg { (-b, -a) } else { (a, b) };
        if a.max(lo) <= b.min(hi) {
            return true;
        }
        scale *= 10;
    }
    false
}

/// The JSON number DFA: 0 start, 1 after `-`, 2 a leading 0, 3 integer digits, 4 after `.`,
/// 5 fraction digits, 6 after `e`, 7 after the exponent's sign, 8 exponent digits.
fn num_step(st: u8, c: char) -> Option<u8> {
    let d = c.is_ascii_digit();
    Some(match (st, c) {
        (0, '-') => 1,
        (0 | 1, '0') => 2,
        (0 | 1, _) if d => 3,
        (3, _) if d => 3,
        (2 | 3, '.') => 4,
        (4 | 5, _) if d => 5,
        (2 | 3 | 5, 'e' | 'E') => 6,
        (6, '+' | '-') => 7,
        (6..=8, _) if d => 8,
        _ => return None,
    })
}

impl Frame {
    fn step(&mut self, g: &Grammar, c: char) -> Step {
        match self {
            Frame::Seq { node, next } => {
                let Node::Seq(kids) = &g.nodes[*node] else { unreachable!() };
                if *next < kids.len() {
                    *next += 1;
                    Step::Push(frame(g, kids[*next - 1]))
                } else {
                    Step::Pass
                }
            }
            Frame::Lit { node, pos } => {
                let Node::Lit(t) = &g.nodes[*node] else { unreachable!() };
                match t.get(*pos) {
                    Some(&e) if e == c => {
                        *pos += 1;
                        Step::Consumed
                    }
                    Some(_) => Step::Reject,
                    None => Step::Pass,
                }
            }
            Frame::OneOf { node, pos, alive } => {
                let Node::OneOf(opts) = &g.nodes[*node] else { unreachable!() };
                let ext = (0..opts.len())
                    .filter(|&i| *alive >> i & 1 == 1 && opts[i].get(*pos) == Some(&c))
                    .fold(0u64, |m, i| m | 1 << i);
                if ext != 0 {
                    *alive = ext;
                    *pos += 1;
                    Step::Consumed
                } else if (0..opts.len()).any(|i| *alive >> i & 1 == 1 && opts[i].len() == *pos) {
                    Step::Pass
                } else {
                    Step::Reject
                }
            }
            Frame::Str { node, opened, closed, esc, len } => {
                let Node::Str { max } = g.nodes[*node] else { unreachable!() };
                if *closed {
                    return Step::Pass;
                }
                if !*opened {
                    *opened = c == '"';
                    return if *opened { Step::Consumed } else { Step::Reject };
                }
                match *esc {
                    0 if c == '"' => *closed = true,
                    _ if max.is_some_and(|m| *len >= m) && *esc == 0 => return Step::Reject,
                    0 if c == '\\' => *esc = 1,
                    0 if (c as u32) < 0x20 => return Step::Reject,
                    0 => *len += 1,
                    1 if c == 'u' => *esc = 5,
                    1 if "\"\\/bfnrt".contains(c) => {
                        *esc = 0;
                        *len += 1;
                    }
                    2..=5 if c.is_ascii_hexdigit() => {
                        *esc -= 1;
                        if *esc == 1 {
                            *esc = 0;
                            *len += 1;
                        }
                    }
                    _ => return Step::Reject,
                }
                Step::Consumed
            }
            Frame::Digits { left, .. } => {
                if *left == 0 {
                    Step::Pass
                } else if c.is_ascii_digit() {
                    *left -= 1;
                    Step::Consumed
                } else {
                    Step::Reject
                }
            }
            Frame::Int { node, neg, value, len } => {
                let Node::Int { min, max } = g.nodes[*node] else { unreachable!() };
                if c == '-' && *len == 0 && !*neg {
                    *neg = true;
                    return if int_viable(true, 0, 0, min, max, false) {
                        Step::Consumed
                    } else {
                        Step::Reject
                    };
                }
                if let Some(d) = c.to_digit(10).filter(|_| *len < 19) {
                    let v = *value * 10 + u64::from(d);
                    if int_viable(*neg, v, *len + 1, min, max, false) {
                        (*value, *len) = (v, *len + 1);
                        return Step::Consumed;
                    }
                    return Step::Reject;
                }
                if int_viable(*neg, *value, *len, min, max, true) {
                    Step::Pass
                } else {
                    Step::Reject
                }
            }
            Frame::Num { st } => match num_step(*st, c) {
                Some(n) => {
                    *st = n;
                    Step::Consumed
                }
                None if matches!(*st, 2 | 3 | 5 | 8) => Step::Pass,
                None => Step::Reject,
            },
            Frame::Array { node, open, items, sep, closed } => {
                let Node::Array { item, min, max } = g.nodes[*node] else { unreachable!() };
                if *closed {
                    return Step::Pass;
                }
                if !*open {
                    *open = c == '[';
                    return if *open { Step::Consumed } else { Step::Reject };
                }
                let room = max.is_none_or(|m| *items < m);
                match (*sep, c) {
                    (1, ' ') => {
                        *sep = 2;
                        Step::Consumed
                    }
                    (1, _) => Step::Reject,
                    (2, _) => {
                        (*sep, *items) = (0, *items + 1);
                        Step::Push(frame(g, item))
                    }
                    (_, ']') if *items >= min => {
                        *closed = true;
                        Step::Consumed
                    }
                    (_, ',') if *items > 0 && room => {
                        *sep = 1;
                        Step::Consumed
                    }
                    _ if *items == 0 && room => {
                        *items = 1;
                        Step::Push(frame(g, item))
                    }
                    _ => Step::Reject,
                }
            }
        }
    }

    fn complete(&self, g: &Grammar) -> bool {
        match self {
            Frame::Seq { node, next } => {
                matches!(&g.nodes[*node], Node::Seq(k) if *next == k.len())
            }
            Frame::Lit { node, pos } => matches!(&g.nodes[*node], Node::Lit(t) if *pos == t.len()),
            Frame::OneOf { node, pos, alive } => {
                let Node::OneOf(o) = &g.nodes[*node] else { return false };
                (0..o.len()).any(|i| *alive >> i & 1 == 1 && o[i].len() == *pos)
            }
            Frame::Str { closed, .. } | Frame::Array { closed, .. } => *closed,
            Frame::Digits { left, .. } => *left == 0,
            Frame::Int { node, neg, value, len } => {
                let Node::Int { min, max } = g.nodes[*node] else { return false };
                int_viable(*neg, *value, *len, min, max, true)
            }
            Frame::Num { st } => matches!(*st, 2 | 3 | 5 | 8),
        }
    }
}

impl State {
    pub fn new(g: &Grammar) -> State {
        State { stack: vec![frame(g, 0)] }
    }

    /// Feeds one character; false (and the state unchanged only in part) when the grammar
    /// refuses it: callers feed a copy when they only ask.
    pub fn feed(&mut self, g: &Grammar, c: char) -> bool {
        loop {
            let Some(top) = self.stack.last_mut() else { return false };
            match top.step(g, c) {
                Step::Consumed => return true,
                Step::Push(f) => self.stack.push(f),
                Step::Pass => {
                    self.stack.pop();
                }
                Step::Reject => return false,
            }
        }
    }

    /// Feeds every character of `s`.
    pub fn feed_str(&mut self, g: &Grammar, s: &str) -> bool {
        s.chars().all(|c| self.feed(g, c))
    }

    /// Whether the text so far is a whole valid text.
    pub fn accepting(&self, g: &Grammar) -> bool {
        self.stack.iter().all(|f| f.complete(g))
    }

    /// Whether the text is whole and nothing may follow it: generation ends here.
    pub fn finished(&self, g: &Grammar) -> bool {
        self.accepting(g) && (' '..='~').chain(['\u{e9}']).all(|c| !self.clone().feed(g, c))
    }

    /// Inside a JSON string, past its opening quote, outside an escape: how many characters it
    /// may still take. Up to that many characters but `"`, `\` and controls are taken as they
    /// are (the mask's fast path).
    pub fn in_plain_string(&self, g: &Grammar) -> Option<usize> {
        match self.stack.last() {
            Some(Frame::Str { node, opened: true, closed: false, esc: 0, len }) => {
                let Node::Str { max } = g.nodes[*node] else { return None };
                Some(max.map_or(usize::MAX, |m| m.saturating_sub(*len)))
            }
            _ => None,
        }
    }
}

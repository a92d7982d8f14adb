//! Grammar-constrained decoding for the local engine: a JSON Schema compiled into a character
//! automaton ([`state`]), turned into a mask over the vocabulary at each step ([`mask`]), so what
//! the model writes is always JSON of that shape.
//!
//! The JSON is written in one canonical form (`{"a": 1, "b": "x"}`, json.dumps' spacing), every
//! property of an object present, in `required`'s order, then the others by name. Supported: `type` object (its `properties`),
//! array (`items`, `minItems`, `maxItems`), string (`maxLength`, `enum`, `format: date`),
//! integer (`minimum`, `maximum`), number, boolean, null; `enum` and `const` of any type. Other
//! keywords (`anyOf`, `oneOf`, `pattern`, `$ref`, a list of types) are refused by name.

pub mod mask;
pub mod state;

use serde_json::Value;

/// One node of a compiled schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Exactly this text.
    Lit(Vec<char>),
    /// One of these texts (JSON-encoded enum values, `true`/`false`).
    OneOf(Vec<Vec<char>>),
    /// A JSON string, quotes included, of at most `max` characters.
    Str {
        max: Option<usize>,
    },
    /// Exactly this many ASCII digits.
    Digits(usize),
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Num,
    /// These nodes one after the other.
    Seq(Vec<usize>),
    /// `[item, item, …]` with `min..=max` items.
    Array {
        item: usize,
        min: usize,
        max: Option<usize>,
    },
}

/// A compiled schema: its nodes, the root first.
#[derive(Debug, Clone, PartialEq)]
pub struct Grammar {
    pub nodes: Vec<Node>,
}

impl Grammar {
    /// Compiles a JSON Schema; the error names the keyword and where it is (`/properties/x`).
    pub fn from_schema(schema: &Value) -> Result<Grammar, String> {
        let mut g = Grammar { nodes: vec![Node::Seq(Vec::new())] };
        let root = g.compile(schema, "")?;
        g.nodes[0] = Node::Seq(vec![root]);
        Ok(g)
    }

    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn lit(&mut self, s: &str) -> usize {
        self.push(Node::Lit(s.chars().collect()))
    }

    fn compile(&mut self, s: &Value, at: &str) -> Result<usize, String> {
        let here =
            if at.is_empty() { "the schema".to_owned() } else { format!("the schema at {at}") };
        let o = s.as_object().ok_or_else(|| format!("{here} is not an object"))?;
        for k in ["anyOf", "oneOf", "allOf", "not", "$ref", "pattern", "patternProperties", "if"] {
            if o.contains_key(k) {
                return Err(format!(
                    "{here}: `{k}` is not supported by local constrained decoding"
                ));
            }
        }
        if let Some(c) = o.get("const") {
            return Ok(self.lit(&c.to_string()));
        }
        if let Some(e) = o.get("enum") {
            let vals = e.as_array().ok_or_else(|| format!("{here}: `enum` is not a list"))?;
            if vals.is_empty() || vals.len() > 64 {
                return Err(format!("{here}: `enum` needs 1 to 64 values, has {}", vals.len()));
            }
            return Ok(self.push(Node::OneOf(
                vals.iter().map(|v| v.to_string().chars().collect()).collect(),
            )));
        }
        let ty = match o.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(other) => return Err(format!("{here}: `type` {other} is not one type name")),
            None if o.contains_key("properties") => "object",
            None => return Err(format!("{here}: no `type`")),
        };
        let num = |k: &str| o.get(k).and_then(Value::as_i64);
        Ok(match ty {
            "object" => {
                let props = o.get("properties").and_then(Value::as_object);
                let props = props.ok_or_else(|| format!("{here}: an object needs `properties`"))?;
                // `required` gives the order (JSON keeps a list's order, not an object's); the
                // other properties follow by name.
                let mut keys: Vec<&String> = o
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|k| props.get_key_value(k.as_str()?).map(|(k, _)| k))
                    .collect();
                let rest: Vec<&String> = props.keys().filter(|k| !keys.contains(k)).collect();
                keys.extend(rest);
                let mut seq = Vec::new();
                for (i, (k, v)) in keys.into_iter().map(|k| (k, &props[k])).enumerate() {
                    let key = Value::String(k.clone()).to_string();
                    seq.push(self.lit(&format!("{}{key}: ", if i == 0 { "{" } else { ", " })));
                    seq.push(self.compile(v, &format!("{at}/properties/{k}"))?);
                }
                seq.push(self.lit(if props.is_empty() { "{}" } else { "}" }));
                self.push(Node::Seq(seq))
            }
            "array" => {
                let items =
                    o.get("items").ok_or_else(|| format!("{here}: an array needs `items`"))?;
                let item = self.compile(items, &format!("{at}/items"))?;
                let min = num("minItems").unwrap_or(0).max(0) as usize;
                let max = num("maxItems").map(|m| m.max(0) as usize);
                self.push(Node::Array { item, min, max })
            }
            "string" if o.get("format").and_then(Value::as_str) == Some("date") => {
                let seq = vec![
                    self.lit("\""),
                    self.push(Node::Digits(4)),
                    self.lit("-"),
                    self.push(Node::Digits(2)),
                    self.lit("-"),
                    self.push(Node::Digits(2)),
                    self.lit("\""),
                ];
                self.push(Node::Seq(seq))
            }
            "string" => self.push(Node::Str { max: num("maxLength").map(|m| m.max(0) as usize) }),
            "integer" => self.push(Node::Int { min: num("minimum"), max: num("maximum") }),
            "number" => self.push(Node::Num),
            "boolean" => {
                self.push(Node::OneOf(vec!["true".chars().collect(), "false".chars().collect()]))
            }
            "null" => self.lit("null"),
            other => return Err(format!("{here}: unknown `type` {other:?}")),
        })
    }
}

/// A grammar with the vocabulary it masks: what a constrained request carries.
pub struct Constraint {
    pub grammar: Grammar,
    pub table: std::sync::Arc<mask::TokenTable>,
}

impl std::fmt::Debug for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Constraint({} nodes)", self.grammar.nodes.len())
    }
}

//! Parses one record's JSON text, refusing duplicate keys (serde_json's own `Value` keeps the last
//! in silence) and naming the line and column of any fault in the file's terms.

use super::FormatError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// A JSON value whose objects have no repeated key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{}`",
                    crate::text::clean_line(&key)
                )));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parses `text`, which starts at `line` of `file` (element `element` of an array), into an
/// object.
pub fn parse_object(
    file: &Path,
    line: usize,
    element: Option<usize>,
    text: &str,
) -> Result<Value, FormatError> {
    let value = match serde_json::from_str::<Strict>(text) {
        Ok(Strict(v)) => v,
        Err(e) => {
            let full = e.to_string();
            let msg = full.rfind(" at line ").map_or(full.as_str(), |i| &full[..i]);
            let at = line + e.line().saturating_sub(1);
            let msg = if e.is_eof() {
                format!("the JSON ends early (truncated file?): {msg}")
            } else if e.line() <= 1 && element.is_some() {
                format!("invalid JSON at character {} of the element: {msg}", e.column())
            } else if e.line() <= 1 {
                format!("invalid JSON at column {}: {msg}", e.column())
            } else {
                format!("invalid JSON: {msg}")
            };
            return Err(FormatError::at(file, at, element, None, msg));
        }
    };
    if !value.is_object() {
        return Err(FormatError::at(
            file,
            line,
            element,
            None,
            format!("expected a JSON object, found {}", super::type_name(&value)),
        ));
    }
    Ok(value)
}

//! The JSON contract: the AST types and the few hand-written serialisers that give them the
//! shape promised in README.md (`title_page` as an object, positions as `"line"`).

pub mod model;

use std::collections::HashMap;

use serde::Serializer;
use serde::ser::SerializeMap;

use model::{Span, TitleEntry};

/// Writes the title page as an object in file order. JSON objects cannot repeat a key, so a
/// key written twice (two `Author:` lines) gets its values joined with `'\n'`.
pub(crate) fn serialize_title_page<S: Serializer>(
    entries: &[TitleEntry],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut merged: Vec<(&str, String)> = Vec::with_capacity(entries.len());
    let mut slots: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for entry in entries {
        match slots.get(entry.key.as_str()) {
            Some(&slot) => {
                let value = &mut merged[slot].1;
                value.push('\n');
                value.push_str(&entry.value);
            }
            None => {
                slots.insert(&entry.key, merged.len());
                merged.push((&entry.key, entry.value.clone()));
            }
        }
    }
    let mut map = serializer.serialize_map(Some(merged.len()))?;
    for (key, value) in &merged {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

pub(crate) fn serialize_span_line<S: Serializer>(
    span: &Span,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(span.line as u64)
}

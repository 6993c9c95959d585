//! Constrained decoding (issue #4): a JSON-schema automaton over a tokenizer's vocabulary.
//!
//! Owned by the grammar work stream; see the crate description.

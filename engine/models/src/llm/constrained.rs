//! The grammar automaton (previz-grammar) as a [`TokenConstraint`] over a model's vocabulary.

use std::sync::Arc;

use previz_grammar::{Grammar, Matcher, SchemaError, TokenSet, Vocab};

use super::generate::TokenConstraint;
use super::tokenizer::LlmTokenizer;

/// A model's vocabulary as the grammar sees it: bytes per token, control tokens barred.
#[must_use]
pub fn grammar_vocab(tokenizer: &LlmTokenizer) -> Arc<Vocab> {
    Arc::new(Vocab::new(
        tokenizer.token_bytes().to_vec(),
        tokenizer
            .special()
            .iter()
            .copied()
            .filter(|&id| id != tokenizer.eos()),
        tokenizer.eos(),
    ))
}

/// Compiles a JSON schema (the subset previz-grammar supports).
pub fn compile_schema(schema: &serde_json::Value) -> Result<Arc<Grammar>, SchemaError> {
    Grammar::from_json_schema(schema).map(Arc::new)
}

/// One document being generated under a JSON schema.
#[derive(Debug, Clone)]
pub struct JsonConstraint {
    matcher: Matcher,
    set: TokenSet,
}

impl JsonConstraint {
    #[must_use]
    pub fn new(grammar: Arc<Grammar>, vocab: Arc<Vocab>) -> Self {
        let set = vocab.token_set();
        Self {
            matcher: Matcher::new(grammar, vocab),
            set,
        }
    }

    /// The most bytes a document of this grammar can have (sizes the token budget).
    #[must_use]
    pub fn max_len_bytes(&self) -> usize {
        self.matcher.grammar().max_len_bytes()
    }
}

impl TokenConstraint for JsonConstraint {
    fn allowed(&mut self, out: &mut Vec<u32>) {
        self.matcher.fill_allowed(&mut self.set);
        out.clear();
        out.extend(self.set.iter());
    }

    fn accept(&mut self, id: u32) -> Result<(), String> {
        self.matcher.accept_token(id).map_err(|e| e.to_string())
    }

    fn is_complete(&self) -> bool {
        self.matcher.is_complete()
    }

    fn forced_bytes(&self) -> Vec<u8> {
        self.matcher.forced_bytes()
    }
}

//! Constrained decoding (issue #4): the model can only emit valid JSON of our schema.
//!
//! A [`Grammar`] is compiled once from a JSON schema (a bounded subset, below). A [`Vocab`]
//! holds the tokenizer's vocabulary as byte strings. A [`Matcher`] follows one document as it
//! is generated and, before each sampling step, [`Matcher::fill_allowed`] gives the set of
//! token ids that keep the text a prefix of a valid document; the caller masks every other
//! logit to −∞, samples, and calls [`Matcher::accept_token`]. The mask is a pure function of
//! the text so far, so the same seed gives the same output.
//!
//! # Design
//!
//! * **An automaton over bytes.** The grammar is a tree of bounded nodes (object, array,
//!   string, number, literal). The matcher's state is a stack of small `Copy` frames, one per
//!   open value (as deep as the schema); one byte at a time it either advances the top frame,
//!   pushes a child value, pops a finished one, or refuses. Tokens are byte strings (byte-level
//!   BPE: a token may be half of a UTF-8 character), so working on bytes lets any token
//!   boundary fall anywhere — inside a key, a number, a multi-byte character.
//! * **A trie walk for the mask.** [`Vocab`] arranges the tokens once in a byte trie. The mask
//!   is a depth-first walk of that trie carrying the automaton state: a byte the automaton
//!   refuses prunes the whole subtree (every token with that prefix), and each token ending
//!   at a reached node is allowed. Shared prefixes are stepped once. While bytes only change
//!   the top frame (string content, digits, a key) only that frame is copied per trie node.
//!   Inside a string, where nearly every token is allowed, *plain* tokens (whole UTF-8
//!   characters, no `"`, `\` or control character) are decided by their character count alone
//!   from sets precomputed in [`Vocab`], and the walk skips subtrees holding only plain tokens.
//!   Measured (`benches/mask.rs`, release, this project's 2-core build machine) over SmolLM2's
//!   real 49,152-token vocabulary: 1–11 µs per mask at every state of a shot list.
//! * **Never a dead end, by construction.** A byte is accepted only if the automaton after it
//!   can still reach a complete document: a string at `maxLength` accepts only its closing
//!   `"`; a string below `minLength` refuses it; a number accepts a digit, `-` or `.` only if
//!   some number in range starts with the new text (no leading zeros, bounded fraction
//!   digits); an array accepts `,` below `maxItems` and `]` from `minItems`; objects emit
//!   every property in a fixed order; UTF-8 lead bytes constrain the next continuation byte so
//!   that overlong forms, surrogates and code points above U+10FFFF never start. So from
//!   every reachable state some *byte* leads on, and as a byte-level vocabulary has every
//!   single byte as a token, some *token* is always allowed until the document is complete.
//! * **Bounds ⇒ termination.** Every string, array and number is bounded (`maxLength`,
//!   `maxItems`, `minimum`/`maximum` are mandatory), so every document is at most
//!   [`Grammar::max_len_bytes`] bytes; each token is at least one byte, so a generation
//!   completes within that many tokens plus the EOS. Callers size their token budget with it.
//! * **Compact output.** No whitespace anywhere and object properties in the order of the
//!   schema's `required` array. Whitespace and key order carry no information; fixing them
//!   means the structure is entirely forced and a small model only chooses values.
//!   [`Matcher::forced_bytes`] returns the forced text (e.g. `,"angle":"`) so a caller may
//!   feed it at once instead of one token per step.
//!
//! # Supported schema subset
//!
//! Anything else is refused with a [`SchemaError`] naming the keyword and its JSON pointer.
//! The annotations `title`, `description`, `$comment` and `$schema` are accepted and ignored.
//!
//! * `{"type":"object","properties":{..},"required":[..],"additionalProperties":false}` —
//!   `required` must list every property exactly once: it is the output order (the schema's
//!   `properties` map does not keep one). `additionalProperties` may be omitted.
//! * `{"type":"array","items":S,"minItems":n,"maxItems":m}` — `maxItems` mandatory.
//! * `{"type":"string","minLength":k,"maxLength":n}` — `maxLength` mandatory, counted in
//!   Unicode characters. Content: any character but `"`, `\` and control characters, plus the
//!   escapes `\"` `\\` `\n` `\/` (one character each).
//! * `{"type":"integer","minimum":a,"maximum":b}` — both mandatory (|bound| ≤ 10¹⁷).
//! * `{"type":"number","minimum":a,"maximum":b,"multipleOf":0.1}` — both bounds mandatory;
//!   `multipleOf` must be a power of ten (1 down to 1e-6) and sets the fraction digits
//!   allowed (default: one).
//! * `{"type":"boolean"}`, `{"type":"null"}`, `{"enum":[..]}` and `{"const":v}` (with or
//!   without a matching `type`); enum and const values are emitted as compact JSON.
//!
//! `$ref`, `anyOf` and friends, `pattern`, `format` and exclusive bounds are not supported.
//! Integers and numbers are emitted canonically: no leading zeros, no exponent, no `-0`;
//! a number may have trailing fraction zeros (`4.50`).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use previz_grammar::{Grammar, Matcher, Vocab};
//!
//! let schema = serde_json::json!({"type":"object","required":["n"],
//!     "properties":{"n":{"type":"integer","minimum":1,"maximum":20}}});
//! let grammar = Arc::new(Grammar::from_json_schema(&schema).unwrap());
//! // A toy vocabulary: EOS, then every single byte, then `{"n":`.
//! let mut tokens = vec![b"</s>".to_vec()];
//! tokens.extend((0..=255u8).map(|b| vec![b]));
//! tokens.push(br#"{"n":"#.to_vec());
//! let vocab = Arc::new(Vocab::new(tokens, [], 0));
//! let mut m = Matcher::new(grammar, Arc::clone(&vocab));
//! assert_eq!(m.forced_bytes(), br#"{"n":"#);
//! let mut allowed = vocab.token_set();
//! m.fill_allowed(&mut allowed);
//! let brace = 1 + u32::from(b'{');
//! assert_eq!(allowed.iter().collect::<Vec<_>>(), vec![brace, 257]); // `{` or `{"n":`
//! m.accept_token(257).unwrap();
//! m.fill_allowed(&mut allowed);
//! let digits: Vec<u8> = allowed.iter().map(|id| vocab.token_bytes(id).unwrap()[0]).collect();
//! assert_eq!(digits, b"123456789"); // no 0: nothing in range starts with it
//! m.accept_bytes(b"20}").unwrap();
//! assert!(m.is_complete());
//! m.accept_token(0).unwrap(); // EOS
//! ```

mod matcher;
mod schema;
mod vocab;

pub use matcher::{ConstraintError, Matcher};
pub use schema::{Grammar, SchemaError};
pub use vocab::{TokenSet, Vocab, byte_level_token_bytes};

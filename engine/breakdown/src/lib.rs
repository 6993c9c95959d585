//! Script breakdown (issue #4): rule-based by default, a local LLM when one is installed.

pub mod prompt;

//! Chat templates: the Jinja template the model was trained with, from its GGUF metadata.
//!
//! Rendered with minijinja set up as Hugging Face's `apply_chat_template` sets up Jinja
//! (`trim_blocks`, `lstrip_blocks`, `raise_exception`, Python string methods), with a fuel limit
//! because a template inside a downloaded file is untrusted input.

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error as JinjaError, ErrorKind, Value, context};
use serde::Serialize;

use super::LlmError;
use super::gguf::GgufFile;

/// ChatML, for models whose file has no template.
const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Instructions a template may execute before it is considered runaway.
const FUEL: u64 = 5_000_000;

/// Who says a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    #[must_use]
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A compiled-on-demand chat template with the tokens it may refer to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
    /// Whether the template came from the file (false: the ChatML fallback).
    from_file: bool,
}

impl ChatTemplate {
    /// The template of a GGUF model (`tokenizer.chat_template`), or ChatML when it has none.
    /// The template is test-rendered once so a broken one fails at load, naming the file.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self, LlmError> {
        let token = |key: &str| {
            gguf.opt_u64(key)
                .and_then(|id| usize::try_from(id).ok())
                .and_then(|id| {
                    gguf.strings("tokenizer.ggml.tokens")
                        .ok()?
                        .get(id)
                        .map(|s| (*s).to_owned())
                })
                .unwrap_or_default()
        };
        let (source, from_file) = match gguf.opt_string("tokenizer.chat_template") {
            Some(t) => (t.to_owned(), true),
            None => (CHATML.to_owned(), false),
        };
        let template = Self {
            source,
            bos_token: token("tokenizer.ggml.bos_token_id"),
            eos_token: token("tokenizer.ggml.eos_token_id"),
            from_file,
        };
        template
            .render(&[ChatMessage::system("s"), ChatMessage::user("u")], true)
            .map_err(|e| LlmError::BadModel {
                path: gguf.path.clone(),
                detail: format!("its chat template does not render ({e})"),
            })?;
        Ok(template)
    }

    /// A template from source text (tests, user overrides).
    #[must_use]
    pub fn from_source(source: impl Into<String>, bos_token: &str, eos_token: &str) -> Self {
        Self {
            source: source.into(),
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
            from_file: true,
        }
    }

    /// Whether the template is the model's own.
    #[must_use]
    pub fn is_from_file(&self) -> bool {
        self.from_file
    }

    /// Renders `messages`; with `add_generation_prompt`, ends with the assistant's turn opening.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, LlmError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| LlmError::Template(e.to_string()))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_function("strftime_now", |_fmt: String| -> String {
            // Templates use it for "today's date" in system prompts; a fixed date keeps prompts,
            // and so outputs, reproducible.
            "01 Jan 2026".to_owned()
        });
        env.add_template("chat", &self.source)
            .map_err(|e| LlmError::Template(format!("does not parse: {e}")))?;
        let tmpl = env
            .get_template("chat")
            .map_err(|e| LlmError::Template(e.to_string()))?;
        tmpl.render(context! {
            messages => Value::from(minijinja::value::Serde(messages)),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
        })
        .map_err(|e| LlmError::Template(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-Instruct's template as its GGUF carries it.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn smollm2_template_renders_chatml() {
        let t = ChatTemplate::from_source(SMOLLM2, "<|im_start|>", "<|im_end|>");
        let out = t
            .render(
                &[ChatMessage::system("Be brief."), ChatMessage::user("Hi")],
                true,
            )
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let default = t.render(&[ChatMessage::user("Hi")], false).unwrap();
        assert!(
            default.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
        );
    }

    #[test]
    fn llama3_style_template_with_python_methods() {
        let src = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}{{ 'x'.upper() }}";
        let t = ChatTemplate::from_source(src, "<|begin_of_text|>", "<|eot_id|>");
        let out = t.render(&[ChatMessage::user("  hi  ")], true).unwrap();
        assert!(out.starts_with(
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        ));
        assert!(out.ends_with('X'));
    }

    #[test]
    fn broken_or_runaway_templates_are_errors_not_hangs() {
        let t = ChatTemplate::from_source("{% for m in messages %}", "", "");
        assert!(t.render(&[ChatMessage::user("x")], true).is_err());
        let t = ChatTemplate::from_source("{{ raise_exception('no system role') }}", "", "");
        let e = t.render(&[ChatMessage::user("x")], true).unwrap_err();
        assert!(e.to_string().contains("no system role"));
        let t = ChatTemplate::from_source(
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "",
            "",
        );
        assert!(t.render(&[], true).is_err());
    }
}

//! End to end on the real SmolLM2-135M GGUF: load, chat template, generate, prefix reuse.

mod common;

use previz_models::llm::generate::{GenerateRequest, Llm, LoadOptions, StopReason};
use previz_models::llm::sampler::Sampling;
use previz_models::llm::template::ChatMessage;

#[test]
fn greedy_chat_answer_is_deterministic_and_reuses_the_prefix() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let mut llm = Llm::load(&path, &LoadOptions::default()).unwrap();
    assert_eq!(llm.info().architecture, "llama");
    let system = ChatMessage::system("You are a helpful assistant. Answer in one short sentence.");
    let ask = |q: &str| vec![system.clone(), ChatMessage::user(q)];
    let prompt = llm
        .render_chat(&ask("What is the capital of France?"))
        .unwrap();
    assert!(prompt.starts_with("<|im_start|>system\n"));
    assert!(prompt.ends_with("<|im_start|>assistant\n"));
    let request = GenerateRequest {
        prompt,
        max_tokens: 24,
        sampling: Sampling::greedy(),
    };
    let mut streamed = String::new();
    let first = llm
        .generate(&request, None, &|| false, &mut |t| streamed.push_str(t))
        .unwrap();
    assert_eq!(streamed, first.text);
    assert!(first.text.contains("Paris"), "{:?}", first.text);
    assert!(matches!(
        first.stop,
        StopReason::EndOfTurn | StopReason::MaxTokens
    ));
    // Same request again: same answer; a new question shares the system prompt's tokens.
    let again = llm
        .generate(&request, None, &|| false, &mut |_| {})
        .unwrap();
    assert_eq!(again.text, first.text);
    let other = GenerateRequest {
        prompt: llm.render_chat(&ask("Name a colour.")).unwrap(),
        ..request.clone()
    };
    let second = llm.generate(&other, None, &|| false, &mut |_| {}).unwrap();
    assert!(!second.text.is_empty());
    // Cancellation stops before the first forward pass.
    let e = llm
        .generate(&request, None, &|| true, &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("cancelled"));
}

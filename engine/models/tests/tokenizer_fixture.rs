//! Our tokenizer, rebuilt from the GGUF's metadata, against SmolLM2's reference tokenizer
//! (ids recorded from llama.cpp by scripts/record_tokenizer_fixture.py).

mod common;

use previz_models::llm::gguf::GgufFile;
use previz_models::llm::tokenizer::LlmTokenizer;

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[test]
fn encode_and_decode_match_the_reference_ids() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let gguf = GgufFile::open(&path).unwrap();
    let tok = LlmTokenizer::from_gguf(&gguf).unwrap();
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/smollm2_tokens.json")).unwrap();
    assert_eq!(fixture.cases.len(), 5);
    for case in &fixture.cases {
        let ids = tok.encode(&case.text).unwrap();
        assert_eq!(ids, case.ids, "token ids differ for {:?}", case.text);
        // Byte-exact round trip through the per-token bytes the grammar uses.
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| tok.token_bytes()[id as usize].clone())
            .collect();
        let without_markers = case
            .text
            .replace("<|im_start|>", "")
            .replace("<|im_end|>", "");
        assert_eq!(String::from_utf8(bytes).unwrap(), without_markers);
        assert_eq!(tok.decode(&ids).unwrap(), without_markers);
    }
    assert_eq!(tok.eos(), 2);
    assert_eq!(tok.id_to_token(1).as_deref(), Some("<|im_start|>"));
    assert!(tok.special().contains(&1) && tok.special().contains(&2));
}

//! Property tests: seeded random walks over a toy vocabulary never dead-end, stay within the
//! bound, produce valid documents and keep the mask exact; the schema compiler never panics.

mod common;

use common::{check_document, grammar, random_walk, shot_schema, toy_vocab};
use previz_grammar::Grammar;
use proptest::prelude::*;
use serde_json::{Value, json};

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The shot-list schema: every walk ends in a valid shot list.
    #[test]
    fn shot_list_walks_end_in_valid_documents(seed in any::<u64>(), stretch in any::<bool>()) {
        let schema = shot_schema();
        let g = grammar(&schema);
        let walk = random_walk(&g, &toy_vocab(), seed, stretch).map_err(TestCaseError::fail)?;
        let v = check_document(&walk.text, &schema).map_err(TestCaseError::fail)?;
        prop_assert!(!v["shots"].as_array().unwrap().is_empty());
        prop_assert!(walk.text.len() <= g.max_len_bytes());
    }

    /// Same seed, same output.
    #[test]
    fn walks_are_deterministic(seed in any::<u64>()) {
        let g = grammar(&shot_schema());
        let vocab = toy_vocab();
        let a = random_walk(&g, &vocab, seed, false).map_err(TestCaseError::fail)?;
        let b = random_walk(&g, &vocab, seed, false).map_err(TestCaseError::fail)?;
        prop_assert_eq!(a.text, b.text);
    }
}

/// Random schemas of the supported subset.
fn schema_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (0u32..3, 0u32..5).prop_map(|(min, extra)| json!({
            "type": "string", "minLength": min, "maxLength": min + extra
        })),
        (-300i64..300, 0i64..300).prop_map(|(a, w)| json!({
            "type": "integer", "minimum": a, "maximum": a + w
        })),
        // Bounds with more digits than allowed exercise rounding them inwards.
        (-3000i64..3000, 0i64..3000, 0i32..3, 0i32..2).prop_map(|(a, w, f, extra)| {
            let scale = 10f64.powi(f + extra);
            json!({
                "type": "number",
                "minimum": a as f64 / scale,
                "maximum": (a + w) as f64 / scale + 10f64.powi(-f),
                "multipleOf": 10f64.powi(-f),
            })
        }),
        prop::collection::vec("[a-z_]{1,6}", 1..5).prop_map(|v| json!({ "enum": v })),
        prop::collection::vec(-20i64..20, 1..4).prop_map(|v| json!({ "enum": v })),
        Just(json!({ "type": "boolean" })),
        Just(json!({ "type": "null" })),
        "[a-z\"\\\\é]{0,4}".prop_map(|c| json!({ "const": c })),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            (inner.clone(), 0u32..3, 0u32..3).prop_map(|(items, min, extra)| json!({
                "type": "array", "items": items, "minItems": min, "maxItems": min + extra
            })),
            prop::collection::vec(inner, 0..4).prop_map(|values| {
                let names: Vec<String> = (0..values.len()).map(|i| format!("p{i}")).collect();
                let properties: serde_json::Map<String, Value> =
                    names.iter().cloned().zip(values).collect();
                // Reverse order: the output must follow `required`, not the map.
                let required: Vec<&String> = names.iter().rev().collect();
                json!({
                    "type": "object", "properties": properties, "required": required,
                    "additionalProperties": false
                })
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random schemas of the subset compile, and random walks over them end in valid documents.
    #[test]
    fn random_schemas_walk_to_valid_documents(
        schema in schema_strategy(),
        seed in any::<u64>(),
        stretch in any::<bool>(),
    ) {
        let g = Grammar::from_json_schema(&schema)
            .map_err(|e| TestCaseError::fail(format!("{e} for {schema}")))?;
        let g = std::sync::Arc::new(g);
        let walk = random_walk(&g, &toy_vocab(), seed, stretch)
            .map_err(|e| TestCaseError::fail(format!("{e} for {schema}")))?;
        check_document(&walk.text, &schema)
            .map_err(|e| TestCaseError::fail(format!("{e} for {schema}")))?;
    }
}

/// Arbitrary JSON values, biased towards schema keywords.
fn json_strategy() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("properties".to_owned()),
        Just("required".to_owned()),
        Just("items".to_owned()),
        Just("minItems".to_owned()),
        Just("maxItems".to_owned()),
        Just("minLength".to_owned()),
        Just("maxLength".to_owned()),
        Just("minimum".to_owned()),
        Just("maximum".to_owned()),
        Just("multipleOf".to_owned()),
        Just("enum".to_owned()),
        Just("const".to_owned()),
        Just("additionalProperties".to_owned()),
        "[a-z$]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-5i64..300).prop_map(Value::from),
        prop_oneof![
            Just("object"),
            Just("array"),
            Just("string"),
            Just("integer"),
            Just("number"),
            Just("boolean"),
            Just("null"),
        ]
        .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The compiler never panics; what it accepts has a finite bound.
    #[test]
    fn compiling_arbitrary_json_never_panics(v in json_strategy()) {
        if let Ok(g) = Grammar::from_json_schema(&v) {
            prop_assert!(g.max_len_bytes() > 0);
        }
    }
}

//! Unit tests per construct, the schema errors, and the matcher's API contract.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{EOS, grammar, shot_schema, toy_tokens, toy_vocab};
use previz_grammar::{ConstraintError, Grammar, Matcher, SchemaError, TokenSet, Vocab};
use serde_json::{Value, json};

fn matcher(schema: &Value) -> Matcher {
    Matcher::new(grammar(schema), toy_vocab())
}

/// Whether `text` is accepted byte by byte (without changing `m`).
fn accepts(m: &Matcher, text: &[u8]) -> bool {
    m.clone().accept_bytes(text).is_ok()
}

fn after(schema: &Value, text: &[u8]) -> Matcher {
    let mut m = matcher(schema);
    m.accept_bytes(text).expect("prefix accepted");
    m
}

fn allowed_bytes(m: &Matcher) -> Vec<u8> {
    (0..=255u8).filter(|&b| m.allows_byte(b)).collect()
}

fn token_id(text: &[u8]) -> u32 {
    toy_tokens()
        .iter()
        .position(|t| t == text)
        .expect("token in the toy vocabulary") as u32
}

// ---- Numbers: the accepted prefixes are exactly the prefixes of the valid texts. ----

/// Every canonical JSON text of a number in `min..=max` (scaled by `10^frac`) with at most
/// `frac` fraction digits, trailing zeros included (`4`, `4.0`, `4.00`).
fn valid_number_texts(min: i64, max: i64, frac: u32) -> BTreeSet<String> {
    let scale = 10i64.pow(frac);
    let mut out = BTreeSet::new();
    for v in min..=max {
        let sign = if v < 0 { "-" } else { "" };
        let (int, f) = (v.abs() / scale, v.abs() % scale);
        if f == 0 {
            out.insert(format!("{sign}{int}"));
        }
        for d in 1..=frac {
            let unit = 10i64.pow(frac - d);
            if f % unit == 0 {
                out.insert(format!(
                    "{sign}{int}.{:0width$}",
                    f / unit,
                    width = d as usize
                ));
            }
        }
    }
    out
}

/// Explores every text the matcher accepts (over digits, `-` and `.`) and checks it against
/// the valid set: accepted ⇔ a prefix of a valid text; complete ⇔ valid.
fn check_number_grammar(schema: &Value, min: i64, max: i64, frac: u32) {
    let valid = valid_number_texts(min, max, frac);
    let prefixes: BTreeSet<String> = valid
        .iter()
        .flat_map(|s| (1..=s.len()).map(move |n| s[..n].to_owned()))
        .collect();
    let g = grammar(schema);
    let mut todo = vec![(String::new(), Matcher::new(Arc::clone(&g), toy_vocab()))];
    let mut seen = BTreeSet::new();
    while let Some((text, m)) = todo.pop() {
        assert_eq!(
            m.is_complete(),
            valid.contains(&text),
            "{schema}: is_complete after {text:?}"
        );
        assert!(
            text.len() <= g.max_len_bytes(),
            "{schema}: {text:?} longer than the bound"
        );
        for c in "-.0123456789".chars() {
            let next = format!("{text}{c}");
            let mut m2 = m.clone();
            let ok = m2.accept_bytes(&next.as_bytes()[text.len()..]).is_ok();
            assert_eq!(ok, prefixes.contains(&next), "{schema}: accepts {next:?}");
            if ok {
                todo.push((next.clone(), m2));
            }
        }
        seen.insert(text);
    }
    assert!(
        valid.is_subset(&seen),
        "{schema}: some valid text never reached"
    );
}

#[test]
fn integers_accept_exactly_the_prefixes_of_numbers_in_range() {
    for (a, b) in [
        (12, 200),
        (-15, 7),
        (-200, -12),
        (0, 0),
        (1, 99),
        (-1, -1),
        (95, 1005),
    ] {
        check_number_grammar(&json!({"type":"integer","minimum":a,"maximum":b}), a, b, 0);
    }
}

#[test]
fn numbers_accept_exactly_the_prefixes_of_numbers_in_range() {
    check_number_grammar(
        &json!({"type":"number","minimum":0.5,"maximum":60,"multipleOf":0.1}),
        5,
        600,
        1,
    );
    check_number_grammar(
        &json!({"type":"number","minimum":-1.25,"maximum":3,"multipleOf":0.01}),
        -125,
        300,
        2,
    );
    check_number_grammar(
        &json!({"type":"number","minimum":-3,"maximum":-0.5}),
        -30,
        -5,
        1,
    );
    check_number_grammar(
        &json!({"type":"number","minimum":-7,"maximum":7,"multipleOf":1}),
        -7,
        7,
        0,
    );
    // Bounds between representable values round inwards.
    check_number_grammar(
        &json!({"type":"number","minimum":0.15,"maximum":0.99}),
        2,
        9,
        1,
    );
}

#[test]
fn a_number_ends_at_the_next_structural_byte() {
    let schema = json!({"type":"array","maxItems":3,"items":
        {"type":"number","minimum":0.5,"maximum":60,"multipleOf":0.1}});
    let m = after(&schema, b"[6");
    assert_eq!(allowed_bytes(&m), b",.0]".to_vec());
    let m = after(&schema, b"[60");
    assert_eq!(allowed_bytes(&m), b",.]".to_vec());
    let m = after(&schema, b"[60.");
    assert_eq!(allowed_bytes(&m), b"0".to_vec());
    let m = after(&schema, b"[0");
    assert_eq!(
        allowed_bytes(&m),
        b".".to_vec(),
        "0 itself is below the minimum"
    );
    assert!(
        !accepts(&matcher(&schema), b"[1.25"),
        "one fraction digit only"
    );
}

// ---- Strings ----

#[test]
fn a_string_at_max_length_only_closes() {
    let schema = json!({"type":"string","maxLength":3});
    let m = after(&schema, b"\"ab");
    assert!(m.allows_byte(b'c') && m.allows_byte(b'"'));
    let m = after(&schema, b"\"abc");
    assert_eq!(allowed_bytes(&m), b"\"".to_vec());
    let m = after(&schema, "\"a€".as_bytes());
    assert!(m.allows_byte(b'x'), "€ counts as one character");
    assert!(accepts(&after(&schema, b"\"ab"), b"\\n"));
    assert!(
        !accepts(&after(&schema, b"\"abc"), b"\\"),
        "no escape past maxLength"
    );
    let m = after(&schema, b"\"ab\\n");
    assert_eq!(
        allowed_bytes(&m),
        b"\"".to_vec(),
        "an escape is one character"
    );
}

#[test]
fn a_string_below_min_length_cannot_close() {
    let schema = json!({"type":"string","minLength":2,"maxLength":4});
    assert!(!accepts(&matcher(&schema), b"\"a\""));
    assert!(accepts(&matcher(&schema), b"\"ab\""));
    assert!(accepts(&matcher(&schema), "\"é€\"".as_bytes()));
}

#[test]
fn strings_take_four_escapes_and_no_control_characters() {
    let schema = json!({"type":"string","maxLength":10});
    for ok in [&b"\"\\\"\""[..], b"\"\\\\\"", b"\"\\n\"", b"\"\\/\""] {
        assert!(
            accepts(&matcher(&schema), ok),
            "{:?}",
            String::from_utf8_lossy(ok)
        );
    }
    for bad in [
        &b"\"\\t"[..],
        b"\"\\u",
        b"\"\\x",
        b"\"\n",
        b"\"\t",
        b"\"\x00",
        b"\"\x1f",
    ] {
        assert!(
            !accepts(&matcher(&schema), bad),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(
        accepts(&matcher(&schema), b"\"\x7f\""),
        "DEL is not a control character in JSON"
    );
}

#[test]
fn strings_take_only_well_formed_utf8() {
    let schema = json!({"type":"string","maxLength":10});
    for ok in [
        "é",
        "€",
        "😀",
        "\u{10FFFF}",
        "\u{FFFF}",
        "\u{D7FF}",
        "\u{E000}",
        "\u{80}",
    ] {
        let text = format!("\"{ok}\"");
        assert!(accepts(&matcher(&schema), text.as_bytes()), "{ok:?}");
    }
    // Overlong forms, surrogates, beyond U+10FFFF, stray continuation bytes, bad leads.
    for bad in [
        &b"\"\xC0\x80"[..],
        b"\"\xC1\xBF",
        b"\"\xE0\x80\x80",
        b"\"\xE0\x9F\xBF",
        b"\"\xED\xA0\x80",
        b"\"\xED\xBF\xBF",
        b"\"\xF0\x80\x80\x80",
        b"\"\xF0\x8F\xBF\xBF",
        b"\"\xF4\x90\x80\x80",
        b"\"\xF5\x80\x80\x80",
        b"\"\xFF",
        b"\"\x80",
        b"\"\xC3\"",
        b"\"\xE2\x82\"",
    ] {
        assert!(!accepts(&matcher(&schema), bad), "{bad:?}");
        // serde_json agrees that no completion of these is valid.
        assert!(std::str::from_utf8(&[bad, &b"\""[..]].concat()).is_err());
    }
    // A character split across tokens: the first two bytes of €, then its last byte.
    let mut m = matcher(&schema);
    let euro = "€".as_bytes();
    m.accept_token(token_id(b"\"")).unwrap();
    m.accept_token(token_id(&euro[..2])).unwrap();
    let mut set = TokenSet::new(m.vocab().len());
    m.fill_allowed(&mut set);
    assert!(set.contains(token_id(&euro[2..])));
    assert!(
        !set.contains(token_id(b"\"")),
        "no closing quote mid-character"
    );
    assert!(!set.contains(token_id(b"a")));
    m.accept_token(token_id(&euro[2..])).unwrap();
    m.accept_token(token_id(b"\"")).unwrap();
    assert!(m.is_complete());
}

// ---- Literals, arrays, objects ----

#[test]
fn enums_share_prefixes_and_close_with_their_quote() {
    let schema = json!({"enum":["medium","medium_wide","wide"]});
    let m = after(&schema, b"\"medium");
    assert_eq!(allowed_bytes(&m), b"\"_".to_vec());
    assert!(accepts(&m, b"_wide\""));
    assert!(!accepts(&m, b"_wid\""));
    assert!(after(&schema, b"\"wide\"").is_complete());
    assert_eq!(matcher(&schema).forced_bytes(), b"\"".to_vec());
}

#[test]
fn literals_that_prefix_each_other_end_at_the_next_byte() {
    let schema = json!({"type":"array","maxItems":2,"items":{"enum":[1,12,true]}});
    let m = after(&schema, b"[1");
    assert_eq!(allowed_bytes(&m), b",2]".to_vec());
    assert!(accepts(&m, b"2,true]"));
    // At the root, a literal that could go on is complete: EOS or more.
    let m = after(&json!({"enum":[1,12]}), b"1");
    assert!(m.is_complete() && m.allows_byte(b'2'));
}

#[test]
fn booleans_null_and_const() {
    assert!(accepts(&matcher(&json!({"type":"boolean"})), b"false"));
    assert!(accepts(&matcher(&json!({"type":"boolean"})), b"true"));
    assert!(!accepts(&matcher(&json!({"type":"boolean"})), b"null"));
    assert_eq!(
        matcher(&json!({"type":"null"})).forced_bytes(),
        b"null".to_vec()
    );
    let c = matcher(&json!({"const":"a\"b\\c"}));
    assert_eq!(c.forced_bytes(), br#""a\"b\\c""#.to_vec());
}

#[test]
fn arrays_respect_min_and_max_items() {
    let schema = json!({"type":"array","minItems":2,"maxItems":3,"items":{"type":"integer","minimum":1,"maximum":9}});
    assert!(!accepts(&matcher(&schema), b"[]"));
    assert!(!accepts(&matcher(&schema), b"[1]"));
    assert!(accepts(&matcher(&schema), b"[1,2]"));
    let m = after(&schema, b"[1,2,3");
    assert_eq!(allowed_bytes(&m), b"]".to_vec());
    assert_eq!(m.forced_bytes(), b"]".to_vec());
    assert_eq!(
        matcher(&json!({"type":"array","maxItems":0,"items":{"type":"null"}})).forced_bytes(),
        b"[]".to_vec()
    );
    assert!(accepts(
        &matcher(&json!({"type":"array","maxItems":2,"items":{"type":"null"}})),
        b"[]"
    ));
}

#[test]
fn objects_follow_the_required_order_compactly() {
    let schema = json!({"type":"object","properties":{"a":{"type":"null"},"b":{"type":"boolean"}},"required":["b","a"]});
    let m = matcher(&schema);
    assert_eq!(m.forced_bytes(), br#"{"b":"#.to_vec());
    let m = after(&schema, br#"{"b":true"#);
    assert_eq!(m.forced_bytes(), br#","a":null}"#.to_vec());
    assert!(!accepts(&matcher(&schema), br#"{"a":"#));
    assert!(!accepts(&matcher(&schema), br#"{ "b":"#), "no whitespace");
    assert_eq!(
        matcher(&json!({"type":"object"})).forced_bytes(),
        b"{}".to_vec()
    );
}

// ---- The shot-list schema ----

#[test]
fn the_shot_schema_forces_its_structure() {
    let schema = shot_schema();
    let g = grammar(&schema);
    let mut m = Matcher::new(Arc::clone(&g), toy_vocab());
    assert_eq!(m.forced_bytes(), br#"{"shots":[{"size":""#.to_vec());
    m.accept_bytes(br#"{"shots":[{"size":"wide""#).unwrap();
    assert_eq!(m.forced_bytes(), br#","angle":""#.to_vec());
    m.accept_bytes(br#","angle":"low","movement":"pan","lens_mm":"#)
        .unwrap();
    assert_eq!(m.forced_bytes(), Vec::<u8>::new(), "digits are chosen");
    assert!(!m.allows_byte(b'0') && !m.allows_byte(b'-'));
    m.accept_bytes(br#"35,"subject":"Ann","action":"","lines":[],"duration_s":4.5,"prompt":"x"#)
        .unwrap();
    assert_eq!(m.forced_bytes(), Vec::<u8>::new());
    m.accept_bytes(b"\"}").unwrap();
    assert_eq!(allowed_bytes(&m), b",]".to_vec());
    m.accept_bytes(b"]").unwrap();
    assert_eq!(m.forced_bytes(), b"}".to_vec());
    m.accept_bytes(b"}").unwrap();
    assert!(m.is_complete());
    assert!(m.bytes_accepted() <= g.max_len_bytes());
}

#[test]
fn the_shot_schema_stops_at_twelve_shots() {
    let schema = shot_schema();
    let shot = r#"{"size":"wide","angle":"low","movement":"pan","lens_mm":35,"subject":"","action":"","lines":[1],"duration_s":1,"prompt":""}"#;
    let shots = [shot; 12].join(",");
    let m = after(&schema, format!("{{\"shots\":[{shots}").as_bytes());
    assert_eq!(allowed_bytes(&m), b"]".to_vec());
}

#[test]
fn max_len_bytes_is_reachable_and_an_upper_bound() {
    // Strings count 4 bytes per character (the worst case), arrays their maximum items.
    let g = Grammar::from_json_schema(
        &json!({"type":"array","maxItems":2,"items":{"type":"string","maxLength":1}}),
    )
    .unwrap();
    assert_eq!(g.max_len_bytes(), r#"["😀","😀"]"#.len());
    let g = Grammar::from_json_schema(
        &json!({"type":"number","minimum":-60,"maximum":5,"multipleOf":0.01}),
    )
    .unwrap();
    assert_eq!(g.max_len_bytes(), "-60.00".len());
    assert!(grammar(&shot_schema()).max_len_bytes() > 12 * 460);
}

// ---- The matcher's contract ----

#[test]
fn eos_is_allowed_exactly_when_complete_and_then_alone() {
    let schema = json!({"type":"string","maxLength":2});
    let vocab = toy_vocab();
    let mut m = Matcher::new(grammar(&schema), Arc::clone(&vocab));
    let mut set = vocab.token_set();
    m.fill_allowed(&mut set);
    assert!(!set.contains(EOS));
    assert_eq!(m.accept_token(EOS), Err(ConstraintError::EosTooEarly));
    m.accept_bytes(b"\"a\"").unwrap();
    m.fill_allowed(&mut set);
    assert_eq!(set.iter().collect::<Vec<_>>(), vec![EOS]);
    m.accept_token(EOS).unwrap();
    m.fill_allowed(&mut set);
    assert_eq!(set.iter().collect::<Vec<_>>(), vec![EOS]);
}

#[test]
fn special_and_empty_tokens_are_never_allowed() {
    let schema = json!({"type":"string","maxLength":100});
    let vocab = toy_vocab();
    let m = after(&schema, b"\"");
    let mut set = vocab.token_set();
    m.fill_allowed(&mut set);
    // `<|im_start|>` would be fine string content as bytes, but it is special.
    assert!(!set.contains(1) && !set.contains(0) && !set.contains(EOS));
    assert!(
        set.contains(token_id(b"<|im_end|>x")),
        "a normal token with such bytes is fine"
    );
    let empty = (vocab.len() - 1) as u32;
    assert!(!set.contains(empty));
    let mut m2 = m.clone();
    assert_eq!(
        m2.accept_token(1),
        Err(ConstraintError::NeverAllowed { id: 1 })
    );
    assert_eq!(
        m2.accept_token(empty),
        Err(ConstraintError::NeverAllowed { id: empty })
    );
    assert_eq!(
        m2.accept_token(99_999),
        Err(ConstraintError::UnknownToken { id: 99_999 })
    );
    assert_eq!(m2, m);
}

#[test]
fn tokens_may_straddle_values_and_refusals_change_nothing() {
    let schema = shot_schema();
    let mut m = after(
        &schema,
        br#"{"shots":[{"size":"wide","angle":"low","movement":"pan","lens_mm":3"#,
    );
    let snapshot = m.clone();
    // `5,"` ends the number and opens the next key.
    m.accept_token(token_id(b"5,\"")).unwrap();
    assert!(accepts(&m, br#"subject":""#));
    let mut m = snapshot.clone();
    assert_eq!(
        m.accept_token(token_id(b"00")),
        Err(ConstraintError::TokenRejected {
            id: token_id(b"00"),
            offset: 1
        })
    );
    assert_eq!(m, snapshot);
    assert!(m.accept_bytes(b"5x").is_err());
    assert_eq!(m, snapshot);
    assert_eq!(m.bytes_accepted(), snapshot.bytes_accepted());
}

#[test]
fn clone_is_a_snapshot_and_reset_starts_over() {
    let schema = shot_schema();
    let mut m = matcher(&schema);
    let start = m.clone();
    m.accept_bytes(br#"{"shots":["#).unwrap();
    let mid = m.clone();
    m.accept_bytes(br#"{"size":"#).unwrap();
    assert_ne!(m, mid);
    assert_eq!(mid.forced_bytes(), br#"{"size":""#.to_vec());
    m.reset();
    assert_eq!(m, start);
}

#[test]
fn token_sets_count_and_iterate() {
    let mut s = TokenSet::new(130);
    for id in [0, 63, 64, 129] {
        s.insert(id);
    }
    assert_eq!(s.len(), 4);
    assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 63, 64, 129]);
    assert!(s.contains(129) && !s.contains(128) && !s.contains(5000));
    s.clear();
    assert!(s.is_empty());
}

#[test]
fn the_mask_matches_token_by_token_acceptance_on_a_bigger_vocabulary() {
    // Every token made of 1..=3 bytes from an alphabet covering structure, digits, escapes,
    // UTF-8 pieces: the trie walk (and its shortcut for plain tokens in strings) must agree
    // with feeding each token on its own, at many states of a shot list.
    let alphabet: Vec<u8> = b"{}[],:\"\\n0159.-a_ \x7f\n"
        .iter()
        .copied()
        .chain([0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F])
        .collect();
    let mut tokens = vec![b"<|im_end|>".to_vec()];
    for &a in &alphabet {
        tokens.push(vec![a]);
        for &b in &alphabet {
            tokens.push(vec![a, b]);
            for &c in &alphabet {
                tokens.push(vec![a, b, c]);
            }
        }
    }
    let vocab = Arc::new(Vocab::new(tokens, [], 0));
    let g = grammar(&shot_schema());
    let doc = r#"{"shots":[{"size":"wide","angle":"low","movement":"pan","lens_mm":135,"subject":"a\né€😀\\ ab","action":"","lines":[1,59],"duration_s":10.5,"prompt":"a"}]}"#;
    let mut m = Matcher::new(g, Arc::clone(&vocab));
    let mut set = vocab.token_set();
    for &b in doc.as_bytes() {
        m.fill_allowed(&mut set);
        for id in 0..vocab.len() as u32 {
            assert_eq!(
                set.contains(id),
                m.clone().accept_token(id).is_ok(),
                "token {:?} after {} bytes",
                vocab.token_bytes(id),
                m.bytes_accepted()
            );
        }
        m.accept_bytes(&[b]).unwrap();
    }
    assert!(m.is_complete());
}

// ---- Schema errors ----

fn err(schema: &Value) -> SchemaError {
    Grammar::from_json_schema(schema).expect_err("schema must be refused")
}

#[test]
fn unsupported_keywords_are_named_with_their_pointer() {
    let mut schema = shot_schema();
    schema["properties"]["shots"]["items"]["properties"]["subject"]["pattern"] = json!("^A");
    let e = err(&schema);
    assert_eq!(
        e,
        SchemaError::Unsupported {
            pointer: "/properties/shots/items/properties/subject".into(),
            keyword: "pattern".into(),
            supported: "type, minLength, maxLength (or enum/const)",
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("pattern")
            && msg.contains("/properties/shots/items/properties/subject")
            && msg.contains("maxLength"),
        "{msg}"
    );
    assert!(
        matches!(err(&json!({"$ref":"#/$defs/x"})), SchemaError::Unsupported { keyword, .. } if keyword == "$ref")
    );
    assert!(
        matches!(err(&json!({"anyOf":[]})), SchemaError::Unsupported { keyword, .. } if keyword == "anyOf")
    );
    assert!(
        matches!(err(&json!({"type":"integer","minimum":0,"maximum":3,"exclusiveMaximum":3})), SchemaError::Unsupported { keyword, .. } if keyword == "exclusiveMaximum")
    );
    assert!(
        matches!(err(&json!({"type":"object","properties":{"a/b":{"type":"string","format":"date","maxLength":3}},"required":["a/b"]})), SchemaError::Unsupported { pointer, .. } if pointer == "/properties/a~1b")
    );
}

#[test]
fn unbounded_values_are_refused() {
    assert!(matches!(
        err(&json!({"type":"string"})),
        SchemaError::Missing {
            keyword: "maxLength",
            ..
        }
    ));
    assert!(matches!(
        err(&json!({"type":"array","items":{"type":"null"}})),
        SchemaError::Missing {
            keyword: "maxItems",
            ..
        }
    ));
    assert!(matches!(
        err(&json!({"type":"integer","minimum":0})),
        SchemaError::Missing {
            keyword: "maximum",
            ..
        }
    ));
    assert!(matches!(
        err(&json!({"type":"number","maximum":0})),
        SchemaError::Missing {
            keyword: "minimum",
            ..
        }
    ));
    assert!(matches!(
        err(&json!({"type":"array","maxItems":2})),
        SchemaError::Missing {
            keyword: "items",
            ..
        }
    ));
    assert!(matches!(
        err(&json!({"minLength":2})),
        SchemaError::Unsupported { .. }
    ));
    assert!(matches!(
        err(&json!({})),
        SchemaError::Missing {
            keyword: "type",
            ..
        }
    ));
}

#[test]
fn inconsistent_schemas_are_refused() {
    let invalid = |schema: Value, kw: &str| match err(&schema) {
        SchemaError::Invalid { keyword, .. } => assert_eq!(keyword, kw, "{schema}"),
        other => panic!("{schema}: {other:?}"),
    };
    let props = json!({"a":{"type":"null"},"b":{"type":"null"}});
    invalid(
        json!({"type":"object","properties":props,"required":["a"]}),
        "required",
    );
    invalid(
        json!({"type":"object","properties":props,"required":["a","b","a"]}),
        "required",
    );
    invalid(
        json!({"type":"object","properties":props,"required":["a","b","c"]}),
        "required",
    );
    invalid(
        json!({"type":"object","properties":props,"required":["a","b"],"additionalProperties":true}),
        "additionalProperties",
    );
    invalid(
        json!({"type":"number","minimum":0,"maximum":1,"multipleOf":0.25}),
        "multipleOf",
    );
    invalid(
        json!({"type":"integer","minimum":0,"maximum":10,"multipleOf":0.1}),
        "multipleOf",
    );
    invalid(json!({"type":"integer","minimum":5,"maximum":4}), "minimum");
    invalid(
        json!({"type":"number","minimum":0.11,"maximum":0.19}),
        "minimum",
    );
    invalid(
        json!({"type":"string","minLength":5,"maxLength":4}),
        "minLength",
    );
    invalid(
        json!({"type":"array","items":{"type":"null"},"minItems":3,"maxItems":2}),
        "minItems",
    );
    invalid(
        json!({"type":"array","items":{"type":"null"},"maxItems":-1}),
        "maxItems",
    );
    invalid(json!({"type":["string","null"]}), "type");
    invalid(json!({"type":"date"}), "type");
    invalid(json!({"enum":[]}), "enum");
    invalid(json!({"type":"string","enum":["a",1]}), "enum");
    invalid(
        json!({"type":"number","minimum":-1e300,"maximum":0}),
        "minimum",
    );
    assert!(
        matches!(err(&json!(true)), SchemaError::NotAnObject { pointer } if pointer.is_empty())
    );
    assert!(
        matches!(err(&json!({"type":"array","maxItems":1,"items":[]})), SchemaError::NotAnObject { pointer } if pointer == "/items")
    );
}

#[test]
fn the_types_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Matcher>();
    send_sync::<Grammar>();
    send_sync::<Vocab>();
    send_sync::<TokenSet>();
}

//! Final Draft import: paragraph-type mapping, styles, dual dialogue, title page, notes, errors.

mod common;

use common::assert_round_trip;
use previz_screenplay::{ParseErrorKind, Parsed, parse_fdx};
use serde_json::{Value, json};

fn fdx(content: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\" ?>\n\
         <FinalDraft DocumentType=\"Script\" Template=\"No\" Version=\"5\">\n\
         <Content>\n{content}\n</Content>\n</FinalDraft>\n"
    )
}

fn para(kind: &str, text: &str) -> String {
    format!("<Paragraph Type=\"{kind}\"><Text>{text}</Text></Paragraph>")
}

fn parse(xml: &str) -> Parsed {
    match parse_fdx(xml.as_bytes()) {
        Ok(parsed) => parsed,
        Err(error) => panic!("{error}\n{xml}"),
    }
}

fn elements(xml: &str) -> Vec<Value> {
    let parsed = parse(xml);
    assert_round_trip(&parsed.screenplay, "fdx");
    let value = serde_json::to_value(&parsed.screenplay).unwrap_or_default();
    value["elements"].as_array().cloned().unwrap_or_default()
}

fn types(xml: &str) -> Vec<String> {
    elements(xml)
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn paragraph_types_map_to_fountain_elements() {
    let xml = fdx(&[
        para("Scene Heading", "INT. HOUSE - DAY"),
        para("Action", "Quiet."),
        para("Character", "BOB (V.O.)"),
        para("Parenthetical", "(softly)"),
        para("Dialogue", "Hello."),
        para("Lyrics", "La la la."),
        para("Transition", "CUT TO:"),
        para("Shot", "CLOSE ON BOB"),
        para("General", "A general note."),
        para("Cast List", "BOB, a man."),
        para("New Act", "ACT TWO"),
        para("End of Act", "END OF ACT TWO"),
    ]
    .join("\n"));
    assert_eq!(
        types(&xml),
        [
            "scene_heading",
            "action",
            "character",
            "parenthetical",
            "dialogue",
            "lyrics",
            "transition",
            "action",
            "action",
            "action",
            "section",
            "centered"
        ]
    );
    let e = elements(&xml);
    assert_eq!(e[2]["name"], "BOB");
    assert_eq!(e[2]["extension"], "V.O.");
    assert_eq!(e[10]["depth"], 1);
}

#[test]
fn scene_numbers_come_from_the_number_attribute() {
    let xml = fdx(
        "<Paragraph Type=\"Scene Heading\" Number=\"12A\"><Text>EXT. PIER - DAWN</Text></Paragraph>",
    );
    assert_eq!(elements(&xml)[0]["scene_number"], "12A");
}

#[test]
fn styled_runs_become_spans() {
    let xml = fdx(
        "<Paragraph Type=\"Action\"><Text>He is </Text><Text Style=\"Bold+Italic\">very</Text>\
         <Text Style=\"Underline\"> late</Text><Text>.</Text></Paragraph>",
    );
    let e = elements(&xml);
    assert_eq!(e[0]["text"], "He is very late.");
    let spans = e[0]["spans"].as_array().cloned().unwrap_or_default();
    assert!(
        spans.contains(&json!({"text": "very", "bold": true, "italic": true, "underline": false}))
    );
    assert!(
        spans
            .iter()
            .any(|s| s["underline"] == true
                && s["text"].as_str().is_some_and(|t| t.contains("late")))
    );
}

#[test]
fn all_caps_style_uppercases() {
    let xml = fdx(
        "<Paragraph Type=\"Action\"><Text Style=\"AllCaps\">loud</Text><Text> noise.</Text></Paragraph>",
    );
    assert_eq!(elements(&xml)[0]["text"], "LOUD noise.");
}

#[test]
fn dual_dialogue_marks_both_sides() {
    let xml = fdx(&format!(
        "<Paragraph><DualDialogue>{}{}{}{}</DualDialogue></Paragraph>",
        para("Character", "ANN"),
        para("Dialogue", "Now!"),
        para("Character", "BEA"),
        para("Dialogue", "Later!")
    ));
    let e = elements(&xml);
    assert_eq!(
        (e[0]["dual"].clone(), e[0]["dual_side"].clone()),
        (json!(true), json!("left"))
    );
    assert_eq!(
        (e[2]["dual"].clone(), e[2]["dual_side"].clone()),
        (json!(true), json!("right"))
    );
}

#[test]
fn lowercase_names_are_forced_on_export() {
    let xml = fdx(&[para("Character", "McGRATH"), para("Dialogue", "Hi.")].join(""));
    let parsed = parse(&xml);
    let written = assert_round_trip(&parsed.screenplay, "fdx");
    assert!(written.contains("@McGRATH"), "{written}");
}

#[test]
fn fountain_markup_in_fdx_text_is_literal() {
    let xml = fdx(&para(
        "Action",
        "He dials *69 and types /* nothing */ into [[the box]]_now_.",
    ));
    let e = elements(&xml);
    assert_eq!(
        e[0]["text"],
        "He dials *69 and types /* nothing */ into [[the box]]_now_."
    );
}

#[test]
fn odd_structures_are_normalised() {
    // Dialogue with no character becomes action; a character with nothing to say too;
    // two dialogue paragraphs in a row merge; a bare parenthetical gets its parentheses.
    let xml = fdx(&[
        para("Dialogue", "Orphan line."),
        para("Character", "SILENT"),
        para("Action", "Nothing."),
        para("Character", "TALKER"),
        para("Parenthetical", "beat"),
        para("Dialogue", "One."),
        para("Dialogue", "Two."),
        para("Action", ""),
    ]
    .join(""));
    let e = elements(&xml);
    let kinds: Vec<&str> = e.iter().filter_map(|v| v["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "action",
            "action",
            "action",
            "character",
            "parenthetical",
            "dialogue"
        ]
    );
    assert_eq!(e[4]["text"], "(beat)");
    assert_eq!(e[5]["text"], "One.\nTwo.");
}

#[test]
fn unwritable_heading_becomes_action() {
    let xml = fdx(&para("Scene Heading", "- MONTAGE -"));
    assert_eq!(types(&xml), ["action"]);
}

#[test]
fn script_notes_attach_to_their_paragraph() {
    let xml = fdx(
        "<Paragraph Type=\"Action\"><ScriptNote ID=\"1\"><Paragraph><Text>Check this.</Text></Paragraph></ScriptNote>\
         <Text>She waits.</Text></Paragraph>",
    );
    assert_eq!(elements(&xml)[0]["notes"], json!(["Check this."]));
}

#[test]
fn notes_on_empty_paragraphs_survive() {
    let xml = fdx(
        "<Paragraph Type=\"Action\"><ScriptNote><Paragraph><Text>Keep me.</Text></Paragraph>\
         </ScriptNote><Text>  </Text></Paragraph>",
    );
    assert_eq!(
        elements(&xml),
        [json!({"type": "note", "text": "Keep me.", "line": 4})]
    );
}

#[test]
fn unknown_paragraph_types_warn_once() {
    let xml = fdx(&[para("Teaser", "One."), para("Teaser", "Two.")].join(""));
    let parsed = parse(&xml);
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].message.contains("Teaser"));
}

#[test]
fn positions_are_xml_lines() {
    let xml = fdx(&[para("Action", "One."), para("Action", "Two.")].join("\n"));
    let e = elements(&xml);
    assert_eq!(e[0]["line"], 4);
    assert_eq!(e[1]["line"], 5);
}

#[test]
fn title_page_heuristics() {
    let xml = "<?xml version=\"1.0\"?><FinalDraft DocumentType=\"Script\"><Content/>\
        <TitlePage><Content>\
        <Paragraph Alignment=\"Center\"><Text></Text></Paragraph>\
        <Paragraph Alignment=\"Center\"><Text Style=\"Bold\">THE TITLE</Text></Paragraph>\
        <Paragraph Alignment=\"Center\"><Text>Part Two</Text></Paragraph>\
        <Paragraph Alignment=\"Center\"><Text></Text></Paragraph>\
        <Paragraph Alignment=\"Center\"><Text>by</Text></Paragraph>\
        <Paragraph Alignment=\"Center\"><Text></Text></Paragraph>\
        <Paragraph Alignment=\"Center\"><Text>Ann Writer</Text></Paragraph>\
        <Paragraph Alignment=\"Center\"><Text>Bea Writer</Text></Paragraph>\
        <Paragraph Alignment=\"Left\"><Text>Agent Name</Text></Paragraph>\
        <Paragraph Alignment=\"Left\"><Text>555 0100</Text></Paragraph>\
        <Paragraph Alignment=\"Right\"><Text>Draft 3/1/2026</Text></Paragraph>\
        </Content></TitlePage></FinalDraft>";
    let parsed = parse(xml);
    assert_round_trip(&parsed.screenplay, "title page");
    let v = serde_json::to_value(&parsed.screenplay).unwrap_or_default();
    assert_eq!(
        v["title_page"],
        json!({
            "Title": "THE TITLE\nPart Two",
            "Credit": "by",
            "Author": "Ann Writer\nBea Writer",
            "Contact": "Agent Name\n555 0100",
            "Draft date": "Draft 3/1/2026"
        })
    );
}

#[test]
fn malformed_xml_is_an_error_with_position() {
    let Err(error) = parse_fdx(b"<FinalDraft>\n  <Content>\n</FinalDraft>") else {
        panic!("accepted");
    };
    assert_eq!(error.kind, ParseErrorKind::MalformedXml);
    assert_eq!(error.line, 3);
    assert!(error.to_string().starts_with("3:"), "{error}");
}

#[test]
fn other_xml_is_not_final_draft() {
    let Err(error) = parse_fdx(b"<?xml version=\"1.0\"?>\n<html><body/></html>") else {
        panic!("accepted");
    };
    assert_eq!(error.kind, ParseErrorKind::NotFinalDraft);
    let message = error.to_string();
    assert!(message.contains("<html>"), "{message}");
    assert!(
        message.contains("expected a <FinalDraft> root element"),
        "{message}"
    );
}

#[test]
fn utf16_and_bom_fdx() {
    let xml = fdx(&para("Action", "Café."));
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            xml.replace("UTF-8", "UTF-16")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let from_utf16 = parse_fdx(&utf16).map(|p| p.screenplay.content_only());
    assert_eq!(from_utf16.ok(), Some(parse(&xml).screenplay.content_only()));
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), xml.as_bytes()].concat();
    assert!(parse_fdx(&with_bom).is_ok());
    assert!(parse_fdx(b"\xff\xff\xff").is_err());
}

#[test]
fn hostile_xml_is_refused_without_crashing() {
    let deep = format!(
        "<FinalDraft><Content>{}{}</Content></FinalDraft>",
        "<Paragraph>".repeat(200_000),
        "</Paragraph>".repeat(200_000)
    );
    let _ = parse_fdx(deep.as_bytes());
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">\
        <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\
        <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">]>\
        <FinalDraft><Content><Paragraph Type=\"Action\"><Text>&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;</Text>\
        </Paragraph></Content></FinalDraft>";
    let _ = parse_fdx(laughs.as_bytes());
}

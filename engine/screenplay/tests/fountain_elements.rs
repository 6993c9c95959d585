//! Every Fountain element on its own and mixed with others, through the public API and the
//! JSON contract.

use previz_screenplay::{
    DualSide, ElementKind, ParseErrorKind, Parsed, Screenplay, parse_fountain,
    parse_fountain_bytes, write_fountain,
};
use serde_json::{Value, json};

fn parse(src: &str) -> Parsed {
    match parse_fountain(src) {
        Ok(parsed) => parsed,
        Err(error) => panic!("{error}"),
    }
}

fn kinds(src: &str) -> Vec<ElementKind> {
    parse(src)
        .screenplay
        .elements
        .into_iter()
        .map(|e| e.kind.without_spans())
        .collect()
}

fn types(src: &str) -> Vec<&'static str> {
    parse(src)
        .screenplay
        .elements
        .iter()
        .map(|e| e.kind.type_name())
        .collect()
}

fn json(src: &str) -> Value {
    serde_json::to_value(parse(src).screenplay).unwrap_or_default()
}

/// Writing and reading back keeps the content.
fn assert_round_trip(src: &str) {
    let first = parse(src).screenplay;
    let written = write_fountain(&first);
    let second = parse(&written).screenplay;
    assert_eq!(
        second.content_only(),
        first.content_only(),
        "source:\n{src}\nwritten:\n{written}"
    );
}

fn action(text: &str, forced: bool) -> ElementKind {
    ElementKind::Action {
        text: text.into(),
        forced,
        spans: None,
        notes: vec![],
    }
}

fn heading(text: &str, number: Option<&str>, forced: bool) -> ElementKind {
    ElementKind::SceneHeading {
        text: text.into(),
        scene_number: number.map(Into::into),
        forced,
        spans: None,
        notes: vec![],
    }
}

fn dialogue(text: &str) -> ElementKind {
    ElementKind::Dialogue {
        text: text.into(),
        spans: None,
        notes: vec![],
    }
}

#[test]
fn scene_heading_prefixes() {
    for prefix in [
        "INT.",
        "EXT.",
        "EST.",
        "INT./EXT.",
        "INT/EXT",
        "I/E",
        "int.",
        "Ext ",
        "i/e.",
    ] {
        let src = format!("{prefix} KITCHEN - DAY\n");
        assert_eq!(types(&src), ["scene_heading"], "{prefix}");
        assert_round_trip(&src);
    }
    assert_eq!(types("INTERIOR KITCHEN"), ["action"]);
    assert_eq!(types("EXTRA! EXTRA!"), ["action"]);
}

#[test]
fn scene_heading_needs_blank_lines_around_it() {
    // Followed directly by text: a character cue per the spec (all caps, then dialogue).
    assert_eq!(
        types("INT. HOUSE - DAY\nShe enters."),
        ["character", "dialogue"]
    );
    assert_eq!(types("int. house - day\nShe enters."), ["action"]);
    assert_eq!(
        types("Action.\n\nINT. HOUSE - DAY\n\nMore."),
        ["action", "scene_heading", "action"]
    );
}

#[test]
fn markers_that_vanish_do_not_hide_elements() {
    // `*_*_` pairs up completely and leaves nothing visible.
    assert_eq!(types("*_*_ INT. HOUSE - DAY"), ["scene_heading"]);
    assert_eq!(types("Text.\n\nCUT TO: *_*_"), ["action", "transition"]);
    assert_eq!(types("Text.\n\n*_*_"), ["action"]);
    assert_round_trip("*_*_ INT. HOUSE - DAY\n\nCUT TO: *_*_\n\nx *_*_\n");
}

#[test]
fn forced_scene_headings() {
    assert_eq!(
        kinds(".SNIPER SCOPE POV"),
        [heading("SNIPER SCOPE POV", None, true)]
    );
    assert_eq!(
        kinds(".flashback #7#"),
        [heading("flashback", Some("7"), true)]
    );
    assert_eq!(types("...and then nothing."), ["action"]);
    assert_eq!(types(". space after the dot"), ["action"]);
    assert_round_trip(".SNIPER SCOPE POV\n\n.inside the box\n");
}

#[test]
fn scene_numbers() {
    for number in ["1", "1A", "1a", "A1", "I-1-A", "1.", "110A"] {
        let src = format!("INT. HOUSE - DAY #{number}#");
        assert_eq!(
            kinds(&src),
            [heading("INT. HOUSE - DAY", Some(number), false)]
        );
        assert_round_trip(&src);
    }
    assert_eq!(
        kinds(r"INT. ROOM \#5#"),
        [heading("INT. ROOM #5#", None, false)]
    );
    assert_round_trip(r"INT. ROOM \#5#");
}

#[test]
fn action_keeps_indentation_and_line_breaks() {
    let src = "\tTabbed in.\n    Four spaces in.\nFlush left.\n  \t Mixed.";
    assert_eq!(
        kinds(src),
        [action(
            "    Tabbed in.\n    Four spaces in.\nFlush left.\n       Mixed.",
            false
        )],
        "the spec: tabs are converted to four spaces"
    );
    assert_round_trip(src);
}

#[test]
fn forced_action() {
    assert_eq!(
        kinds("!SCANNING THE ROOM\nnothing moves"),
        [action("SCANNING THE ROOM\nnothing moves", true)]
    );
    assert_eq!(
        kinds("!INT. NOT A HEADING"),
        [action("INT. NOT A HEADING", true)]
    );
    assert_round_trip("!SCANNING THE ROOM\nnothing moves\n\n!CUT TO:\n");
}

#[test]
fn all_caps_line_followed_by_text_is_a_character() {
    assert_eq!(
        types("THE DOOR OPENS\nSomeone speaks."),
        ["character", "dialogue"]
    );
    assert_eq!(types("THE DOOR OPENS"), ["action"]);
    assert_eq!(
        types("THE DOOR OPENS\n\nSomeone enters."),
        ["action", "action"]
    );
}

#[test]
fn characters() {
    let v = json("MRS. O'BRIEN-SMITH (V.O.) (cont'd)\nHello.");
    assert_eq!(
        v["elements"][0],
        json!({
            "type": "character", "name": "MRS. O'BRIEN-SMITH", "extension": "V.O. cont'd",
            "extensions": ["V.O.", "cont'd"], "dual": false, "forced": false, "line": 1
        })
    );
    assert_eq!(types("R2D2\nBeep."), ["character", "dialogue"]);
    assert_eq!(types("23\nNot a name."), ["action"]);
    assert_eq!(types("HANS (on the radio)\nGo."), ["character", "dialogue"]);
    assert_eq!(types("Hans (on the radio)\nGo."), ["action"]);
    let v = json("@McCLANE\nYippee.");
    assert_eq!(v["elements"][0]["name"], "McCLANE");
    assert_eq!(v["elements"][0]["forced"], true);
    assert_round_trip("@McCLANE\nYippee.\n\nMRS. O'BRIEN-SMITH (V.O.) (cont'd)\nHello.\n");
}

#[test]
fn parentheticals_and_dialogue() {
    let src = "BOB\n(quietly)\nFirst line,\nsecond line.\n(beat)\nThird.";
    assert_eq!(
        types(src),
        [
            "character",
            "parenthetical",
            "dialogue",
            "parenthetical",
            "dialogue"
        ]
    );
    assert_eq!(kinds(src)[2], dialogue("First line,\nsecond line."));
    assert_eq!(json(src)["elements"][1]["text"], "(quietly)");
    assert_round_trip(src);
}

#[test]
fn two_spaces_keep_dialogue_going() {
    let src = "BOB\nOne.\n  \nTwo.";
    assert_eq!(kinds(src)[1], dialogue("One.\n\nTwo."));
    assert_round_trip(src);
    // Without the two spaces the block ends.
    assert_eq!(
        types("BOB\nOne.\n\nTwo."),
        ["character", "dialogue", "action"]
    );
}

#[test]
fn dual_dialogue() {
    let src = "BRICK\nScrew retirement.\n\nSTEEL ^\nScrew retirement.";
    let v = json(src);
    assert_eq!(v["elements"][0]["dual"], true);
    assert_eq!(v["elements"][0]["dual_side"], "left");
    assert_eq!(v["elements"][2]["dual"], true);
    assert_eq!(v["elements"][2]["dual_side"], "right");
    assert_eq!(v["elements"][2]["name"], "STEEL");
    assert_round_trip(src);
    let parsed = parse("He waits.\n\nSTEEL ^\nAlone.");
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(matches!(
        parsed.screenplay.elements[1].kind,
        ElementKind::Character { dual: false, .. }
    ));
    let v = json("A\nx\n\nB ^\ny\n\nC ^\nz");
    assert_eq!(v["elements"][4]["dual"], false, "a pair has two sides only");
    assert!(matches!(
        parse(src).screenplay.elements[2].kind,
        ElementKind::Character {
            dual_side: Some(DualSide::Right),
            ..
        }
    ));
}

#[test]
fn lyrics() {
    assert_eq!(
        types("~Willy Wonka!\n~The amazing chocolatier!"),
        ["lyrics"]
    );
    assert_eq!(json("~ La la\n~la")["elements"][0]["text"], "La la\nla");
    assert_eq!(
        types("SINGER\n(softly)\n~La la la\nThat's all I know."),
        ["character", "parenthetical", "lyrics", "dialogue"]
    );
    assert_round_trip("~Willy Wonka!\n~The amazing chocolatier!\n\nSINGER\n~La\n~Lo\nDone.\n");
}

#[test]
fn transitions() {
    assert_eq!(
        kinds("CUT TO:")[0].without_spans(),
        transition("CUT TO:", false)
    );
    assert_eq!(
        kinds("> Burn to White.")[0],
        transition("Burn to White.", true)
    );
    assert_eq!(types("Cut to:"), ["action"]);
    // The spec: a space after the colon makes it action.
    assert_eq!(kinds("CUT TO: "), [action("CUT TO:", false)]);
    assert_eq!(
        types("Text.\n\nCUT TO: [[a note]]"),
        ["action", "transition"]
    );
    assert_round_trip("CUT TO: \n\nCUT TO: [[a note]]\n");
    assert_eq!(types("CUT TO:\nThe garden."), ["character", "dialogue"]);
    assert_round_trip("CUT TO:\n\n> Burn to White.\n\n>CUT TO:\n");
}

fn transition(text: &str, forced: bool) -> ElementKind {
    ElementKind::Transition {
        text: text.into(),
        forced,
        spans: None,
        notes: vec![],
    }
}

#[test]
fn centered() {
    let v = json(">THE END<\n\n> INTERMISSION <");
    assert_eq!(
        v["elements"][0],
        json!({"type": "centered", "text": "THE END", "line": 1})
    );
    assert_eq!(v["elements"][1]["text"], "INTERMISSION");
    assert_eq!(json(">one<\n>two<")["elements"][0]["text"], "one\ntwo");
    assert_round_trip(">THE END<\n\n> INTERMISSION <\n\n>one<\n>two<\n");
}

#[test]
fn emphasis_and_escapes() {
    let v = json("*italic* **bold** ***both*** _under_ \\*lit\\* 5 * 3");
    let element = &v["elements"][0];
    assert_eq!(element["text"], "italic bold both under *lit* 5 * 3");
    let spans = element["spans"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        spans[0],
        json!({"text": "italic", "bold": false, "italic": true, "underline": false})
    );
    assert_eq!(
        spans[4],
        json!({"text": "both", "bold": true, "italic": true, "underline": false})
    );
    // No styling, no spans field.
    assert!(json("plain")["elements"][0].get("spans").is_none());
    assert_round_trip(
        "*italic* **bold** ***both*** _under_ \\*lit\\* 5 * 3\n\n_**bold under**_ *it*",
    );
}

#[test]
fn markers_that_do_not_close_on_the_line_are_literal() {
    assert_eq!(json("*start\nend*")["elements"][0]["text"], "*start\nend*");
    assert_round_trip("*start\nend*");
}

#[test]
fn notes() {
    let v = json("[[A note on its own.]]\n\nShe runs. [[Faster?]]\n\n[[A note\nover two lines.]]");
    assert_eq!(
        v["elements"][0],
        json!({"type": "note", "text": "A note on its own.", "line": 1})
    );
    assert_eq!(v["elements"][1]["text"], "She runs.");
    assert_eq!(
        json("A [[n]] B.\n\n  [[n]]  Indented.")["elements"][0]["text"],
        "A B."
    );
    assert_eq!(
        json("A.\n\n  [[n]]  Indented.")["elements"][1]["text"],
        "  Indented."
    );
    assert_eq!(v["elements"][1]["notes"], json!(["Faster?"]));
    assert_eq!(v["elements"][2]["text"], "A note\nover two lines.");
    assert_round_trip(
        "[[A note on its own.]]\n\nShe runs. [[Faster?]]\n\n[[A note\nover two lines.]]\n",
    );
}

#[test]
fn notes_inside_dialogue_blocks_stay_with_their_element() {
    let v = json("BOB [[who?]]\n(beat)\nHello. [[louder]]\n[[whole line]]\nBye.");
    assert_eq!(v["elements"][0]["notes"], json!(["who?"]));
    assert_eq!(v["elements"][2]["text"], "Hello.\nBye.");
    assert_eq!(v["elements"][2]["notes"], json!(["louder", "whole line"]));
    assert_round_trip("BOB [[who?]]\n(beat)\nHello. [[louder]]\n[[whole line]]\nBye.");
}

#[test]
fn unclosed_note_is_a_warning() {
    let parsed = parse("He waits [[for what\n\nNothing.");
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].line, 1);
    assert_eq!(
        types("He waits [[for what\n\nNothing."),
        ["action", "action"]
    );
}

#[test]
fn boneyard() {
    let src = "Before.\n/* cut\n\nINT. GONE - DAY\n\n*/\nAfter /* inline */ too.";
    assert_eq!(
        kinds(src),
        [action("Before.", false), action("After  too.", false)]
    );
    // The spec's own shape: a transition, a boneyard on its own lines, then a heading.
    assert_eq!(
        types("CUT TO:\n/*\nINT. GARAGE - DAY\n\nOld scene.\n*/\nEXT. MANSION - DAY\n\nA man."),
        ["transition", "scene_heading", "action"]
    );
    let Err(error) = parse_fountain("Fine.\n\n  /* open\nforever") else {
        panic!("unterminated boneyard accepted");
    };
    assert_eq!(error.kind, ParseErrorKind::UnterminatedBoneyard);
    assert_eq!((error.line, error.column), (3, 3));
    assert!(error.to_string().starts_with("3:3: "), "{error}");
    assert!(
        error.to_string().contains("expected a closing */"),
        "{error}"
    );
    assert!(
        error
            .clone()
            .with_path("x.fountain")
            .to_string()
            .starts_with("x.fountain:3:3: ")
    );
}

#[test]
fn sections_and_synopses() {
    let v = json("# Act One\n\n## Sequence\n\n= The hero wakes.\n\n### Beat");
    assert_eq!(
        v["elements"][0],
        json!({"type": "section", "text": "Act One", "depth": 1, "line": 1})
    );
    assert_eq!(v["elements"][1]["depth"], 2);
    assert_eq!(
        v["elements"][2],
        json!({"type": "synopsis", "text": "The hero wakes.", "line": 5})
    );
    assert_eq!(v["elements"][3]["depth"], 3);
    // Outline lines may sit together in one paragraph.
    assert_eq!(
        types("# Act\n= Synopsis\n## Scene"),
        ["section", "synopsis", "section"]
    );
    assert_round_trip("# Act One\n\n## Sequence\n\n= The hero wakes.\n\n### Beat\n");
}

#[test]
fn page_breaks() {
    assert_eq!(
        types("One.\n\n===\n\nTwo."),
        ["action", "page_break", "action"]
    );
    assert_eq!(types("=========="), ["page_break"]);
    assert_eq!(types("=="), ["synopsis"]);
    assert_eq!(
        json("===")["elements"][0],
        json!({"type": "page_break", "line": 1})
    );
}

#[test]
fn title_page() {
    let src = "Title:\n    _**BRICK & STEEL**_\n    _**FULL RETIRED**_\nCredit: Written by\nAuthor: Stu\nDraft date: 1/20/2012\nContact:\n\tNext Level\n\tSolvang, CA\n\nEXT. PATIO - DAY";
    let v = json(src);
    assert_eq!(
        v["title_page"],
        json!({
            "Title": "BRICK & STEEL\nFULL RETIRED",
            "Credit": "Written by",
            "Author": "Stu",
            "Draft date": "1/20/2012",
            "Contact": "Next Level\nSolvang, CA"
        })
    );
    // serde_json::Value sorts keys; the serialised text must keep file order.
    let text = serde_json::to_string(&parse(src).screenplay).unwrap_or_default();
    let positions: Vec<usize> = [
        "\"Title\"",
        "\"Credit\"",
        "\"Author\"",
        "\"Draft date\"",
        "\"Contact\"",
    ]
    .iter()
    .filter_map(|key| text.find(key))
    .collect();
    assert_eq!(positions.len(), 5, "{text}");
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "file order: {text}"
    );
    assert_eq!(types(src), ["scene_heading"]);
    assert_round_trip(src);
    // Not at the start of the file, or not key/value lines: no title page.
    assert!(
        parse("FADE IN:\n\nTitle: no")
            .screenplay
            .title_page
            .is_empty()
    );
    assert_eq!(json("Just action.")["title_page"], json!({}));
}

#[test]
fn repeated_title_keys_join_in_json() {
    let v = json("Author: One\nAuthor: Two\n\nBody.");
    assert_eq!(v["title_page"], json!({"Author": "One\nTwo"}));
}

#[test]
fn line_endings_and_bom() {
    let lf = parse("\u{feff}INT. A - DAY\n\nBOB\nHi.\n")
        .screenplay
        .content_only();
    let crlf = parse("INT. A - DAY\r\n\r\nBOB\r\nHi.\r\n")
        .screenplay
        .content_only();
    let cr = parse("INT. A - DAY\r\rBOB\rHi.\r")
        .screenplay
        .content_only();
    assert_eq!(lf, crlf);
    assert_eq!(lf, cr);
}

#[test]
fn bytes_entry_point_decodes_and_reports() {
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            "INT. CAFÉ - DAY\r\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let parsed = parse_fountain_bytes(&utf16).map(|p| p.screenplay.content_only());
    assert_eq!(
        parsed.ok(),
        Some(parse("INT. CAFÉ - DAY").screenplay.content_only())
    );

    let Err(error) = parse_fountain_bytes(b"INT. HOUSE\n\nCaf\xe9 au lait") else {
        panic!("latin-1 accepted");
    };
    assert_eq!(error.kind, ParseErrorKind::InvalidUtf8);
    assert_eq!((error.line, error.column), (3, 4));
    let message = error.to_string();
    assert!(message.starts_with("3:4: "), "{message}");
    assert!(message.contains("must be UTF-8"), "{message}");
    assert!(message.contains("re-save"), "{message}");
}

#[test]
fn lines_are_one_based_and_survive_title_pages_and_boneyard() {
    let v = json("Title: T\n\n/* gone\n*/\nINT. A - DAY\n\nAction.");
    assert_eq!(v["elements"][0]["line"], 5);
    assert_eq!(v["elements"][1]["line"], 7);
    let sp = parse("Title: T\n\n  Indented.").screenplay;
    assert_eq!(sp.elements[0].span.column, 3);
}

#[test]
fn mixed_scene() {
    let src = "\
INT. KITCHEN - NIGHT #4#

The fridge hums. [[sound design]]

MARTA (O.S.)
Is it on?

THEO
(whispering)
It's always on.

MARTA ^
Then hush.

> SMASH CUT TO:

EXT. YARD - NIGHT

~Row, row, row
~your boat

# Later

= Theo leaves.

===

THE END
";
    assert_eq!(
        types(src),
        [
            "scene_heading",
            "action",
            "character",
            "dialogue",
            "character",
            "parenthetical",
            "dialogue",
            "character",
            "dialogue",
            "transition",
            "scene_heading",
            "lyrics",
            "section",
            "synopsis",
            "page_break",
            "action"
        ]
    );
    assert_round_trip(src);
}

#[test]
fn writer_forces_what_would_be_misread() {
    let sp: Screenplay = serde_free_screenplay();
    let written = write_fountain(&sp);
    assert!(written.contains(".lowercase heading"), "{written}");
    assert!(written.contains("@McCoy"), "{written}");
    assert!(written.contains(">Dissolve"), "{written}");
    assert!(written.contains("!ALL CAPS ACTION"), "{written}");
    let back = parse(&written).screenplay;
    assert_eq!(back.elements.len(), sp.elements.len(), "{written}");
    for (got, want) in back.elements.iter().zip(&sp.elements) {
        assert_eq!(got.kind.text(), want.kind.text(), "{written}");
        assert_eq!(got.kind.type_name(), want.kind.type_name(), "{written}");
    }
}

fn serde_free_screenplay() -> Screenplay {
    use previz_screenplay::{Element, Span};
    let at = Span::default();
    let mk = |kind| Element::new(kind, at);
    Screenplay {
        title_page: vec![],
        elements: vec![
            mk(heading("lowercase heading", None, false)),
            mk(ElementKind::Character {
                name: "McCoy".into(),
                extension: None,
                extensions: vec![],
                dual: false,
                dual_side: None,
                forced: false,
                notes: vec![],
            }),
            mk(dialogue("Dammit.")),
            mk(transition("Dissolve", false)),
            mk(action("ALL CAPS ACTION\nwith a second line", false)),
            mk(action(
                "*stars* and _underscores_ [[not a note]] /* not a boneyard */",
                false,
            )),
        ],
    }
}

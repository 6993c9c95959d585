//! Robustness: no input makes a reader or the writer panic, and whatever a reader accepts
//! round-trips through the writer.

mod common;

use common::assert_round_trip;
use previz_screenplay::{parse_fdx, parse_fountain, parse_fountain_bytes, write_fountain};
use proptest::prelude::*;

/// 300 cases by default; `PROPTEST_CASES=20000` for a long hunt.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Pieces of Fountain syntax and text that exercise every rule when strung together.
const FRAGMENTS: &[&str] = &[
    "INT.",
    "EXT. ",
    "EST ",
    "INT./EXT.",
    "I/E ",
    ".",
    "..",
    "!",
    "@",
    "^",
    ">",
    "<",
    "~",
    "=",
    "===",
    "#",
    "##",
    "[[",
    "]]",
    "/*",
    "*/",
    "*",
    "**",
    "***",
    "_",
    "\\",
    "(",
    ")",
    "TO:",
    "CUT TO:",
    "#1A#",
    " ",
    "  ",
    "\t",
    "\r",
    "\r\n",
    "\n",
    "\n\n",
    "BOB",
    "MRS. O'HARA",
    "(V.O.)",
    "(cont'd)",
    "hello",
    "Title:",
    "Author: ",
    "   ",
    "é",
    "Ω",
    ":",
    "'",
    "&",
    "-",
    "\u{feff}",
    "\u{0}",
    "…",
];

fn fountainish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
            2 => "[A-Z]{1,6}",
            2 => "[a-z]{1,6}",
            1 => any::<char>().prop_map(String::from),
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

/// Final Draft-ish XML: well-formed most of the time, with hostile text inside.
fn fdxish() -> impl Strategy<Value = String> {
    let paragraph = (
        prop::sample::select(vec![
            "Scene Heading",
            "Action",
            "Character",
            "Parenthetical",
            "Dialogue",
            "Transition",
            "Shot",
            "General",
            "Lyrics",
            "New Act",
            "End of Act",
            "Cast List",
            "Mystery",
        ]),
        prop::collection::vec(
            (
                fountainish().prop_map(|t| {
                    t.replace('&', "&amp;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;")
                        .replace('\u{0}', "")
                }),
                prop::sample::select(vec![
                    "",
                    "Bold",
                    "Italic",
                    "Underline",
                    "Bold+Italic",
                    "AllCaps",
                ]),
            ),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(kind, runs, dual)| {
            let texts: String = runs
                .iter()
                .map(|(text, style)| format!("<Text Style=\"{style}\">{text}</Text>"))
                .collect();
            let paragraph = format!("<Paragraph Type=\"{kind}\" Number=\"1\">{texts}</Paragraph>");
            if dual {
                format!(
                    "<Paragraph><DualDialogue>{paragraph}{paragraph}</DualDialogue></Paragraph>"
                )
            } else {
                paragraph
            }
        });
    (prop::collection::vec(paragraph, 0..12), any::<bool>()).prop_map(|(paragraphs, broken)| {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<FinalDraft DocumentType=\"Script\">\
             <Content>{}</Content><TitlePage><Content>\
             <Paragraph Alignment=\"Center\"><Text>T</Text></Paragraph></Content></TitlePage>\
             </FinalDraft>",
            paragraphs.concat()
        );
        if broken {
            xml.chars().take(xml.chars().count() / 2).collect()
        } else {
            xml
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(parsed) = parse_fountain_bytes(&bytes) {
            assert_round_trip(&parsed.screenplay, "fountain from random bytes");
        }
        if let Ok(parsed) = parse_fdx(&bytes) {
            let _ = write_fountain(&parsed.screenplay);
        }
    }

    #[test]
    fn fountain_like_text_round_trips(src in fountainish()) {
        if let Ok(parsed) = parse_fountain(&src) {
            assert_round_trip(&parsed.screenplay, "fountain-like text");
        }
    }

    #[test]
    fn fdx_like_xml_round_trips(xml in fdxish()) {
        if let Ok(parsed) = parse_fdx(xml.as_bytes()) {
            assert_round_trip(&parsed.screenplay, "fdx-like xml");
        }
    }
}

//! Property tests of the writer over generated screenplays: writing keeps every element's
//! type and text, keeps explicit forcing, and `parse ∘ write` is a fixed point on what the
//! readers produce.

mod common;

use common::assert_round_trip;
use previz_screenplay::{
    DualSide, Element, ElementKind, Screenplay, Span, TextRun, TitleEntry, normalize,
};
use proptest::prelude::*;

/// Word-ish fragments, heavy on Fountain's special characters.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,8}",
        3 => "[A-Z]{1,8}",
        1 => "[0-9]{1,3}",
        4 => prop::sample::select(vec![
            "INT.", "EXT", "I/E", "TO:", "CUT", "@", "^", ">", "<", "[[", "]]", "/*", "*/", "#",
            "=", "~", "(", ")", "*", "**", "_", "\\", "!", ".", "...", "é", "Ω", "--", ":", "'",
            "#1#", "\\*", "&", "[", "]",
        ])
        .prop_map(str::to_owned),
    ]
}

/// One line of text: words joined by single spaces, no leading or trailing whitespace.
fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..6).prop_map(|words| words.join(" "))
}

/// Several lines; inner lines may be empty (Fountain's two-space lines), the first and last
/// may not.
fn lines(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![6 => line(), 1 => Just(String::new())], 1..=max).prop_map(
        |mut lines| {
            while lines.last().is_some_and(String::is_empty) {
                lines.pop();
            }
            while lines.first().is_some_and(String::is_empty) {
                lines.remove(0);
            }
            if lines.is_empty() {
                lines.push("x".to_owned());
            }
            lines.join("\n")
        },
    )
}

/// Styled runs over `text`: random cut points, random styles.
fn styled(text: String) -> impl Strategy<Value = (String, Option<Vec<TextRun>>)> {
    let len = text.chars().count();
    (
        prop::collection::vec((0..=len, any::<(bool, bool, bool)>()), 0..4),
        any::<bool>(),
    )
        .prop_map(move |(cuts, plain)| {
            if plain || cuts.is_empty() {
                return (text.clone(), None);
            }
            let mut points: Vec<usize> = cuts.iter().map(|(p, _)| *p).collect();
            points.push(0);
            points.push(len);
            points.sort_unstable();
            points.dedup();
            let chars: Vec<char> = text.chars().collect();
            let runs = points
                .windows(2)
                .zip(cuts.iter().map(|(_, s)| *s).cycle())
                .map(|(w, (bold, italic, underline))| TextRun {
                    text: chars[w[0]..w[1]].iter().collect(),
                    bold,
                    italic,
                    underline,
                })
                .collect();
            (text.clone(), Some(runs))
        })
}

fn notes() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(lines(2), 0..2)
}

fn element(kind: ElementKind) -> Element {
    Element::new(kind, Span::default())
}

fn heading() -> impl Strategy<Value = Element> {
    (
        prop_oneof![
            line().prop_map(|l| format!("INT. {l}")),
            line().prop_map(|l| format!("ext {l}")),
            line().prop_filter("alphanumeric start", |l| {
                l.chars().next().is_some_and(char::is_alphanumeric)
            }),
        ],
        prop::option::of("[0-9]{1,3}[A-Z]?"),
        any::<bool>(),
        notes(),
    )
        .prop_flat_map(|(text, number, forced, notes)| {
            styled(text).prop_map(move |(text, spans)| {
                element(ElementKind::SceneHeading {
                    text,
                    scene_number: number.clone(),
                    forced,
                    spans,
                    notes: notes.clone(),
                })
            })
        })
}

fn action() -> impl Strategy<Value = Element> {
    (
        lines(4),
        prop::sample::select(vec!["", "", "    ", "\t"]),
        any::<bool>(),
        notes(),
    )
        .prop_flat_map(|(text, indent, forced, notes)| {
            styled(format!("{indent}{text}")).prop_map(move |(text, spans)| {
                element(ElementKind::Action {
                    text,
                    forced,
                    spans,
                    notes: notes.clone(),
                })
            })
        })
}

fn character(dual_side: Option<DualSide>) -> impl Strategy<Value = Element> {
    (
        prop_oneof![
            3 => "[A-Z][A-Z .'-]{0,10}[A-Z]",
            1 => line(),
        ],
        prop::collection::vec(
            prop_oneof![
                Just("V.O.".to_owned()),
                Just("O.S.".to_owned()),
                Just("CONT'D".to_owned()),
                line(),
            ],
            0..3,
        ),
        any::<bool>(),
        notes(),
    )
        .prop_map(move |(name, extensions, forced, notes)| {
            element(ElementKind::Character {
                name: name.trim().to_owned(),
                extension: (!extensions.is_empty()).then(|| extensions.join(" ")),
                extensions,
                dual: dual_side.is_some(),
                dual_side,
                forced,
                notes,
            })
        })
}

fn speech() -> impl Strategy<Value = Element> {
    prop_oneof![
        (line(), notes()).prop_flat_map(|(text, notes)| {
            styled(format!("({text})")).prop_map(move |(text, spans)| {
                element(ElementKind::Parenthetical {
                    text,
                    spans,
                    notes: notes.clone(),
                })
            })
        }),
        (lines(3), notes()).prop_flat_map(|(text, notes)| {
            styled(text).prop_map(move |(text, spans)| {
                element(ElementKind::Dialogue {
                    text,
                    spans,
                    notes: notes.clone(),
                })
            })
        }),
        (lines(2), notes()).prop_flat_map(|(text, notes)| {
            styled(text).prop_map(move |(text, spans)| {
                element(ElementKind::Lyrics {
                    text,
                    spans,
                    notes: notes.clone(),
                })
            })
        }),
    ]
}

/// A character and what they say, with dialogue never directly after dialogue (Fountain has
/// one dialogue element per run of lines).
fn block(dual_side: Option<DualSide>) -> impl Strategy<Value = Vec<Element>> {
    (character(dual_side), prop::collection::vec(speech(), 1..4)).prop_map(|(cue, speech)| {
        let mut out = vec![cue];
        for element in speech {
            let repeat = matches!(
                (&out.last().map(|e| &e.kind), &element.kind),
                (
                    Some(ElementKind::Dialogue { .. }),
                    ElementKind::Dialogue { .. }
                ) | (Some(ElementKind::Lyrics { .. }), ElementKind::Lyrics { .. })
            );
            if !repeat {
                out.push(element);
            }
        }
        out
    })
}

fn other() -> impl Strategy<Value = Element> {
    prop_oneof![
        (line(), any::<bool>()).prop_map(|(text, forced)| element(ElementKind::Transition {
            text,
            forced,
            spans: None,
            notes: vec![],
        })),
        lines(2).prop_map(|text| element(ElementKind::Centered {
            text: text
                .split('\n')
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
            spans: None,
            notes: vec![],
        })),
        (line(), 1..4usize).prop_map(|(text, depth)| element(ElementKind::Section {
            text,
            depth,
            spans: None,
            notes: vec![],
        })),
        line().prop_map(|text| element(ElementKind::Synopsis {
            text,
            spans: None,
            notes: vec![],
        })),
        lines(3).prop_map(|text| element(ElementKind::Note { text })),
        Just(element(ElementKind::PageBreak)),
        (lines(2), notes()).prop_map(|(text, notes)| element(ElementKind::Lyrics {
            text,
            spans: None,
            notes,
        })),
    ]
}

fn chunk() -> impl Strategy<Value = Vec<Element>> {
    prop_oneof![
        3 => heading().prop_map(|e| vec![e]),
        4 => action().prop_map(|e| vec![e]),
        4 => block(None),
        1 => (block(Some(DualSide::Left)), block(Some(DualSide::Right)))
            .prop_map(|(mut left, right)| {
                left.extend(right);
                left
            }),
        3 => other().prop_map(|e| vec![e]),
    ]
}

fn title_page() -> impl Strategy<Value = Vec<TitleEntry>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["Title", "Credit", "Author", "Draft date", "Contact"]),
            lines(3),
        )
            .prop_flat_map(|(key, value)| {
                let value = value
                    .split('\n')
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n");
                styled(value).prop_map(move |(value, spans)| TitleEntry {
                    key: key.to_owned(),
                    value,
                    spans,
                    span: Span::default(),
                })
            }),
        0..4,
    )
}

fn screenplay() -> impl Strategy<Value = Screenplay> {
    (title_page(), prop::collection::vec(chunk(), 0..8)).prop_map(|(title_page, chunks)| {
        Screenplay {
            title_page,
            elements: chunks.into_iter().flatten().collect(),
        }
    })
}

fn forced(kind: &ElementKind) -> bool {
    match kind {
        ElementKind::SceneHeading { forced, .. }
        | ElementKind::Action { forced, .. }
        | ElementKind::Character { forced, .. }
        | ElementKind::Transition { forced, .. } => *forced,
        _ => false,
    }
}

/// What the writer must keep of an element: type, text, notes, extensions, dual side.
fn essence(element: &Element) -> (String, Option<String>, Vec<String>, String) {
    let detail = match &element.kind {
        ElementKind::SceneHeading { scene_number, .. } => format!("{scene_number:?}"),
        ElementKind::Character {
            extensions,
            dual_side,
            ..
        } => format!("{extensions:?} {dual_side:?}"),
        ElementKind::Section { depth, .. } => depth.to_string(),
        _ => String::new(),
    };
    // Fountain reads a tab in action as four spaces.
    let text = match &element.kind {
        ElementKind::Action { text, .. } => Some(text.replace('\t', "    ")),
        kind => kind.text().map(str::to_owned),
    };
    (
        element.kind.type_name().to_owned(),
        text,
        element.kind.notes().to_vec(),
        detail,
    )
}

/// 400 cases by default; `PROPTEST_CASES=20000` for a long hunt.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Writing a generated screenplay and reading it back loses no element, text or note, and
    /// keeps every explicit forcing marker.
    #[test]
    fn writer_keeps_content(sp in screenplay()) {
        let back = normalize(&sp);
        let want: Vec<_> = sp.elements.iter().map(essence).collect();
        let got: Vec<_> = back.elements.iter().map(essence).collect();
        prop_assert_eq!(&got, &want, "written:\n{}", previz_screenplay::write_fountain(&sp));
        for (got, want) in back.elements.iter().zip(&sp.elements) {
            prop_assert!(!forced(&want.kind) || forced(&got.kind));
        }
        let title = |sp: &Screenplay| -> Vec<(String, String)> {
            sp.title_page.iter().map(|e| (e.key.clone(), e.value.clone())).collect()
        };
        if sp.title_page.iter().any(|e| !e.value.is_empty()) {
            prop_assert_eq!(title(&back), title(&sp));
        }
    }

    /// On anything a reader produced, write-then-read changes nothing.
    #[test]
    fn parse_write_is_a_fixed_point(sp in screenplay()) {
        let canonical = normalize(&sp);
        assert_round_trip(&canonical, "normalised generated screenplay");
    }
}

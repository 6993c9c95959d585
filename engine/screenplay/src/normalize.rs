//! Canonical form: the screenplay that Fountain can say exactly.
//!
//! A screenplay built by hand or imported from FDX can hold things Fountain has no way to
//! write (dialogue with no character, a heading that starts with punctuation, text with
//! carriage returns). [`normalize`] turns it into the nearest screenplay that the Fountain
//! reader could have produced, so that writing it and reading it back changes nothing.

use crate::fountain::parse_fountain;
use crate::json::model::{Element, ElementKind, Screenplay, TextRun};
use crate::writer::{heading_is_writable, write_fountain};

/// Returns the canonical form of `sp`: what `parse_fountain(&write_fountain(sp))` reads, with
/// `sp`'s source positions kept wherever the elements still line up one to one.
///
/// Beyond what the writer already does (forcing, escaping), it drops elements with no text,
/// turns dialogue and parentheticals that follow no character into action, merges dialogue
/// that follows dialogue, wraps parentheticals in `()`, turns a character with no dialogue
/// into action, and a heading that Fountain cannot mark as one into action.
pub fn normalize(sp: &Screenplay) -> Screenplay {
    let mut canonical = Screenplay {
        title_page: sp.title_page.clone(),
        elements: structure(sp.elements.iter().flat_map(clean).collect()),
    };
    for entry in &mut canonical.title_page {
        (entry.value, entry.spans) = fix_newlines(&entry.value, entry.spans.take());
    }
    let Ok(read) = parse_fountain(&write_fountain(&canonical)) else {
        return canonical;
    };
    let mut out = read.screenplay;
    if out.elements.len() == canonical.elements.len() {
        for (got, want) in out.elements.iter_mut().zip(&canonical.elements) {
            got.span = want.span;
        }
    }
    if out.title_page.len() == canonical.title_page.len() {
        for (got, want) in out.title_page.iter_mut().zip(&canonical.title_page) {
            got.span = want.span;
        }
    }
    out
}

/// Per-element fixes that need no context. An element with no text goes, but its notes stay
/// as note elements.
fn clean(element: &Element) -> Vec<Element> {
    let mut kind = element.kind.clone();
    if let Some(text) = kind.text() {
        let spans = kind.spans().map(<[TextRun]>::to_vec);
        let (text, spans) = fix_newlines(text, spans);
        set_text(&mut kind, text, spans);
    }
    let empty = kind.text().is_some_and(|t| t.trim().is_empty());
    match &mut kind {
        ElementKind::SceneHeading { .. }
        | ElementKind::Action { .. }
        | ElementKind::Character { .. }
        | ElementKind::Parenthetical { .. }
        | ElementKind::Dialogue { .. }
        | ElementKind::Lyrics { .. }
        | ElementKind::Transition { .. }
        | ElementKind::Centered { .. }
            if empty =>
        {
            return kind
                .notes()
                .iter()
                .map(|note| Element::new(ElementKind::Note { text: note.clone() }, element.span))
                .collect();
        }
        ElementKind::SceneHeading { text, notes, .. } if !heading_is_writable(text.trim()) => {
            let replacement = ElementKind::Action {
                text: text.trim().to_owned(),
                forced: false,
                spans: None,
                notes: std::mem::take(notes),
            };
            return vec![Element::new(replacement, element.span)];
        }
        ElementKind::Parenthetical { text, spans, .. } => {
            let trimmed = text.trim();
            if !(trimmed.starts_with('(') && trimmed.ends_with(')')) {
                *text = format!("({trimmed})");
                *spans = None;
            }
        }
        _ => {}
    }
    vec![Element::new(kind, element.span)]
}

/// Fixes that depend on neighbours: dialogue belongs after a character, a character needs
/// something to say, and two dialogue elements in a row are one.
fn structure(elements: Vec<Element>) -> Vec<Element> {
    let mut out: Vec<Element> = Vec::with_capacity(elements.len());
    let mut in_block = false;
    for element in elements {
        let kind = element.kind.clone();
        match kind {
            ElementKind::Character { .. } => {
                in_block = true;
                out.push(element);
            }
            ElementKind::Dialogue { text, spans, notes } if in_block => {
                if let Some(ElementKind::Dialogue {
                    text: previous,
                    spans: previous_spans,
                    notes: previous_notes,
                }) = out.last_mut().map(|e| &mut e.kind)
                {
                    let merged_spans = match (previous_spans.take(), spans) {
                        (None, None) => None,
                        (a, b) => {
                            let mut runs = a.unwrap_or_else(|| plain_run(previous));
                            runs.push(plain_run("\n").remove(0));
                            runs.extend(b.unwrap_or_else(|| plain_run(&text)));
                            Some(runs)
                        }
                    };
                    previous.push('\n');
                    previous.push_str(&text);
                    *previous_spans = merged_spans;
                    previous_notes.extend(notes);
                } else {
                    out.push(element);
                }
            }
            ElementKind::Parenthetical { .. } | ElementKind::Lyrics { .. } if in_block => {
                out.push(element);
            }
            ElementKind::Parenthetical { text, spans, notes }
            | ElementKind::Dialogue { text, spans, notes } => {
                in_block = false;
                out.push(Element::new(
                    ElementKind::Action {
                        text,
                        forced: false,
                        spans,
                        notes,
                    },
                    element.span,
                ));
            }
            _ => {
                in_block = false;
                out.push(element);
            }
        }
    }
    // A character followed by nothing it says is just a line of action.
    let len = out.len();
    for index in 0..len {
        let says_something = matches!(
            out.get(index + 1).map(|e| &e.kind),
            Some(
                ElementKind::Dialogue { .. }
                    | ElementKind::Parenthetical { .. }
                    | ElementKind::Lyrics { .. }
            )
        );
        if let ElementKind::Character {
            name,
            extensions,
            notes,
            ..
        } = &mut out[index].kind
            && !says_something
        {
            let mut text = name.clone();
            for extension in extensions.iter() {
                text.push_str(&format!(" ({extension})"));
            }
            out[index].kind = ElementKind::Action {
                text,
                forced: false,
                spans: None,
                notes: std::mem::take(notes),
            };
        }
    }
    out
}

fn plain_run(text: &str) -> Vec<TextRun> {
    vec![TextRun {
        text: text.to_owned(),
        ..TextRun::default()
    }]
}

/// `\r\n` and `\r` become `\n` in the text and in its runs; runs that no longer add up to the
/// text are dropped rather than misapplied.
fn fix_newlines(text: &str, spans: Option<Vec<TextRun>>) -> (String, Option<Vec<TextRun>>) {
    if !text.contains('\r') {
        return (text.to_owned(), spans);
    }
    let fixed = text.replace("\r\n", "\n").replace('\r', "\n");
    let spans = spans.and_then(|runs| {
        let runs: Vec<TextRun> = runs
            .into_iter()
            .map(|run| TextRun {
                text: run.text.replace("\r\n", "\n").replace('\r', "\n"),
                ..run
            })
            .collect();
        let joined: String = runs.iter().map(|r| r.text.as_str()).collect();
        (joined == fixed).then_some(runs)
    });
    (fixed, spans)
}

fn set_text(kind: &mut ElementKind, new_text: String, new_spans: Option<Vec<TextRun>>) {
    match kind {
        ElementKind::Character { name, .. } => *name = new_text,
        ElementKind::Note { text } => *text = new_text,
        ElementKind::SceneHeading { text, spans, .. }
        | ElementKind::Action { text, spans, .. }
        | ElementKind::Parenthetical { text, spans, .. }
        | ElementKind::Dialogue { text, spans, .. }
        | ElementKind::Lyrics { text, spans, .. }
        | ElementKind::Transition { text, spans, .. }
        | ElementKind::Centered { text, spans, .. }
        | ElementKind::Section { text, spans, .. }
        | ElementKind::Synopsis { text, spans, .. } => {
            *text = new_text;
            *spans = new_spans;
        }
        ElementKind::PageBreak => {}
    }
}

//! Fountain reading: decode → split lines → cut boneyard → title page → paragraphs → cut notes
//! → classify → pair dual dialogue.

pub(crate) mod classify;
pub(crate) mod inline;
pub(crate) mod lexer;

use crate::Parsed;
use crate::decode::decode;
use crate::error::{Diagnostic, ParseError};
use crate::json::model::{DualSide, Element, ElementKind, Screenplay, Span};

use lexer::Line;

/// Parses Fountain text. Byte-order marks (U+FEFF) are ignored wherever they are; `\r\n`, `\r` and `\n` all end lines.
///
/// The only hard error is an unterminated `/*` boneyard (everything after it would silently
/// vanish); other oddities become warnings in [`Parsed::warnings`].
pub fn parse_fountain(src: &str) -> Result<Parsed, ParseError> {
    // A byte-order mark means nothing inside text; files glued together often carry stray
    // ones mid-file, and dropping them everywhere keeps what a reader sees stable.
    let cleaned;
    let src = if src.contains('\u{feff}') {
        cleaned = src.replace('\u{feff}', "");
        cleaned.as_str()
    } else {
        src
    };
    let physical = lexer::split_lines(src);
    let lines = lexer::remove_boneyard(&physical)?;
    let (title_page, consumed) = lexer::title_page(&lines).unwrap_or_default();
    let body: Vec<Line> = lines.into_iter().skip(consumed).collect();

    let mut warnings = Vec::new();
    let mut elements: Vec<Element> = Vec::new();
    // The character of the previous paragraph, when that paragraph was a dialogue block: the
    // only thing a `^` may pair with.
    let mut previous_block: Option<usize> = None;
    for paragraph in lexer::paragraphs(body) {
        let read = read_paragraph(paragraph, &mut warnings);
        let base = elements.len();
        let mut this_block = None;
        for (offset, (element, caret)) in read.into_iter().enumerate() {
            let index = base + offset;
            if matches!(element.kind, ElementKind::Character { .. }) {
                this_block = Some(index);
            }
            let span = element.span;
            elements.push(element);
            if caret {
                pair_dual(&mut elements, previous_block, index, span, &mut warnings);
            }
        }
        previous_block = this_block;
    }
    Ok(Parsed {
        screenplay: Screenplay {
            title_page,
            elements,
        },
        warnings,
    })
}

/// Parses Fountain bytes: UTF-8 (with or without BOM) or UTF-16 with a BOM. Invalid UTF-8 is
/// an error at the line and column of the first bad byte.
pub fn parse_fountain_bytes(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let text = decode(bytes)?;
    parse_fountain(&text)
}

fn pair_dual(
    elements: &mut [Element],
    previous_block: Option<usize>,
    right: usize,
    span: Span,
    warnings: &mut Vec<Diagnostic>,
) {
    let left_is_free = previous_block.is_some_and(|left| {
        matches!(
            elements.get(left).map(|e| &e.kind),
            Some(ElementKind::Character { dual: false, .. })
        )
    });
    match previous_block {
        Some(left) if left_is_free => {
            set_dual(&mut elements[left], DualSide::Left);
            set_dual(&mut elements[right], DualSide::Right);
        }
        _ => warnings.push(Diagnostic::new(
            span.line,
            span.column,
            "this ^ asks for dual dialogue, but the paragraph before is not a dialogue block \
             that could pair with it; it is read as ordinary dialogue",
        )),
    }
}

fn set_dual(element: &mut Element, side: DualSide) {
    if let ElementKind::Character {
        dual, dual_side, ..
    } = &mut element.kind
    {
        *dual = true;
        *dual_side = Some(side);
    }
}

/// Reads one paragraph into elements (with a flag per element for a dual-dialogue `^`). Notes
/// go to the element whose lines held them; a paragraph of notes only becomes note elements.
pub(crate) fn read_paragraph(
    paragraph: Vec<Line>,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<(Element, bool)> {
    let (lines, notes) = lexer::cut_notes(paragraph, warnings);
    if lines.is_empty() {
        return notes
            .into_iter()
            .map(|note| {
                (
                    Element::new(ElementKind::Note { text: note.text }, note.span),
                    false,
                )
            })
            .collect();
    }
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    let pieces = classify::classify(&texts);
    let mut out: Vec<(Element, bool)> = Vec::with_capacity(pieces.len());
    let mut ranges = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let line = &lines[piece.first.min(lines.len() - 1)];
        let span = Span {
            line: line.number,
            column: line.first_column(),
        };
        ranges.push((piece.first, piece.last));
        out.push((Element::new(piece.kind, span), piece.caret));
    }
    let mut homeless = Vec::new();
    for note in notes {
        // Pieces cover increasing line ranges, so a binary search finds the owner.
        let target = note.line_index.and_then(|index| {
            let candidate = ranges
                .partition_point(|(first, _)| *first <= index)
                .checked_sub(1)?;
            let (first, last) = ranges[candidate];
            (first..=last).contains(&index).then_some(candidate)
        });
        match target
            .and_then(|t| out.get_mut(t))
            .and_then(|(e, _)| e.kind.notes_mut())
        {
            Some(list) => list.push(note.text),
            None => homeless.push((
                Element::new(ElementKind::Note { text: note.text }, note.span),
                false,
            )),
        }
    }
    out.extend(homeless);
    out
}

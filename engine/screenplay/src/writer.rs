//! Fountain writing.
//!
//! The writer's promise is `parse_fountain(&write_fountain(&sp))` == `sp` (ignoring positions
//! and styled runs) for every screenplay the readers produce. It keeps that promise by asking
//! the reader: each paragraph is rendered in its plainest form first, then with its first
//! character (and colons) escaped, then (action only) with a trailing space, then with a forcing
//! marker (`!`, `@`, `.`, `>`), each with inline notes at the end or else at the start; the
//! first candidate that the paragraph reader gives back unchanged is written.

use crate::fountain::classify::{is_scene_number_char, split_scene_number};
use crate::fountain::inline::{lines_with_flags, render_line};
use crate::fountain::lexer::{Line, has_heading_prefix, is_valid_title_key, reads_as_title_page};
use crate::fountain::read_paragraph;
use crate::json::model::{DualSide, Element, ElementKind, Screenplay, TextRun, TitleEntry};

/// Writes a screenplay as Fountain text.
pub fn write_fountain(sp: &Screenplay) -> String {
    let mut out = String::new();
    let title = title_page_lines(&sp.title_page);
    let has_title = !title.is_empty();
    for line in &title {
        out.push_str(line);
        out.push('\n');
    }
    let mut first = !has_title;
    let groups = group(&sp.elements);
    for (index, elements) in groups.iter().enumerate() {
        let lines = paragraph_lines(elements, first);
        if lines.is_empty() {
            continue;
        }
        if has_title || index > 0 {
            out.push('\n');
        }
        for line in &lines {
            out.push_str(line);
            out.push('\n');
        }
        first = false;
    }
    out
}

fn title_page_lines(entries: &[TitleEntry]) -> Vec<String> {
    let rendered: Vec<(String, Vec<String>)> = entries
        .iter()
        .map(|entry| {
            let lines: Vec<String> = lines_with_flags(&entry.value, entry.spans.as_deref())
                .into_iter()
                .map(|(chars, flags)| render_line(&chars, &flags, &|_, _| false).trim().to_owned())
                .filter(|line| !line.is_empty())
                .collect();
            (title_key(&entry.key), lines)
        })
        .collect();
    // A title page with no value at all would not be read back as one.
    if rendered.iter().all(|(_, lines)| lines.is_empty()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (key, lines) in rendered {
        match lines.as_slice() {
            [single] => out.push(format!("{key}: {single}")),
            _ => {
                out.push(format!("{key}:"));
                out.extend(lines.iter().map(|line| format!("    {line}")));
            }
        }
    }
    out
}

/// The key as written when it is a valid key, else the nearest valid one.
fn title_key(key: &str) -> String {
    if is_valid_title_key(key) {
        return key.to_owned();
    }
    let cleaned: String = key
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '\''))
        .collect();
    let cleaned = cleaned
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .trim()
        .chars()
        .take(40)
        .collect::<String>()
        .trim()
        .to_owned();
    if is_valid_title_key(&cleaned) {
        cleaned
    } else {
        "Notes".to_owned()
    }
}

/// Splits the element list into paragraphs: a character with the parentheticals, dialogue and
/// lyrics that follow it, or one element.
fn group(elements: &[Element]) -> Vec<&[Element]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < elements.len() {
        let mut end = i + 1;
        if matches!(elements[i].kind, ElementKind::Character { .. }) {
            while let Some(next) = elements.get(end) {
                let joins = match next.kind {
                    ElementKind::Parenthetical { .. } | ElementKind::Dialogue { .. } => true,
                    // Two lyrics in a row inside a block would merge into one.
                    ElementKind::Lyrics { .. } => {
                        !matches!(elements[end - 1].kind, ElementKind::Lyrics { .. })
                    }
                    _ => false,
                };
                if !joins {
                    break;
                }
                end += 1;
            }
        }
        out.push(&elements[i..end]);
        i = end;
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plain,
    /// The first character escaped (`\!`, `\@`, `\(`), and every colon (so that a first
    /// paragraph cannot pass for a `Key: value` title page) and, in action, every `)`.
    EscapeFirst,
    /// Action only: a trailing space, the spec's way to keep `CUT TO:` from being a
    /// transition without forcing it.
    TrailingSpace,
    Forced,
}

/// The lines for one paragraph, trying ever more explicit forms until one reads back.
fn paragraph_lines(elements: &[Element], first_in_file: bool) -> Vec<String> {
    let Some(head) = elements.first() else {
        return Vec::new();
    };
    let variants: &[Variant] = if is_forced(&head.kind) {
        &[Variant::Forced]
    } else {
        &[
            Variant::Plain,
            Variant::EscapeFirst,
            Variant::TrailingSpace,
            Variant::Forced,
        ]
    };
    let has_notes = elements.iter().any(|e| !e.kind.notes().is_empty());
    let placements: &[NotesAt] = if has_notes {
        &[NotesAt::End, NotesAt::Start]
    } else {
        &[NotesAt::End]
    };
    // When nothing reads back exactly (the screenplay was not built by a reader: say a
    // lowercase name not marked forced), the best is what reads back but for `forced`.
    let mut near_miss = None;
    let mut last = Vec::new();
    for &variant in variants {
        for &notes_at in placements {
            let lines = render(elements, variant, notes_at);
            if lines.is_empty() {
                continue;
            }
            // At the top of a file without a title page, `Key: value` would become one.
            let title_clash = first_in_file && reads_as_title_page(&lines);
            if !title_clash {
                match reads_back(&lines, elements) {
                    ReadBack::Exactly => return lines,
                    ReadBack::ButForced if near_miss.is_none() => near_miss = Some(lines.clone()),
                    _ => {}
                }
            }
            last = lines;
        }
    }
    near_miss.unwrap_or(last)
}

/// Where inline notes go: after the element's text (usual), or before it, which keeps a
/// trailing `[[note]]` from turning `TO:` into a title-page key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NotesAt {
    End,
    Start,
}

fn is_forced(kind: &ElementKind) -> bool {
    match kind {
        ElementKind::SceneHeading { forced, .. }
        | ElementKind::Action { forced, .. }
        | ElementKind::Character { forced, .. }
        | ElementKind::Transition { forced, .. } => *forced,
        _ => false,
    }
}

#[derive(PartialEq, Eq)]
enum ReadBack {
    Exactly,
    ButForced,
    No,
}

/// Whether the paragraph reader turns `lines` back into `elements`.
fn reads_back(lines: &[String], elements: &[Element]) -> ReadBack {
    let paragraph: Vec<Line> = lines
        .iter()
        .map(|text| Line::new(text.clone(), 1))
        .collect();
    let mut warnings = Vec::new();
    let read = read_paragraph(paragraph, &mut warnings);
    if read.len() != elements.len() {
        return ReadBack::No;
    }
    let pairs: Vec<_> = read
        .iter()
        .zip(elements)
        .map(|((got, caret), want)| (comparable(&got.kind, *caret), comparable(&want.kind, false)))
        .collect();
    if pairs.iter().all(|(got, want)| got == want) {
        ReadBack::Exactly
    } else if pairs
        .iter()
        .all(|(got, want)| unforced(&got.0) == unforced(&want.0) && got.1 == want.1)
    {
        ReadBack::ButForced
    } else {
        ReadBack::No
    }
}

fn unforced(kind: &ElementKind) -> ElementKind {
    let mut kind = kind.clone();
    match &mut kind {
        ElementKind::SceneHeading { forced, .. }
        | ElementKind::Action { forced, .. }
        | ElementKind::Character { forced, .. }
        | ElementKind::Transition { forced, .. } => *forced = false,
        _ => {}
    }
    kind
}

/// A kind reduced to what one paragraph can say: no runs, and dual dialogue as a caret.
fn comparable(kind: &ElementKind, caret: bool) -> (ElementKind, bool) {
    let mut kind = kind.without_spans();
    let mut right = caret;
    if let ElementKind::Character {
        dual, dual_side, ..
    } = &mut kind
    {
        right |= *dual && *dual_side != Some(DualSide::Left);
        *dual = false;
        *dual_side = None;
    }
    (kind, right)
}

fn render(elements: &[Element], variant: Variant, notes_at: NotesAt) -> Vec<String> {
    let Some(head) = elements.first() else {
        return Vec::new();
    };
    let mut lines = match &head.kind {
        ElementKind::Character { .. } => block_lines(elements, variant, notes_at),
        kind => single_lines(kind, variant),
    };
    if lines.is_empty() {
        return lines;
    }
    // Notes of a single-element paragraph go at its end; blocks place their own.
    if !matches!(head.kind, ElementKind::Character { .. }) {
        place_notes(&mut lines, head.kind.notes(), notes_at);
    }
    lines
}

fn place_notes(lines: &mut [String], notes: &[String], notes_at: NotesAt) {
    if notes.is_empty() {
        return;
    }
    let markup: String = notes
        .iter()
        .map(|note| format!("[[{}]]", note_markup(note)))
        .collect();
    match notes_at {
        NotesAt::End => {
            let target = lines
                .iter()
                .rposition(|line| !line.trim().is_empty())
                .unwrap_or(0);
            if let Some(line) = lines.get_mut(target) {
                line.push(' ');
                line.push_str(&markup);
            }
        }
        NotesAt::Start => {
            if let Some(line) = lines.first_mut() {
                line.insert_str(0, &markup);
            }
        }
    }
}

/// A note's text as it goes between `[[` and `]]`; empty lines become two spaces so that they
/// do not end the paragraph.
fn note_markup(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    text.split('\n')
        .map(|line| {
            let escaped = escape_note_line(line);
            if escaped.is_empty() {
                "  ".to_owned()
            } else {
                escaped
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Escapes a note line. Notes resolve escapes, so escaping every bracket, star and backslash
/// is always safe: `]]` cannot end the note early and `/*` cannot open a boneyard.
fn escape_note_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 4);
    for c in line.chars() {
        if matches!(c, '\\' | '[' | ']' | '*') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Renders styled text line by line; `escape(line, index, char)` asks for extra escapes.
fn styled_lines(
    text: &str,
    spans: Option<&[TextRun]>,
    escape: &dyn Fn(usize, usize, char) -> bool,
) -> Vec<String> {
    lines_with_flags(text, spans)
        .into_iter()
        .enumerate()
        .map(|(line, (chars, flags))| render_line(&chars, &flags, &|i, c| escape(line, i, c)))
        .collect()
}

fn first_visible(text: &str) -> Option<usize> {
    text.chars().position(|c| !c.is_whitespace())
}

fn single_lines(kind: &ElementKind, variant: Variant) -> Vec<String> {
    if variant == Variant::TrailingSpace && !matches!(kind, ElementKind::Action { .. }) {
        return Vec::new();
    }
    let escape_first = variant == Variant::EscapeFirst;
    match kind {
        ElementKind::SceneHeading {
            text,
            scene_number,
            spans,
            ..
        } => {
            // A heading without a number that ends like one needs its last `#` escaped.
            let count = text.chars().count();
            let looks_numbered = scene_number.is_none() && split_scene_number(text).1.is_some();
            let body = styled_lines(&text.replace('\n', " "), spans.as_deref(), &|_, i, c| {
                (looks_numbered && i + 1 == count && c == '#')
                    || (escape_first && (i == 0 || c == ':'))
            })
            .join(" ");
            let number = scene_number
                .as_deref()
                .map(|n| {
                    n.chars()
                        .filter(|c| is_scene_number_char(*c))
                        .collect::<String>()
                })
                .filter(|n| !n.is_empty())
                .map(|n| format!(" #{n}#"))
                .unwrap_or_default();
            let marker = if variant == Variant::Forced { "." } else { "" };
            vec![format!("{marker}{body}{number}")]
        }
        ElementKind::Action { text, spans, .. } => {
            let first = first_visible(text.split('\n').next().unwrap_or_default());
            // An escaped `)` leaves a `(` unclosed, which stops an all-caps first line from
            // reading as `NAME (extension)`.
            let mut lines = styled_lines(text, spans.as_deref(), &|line, i, c| {
                escape_first && ((line == 0 && Some(i) == first) || c == ':' || c == ')')
            });
            for line in &mut lines {
                if line.trim().is_empty() {
                    *line = "  ".to_owned();
                }
            }
            if variant == Variant::Forced
                && let Some(line) = lines.first_mut()
            {
                line.insert(0, '!');
            }
            if variant == Variant::TrailingSpace
                && let [line] = lines.as_mut_slice()
            {
                line.push(' ');
            }
            lines
        }
        ElementKind::Transition { text, spans, .. } => {
            let count = text.chars().count();
            let forced = variant == Variant::Forced;
            let body = styled_lines(&text.replace('\n', " "), spans.as_deref(), &|_, i, c| {
                (escape_first && (i == 0 || c == ':')) || (forced && i + 1 == count && c == '<')
            })
            .join(" ");
            vec![if forced { format!(">{body}") } else { body }]
        }
        ElementKind::Centered { text, spans, .. } => {
            styled_lines(text, spans.as_deref(), &|_, _, _| false)
                .into_iter()
                .map(|line| format!(">{line}<"))
                .collect()
        }
        ElementKind::Section {
            text, depth, spans, ..
        } => {
            let body = styled_lines(&text.replace('\n', " "), spans.as_deref(), &|_, _, _| false)
                .join(" ");
            vec![format!("{} {body}", "#".repeat((*depth).max(1)))]
        }
        ElementKind::Synopsis { text, spans, .. } => {
            let body = styled_lines(&text.replace('\n', " "), spans.as_deref(), &|_, _, _| false)
                .join(" ");
            vec![format!("= {body}")]
        }
        ElementKind::Lyrics { text, spans, .. } => {
            styled_lines(text, spans.as_deref(), &|_, _, _| false)
                .into_iter()
                .map(|line| format!("~{line}"))
                .collect()
        }
        ElementKind::Note { text } => format!("[[{}]]", note_markup(text))
            .split('\n')
            .map(str::to_owned)
            .collect(),
        ElementKind::PageBreak => vec!["===".to_owned()],
        // Out of a dialogue block these can only be written as action.
        ElementKind::Parenthetical { text, spans, .. }
        | ElementKind::Dialogue { text, spans, .. } => single_lines(
            &ElementKind::Action {
                text: text.clone(),
                forced: false,
                spans: spans.clone(),
                notes: Vec::new(),
            },
            variant,
        ),
        ElementKind::Character { .. } => Vec::new(),
    }
}

fn block_lines(elements: &[Element], variant: Variant, notes_at: NotesAt) -> Vec<String> {
    if variant == Variant::TrailingSpace {
        return Vec::new();
    }
    let Some(ElementKind::Character {
        name,
        extensions,
        dual,
        dual_side,
        notes,
        ..
    }) = elements.first().map(|e| &e.kind)
    else {
        return Vec::new();
    };
    let mut cue = String::new();
    if variant == Variant::Forced {
        cue.push('@');
    }
    let name = name.replace('\n', " ");
    let count = name.chars().count();
    let chars: Vec<char> = name.chars().collect();
    cue.push_str(&render_line(&chars, &vec![0; count], &|i, c| {
        c == '('
            || c == ')'
            || (c == '^' && i + 1 == count)
            || (variant == Variant::EscapeFirst && (i == 0 || c == ':'))
    }));
    for extension in extensions {
        cue.push_str(" (");
        for c in extension.replace('\n', " ").chars() {
            if matches!(c, '\\' | '(' | ')' | '*' | '[' | ']') {
                cue.push('\\');
            }
            cue.push(c);
        }
        cue.push(')');
    }
    if *dual && *dual_side != Some(DualSide::Left) {
        cue.push_str(" ^");
    }
    let mut lines = vec![cue];
    place_notes(&mut lines, notes, notes_at);
    for element in &elements[1..] {
        let mut part = match &element.kind {
            ElementKind::Parenthetical { text, spans, .. } => {
                vec![parenthetical_line(text, spans.as_deref())]
            }
            ElementKind::Dialogue { text, spans, .. } => {
                let mut lines = styled_lines(text, spans.as_deref(), &|_, i, c| {
                    (i == 0 && (c == '(' || c == '~'))
                        || (variant == Variant::EscapeFirst && c == ':')
                });
                for line in &mut lines {
                    if line.trim().is_empty() {
                        *line = "  ".to_owned();
                    }
                }
                lines
            }
            ElementKind::Lyrics { text, spans, .. } => {
                styled_lines(text, spans.as_deref(), &|_, _, _| false)
                    .into_iter()
                    .map(|line| format!("~{line}"))
                    .collect()
            }
            _ => Vec::new(),
        };
        place_notes(&mut part, element.kind.notes(), notes_at);
        lines.extend(part);
    }
    lines
}

/// `(text)`: the parentheses themselves must stay unstyled and unescaped to be recognised.
fn parenthetical_line(text: &str, spans: Option<&[TextRun]>) -> String {
    let flat = text.replace('\n', " ");
    let (chars, mut flags) = lines_with_flags(&flat, spans)
        .into_iter()
        .next()
        .unwrap_or_default();
    if chars.first() == Some(&'(')
        && let Some(first) = flags.first_mut()
    {
        *first = 0;
    }
    if chars.last() == Some(&')')
        && let Some(last) = flags.last_mut()
    {
        *last = 0;
    }
    render_line(&chars, &flags, &|_, _| false)
}

/// Whether a heading can be written at all: it needs a scene-heading prefix, or a letter or
/// digit first so that a forcing `.` applies.
pub(crate) fn heading_is_writable(text: &str) -> bool {
    has_heading_prefix(text) || text.chars().next().is_some_and(char::is_alphanumeric)
}

//! Paragraph classification: which Fountain element(s) a paragraph is.
//!
//! The spec's context rules ("preceded by a blank line and followed by a blank line") make a
//! paragraph the natural unit: a scene heading, transition, page break or synopsis is a
//! one-line paragraph; a character cue is the first line of a paragraph with more lines; the
//! rest is action. Classification looks at markers (`!`, `@`, `.`, `>`, `~`, `#`, `=`) on the
//! raw line, and at letters (prefixes, uppercase, `TO:`) on the visible text, so emphasis
//! around a heading does not hide it and an escaped marker is not a marker.
//!
//! The writer calls these same functions on what it is about to emit, which is what makes
//! `write_fountain` round-trip.

use crate::json::model::ElementKind;

use super::inline::{self, Styled, is_escaped_at};
use super::lexer::{has_heading_prefix, is_two_space};

/// One element found in a paragraph, with the paragraph lines it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece {
    pub kind: ElementKind,
    pub first: usize,
    pub last: usize,
    /// A character cue ending in `^` (the right side of a dual-dialogue pair). The pairing
    /// needs the previous paragraph, so the caller resolves it.
    pub caret: bool,
}

impl Piece {
    fn new(kind: ElementKind, first: usize, last: usize) -> Self {
        Self {
            kind,
            first,
            last,
            caret: false,
        }
    }
}

/// A parsed character cue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cue {
    pub name: String,
    pub extensions: Vec<String>,
    pub caret: bool,
    pub forced: bool,
}

impl Cue {
    pub fn into_kind(self) -> ElementKind {
        ElementKind::Character {
            name: self.name,
            extension: (!self.extensions.is_empty()).then(|| self.extensions.join(" ")),
            extensions: self.extensions,
            dual: false,
            dual_side: None,
            forced: self.forced,
            notes: Vec::new(),
        }
    }
}

/// Characters that mark another element when they start a line, so an unforced character
/// cue may not start with them.
const MARKERS: [char; 7] = ['!', '.', '>', '~', '=', '#', '('];

/// Reads a character cue: `[@]NAME[ (ext)]*[ ^]`. Unforced cues need at least one uppercase
/// letter and no lowercase letter in the name; extensions may be in any case.
pub(crate) fn parse_cue(raw: &str) -> Option<Cue> {
    let trimmed = raw.trim();
    let (forced, rest) = match trimmed.strip_prefix('@') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, trimmed),
    };
    let chars: Vec<char> = rest.chars().collect();
    let caret = chars.last() == Some(&'^') && !is_escaped_at(&chars, chars.len() - 1);
    let body: String = if caret {
        chars[..chars.len() - 1].iter().collect()
    } else {
        rest.to_owned()
    };
    let body = body.trim_end();
    let (name_raw, extensions) = match split_extensions(body) {
        Some(split) => split,
        None if forced => (body, Vec::new()),
        None => return None,
    };
    let name = inline::parse(name_raw.trim()).text.trim().to_owned();
    if name.is_empty() {
        return None;
    }
    if !forced {
        let marker_first = trimmed.starts_with(MARKERS);
        let has_upper = name.chars().any(char::is_uppercase);
        let has_lower = name.chars().any(char::is_lowercase);
        if marker_first || !has_upper || has_lower {
            return None;
        }
    }
    Some(Cue {
        name,
        extensions,
        caret,
        forced,
    })
}

/// Splits `NAME (a) (b)` at the first unescaped `(`; the rest must be parenthesised groups.
fn split_extensions(body: &str) -> Option<(&str, Vec<String>)> {
    let chars: Vec<(usize, char)> = body.char_indices().collect();
    let open = (0..chars.len()).find(|&i| chars[i].1 == '(' && !escaped(&chars, i));
    let Some(open) = open else {
        return Some((body, Vec::new()));
    };
    let mut extensions = Vec::new();
    let mut i = open;
    while i < chars.len() {
        let c = chars[i].1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c != '(' {
            return None;
        }
        let close = (i + 1..chars.len()).find(|&j| chars[j].1 == ')' && !escaped(&chars, j))?;
        let inner = &body[chars[i].0 + 1..chars[close].0];
        extensions.push(inline::unescape(inner).trim().to_owned());
        i = close + 1;
    }
    Some((&body[..chars[open].0], extensions))
}

fn escaped(chars: &[(usize, char)], index: usize) -> bool {
    let mut count = 0;
    let mut i = index;
    while i > 0 && chars[i - 1].1 == '\\' {
        count += 1;
        i -= 1;
    }
    count % 2 == 1
}

/// `TEXT #1A#` → (`TEXT`, `1A`). Scene numbers are letters, digits, `-` and `.`.
pub(crate) fn split_scene_number(raw: &str) -> (&str, Option<String>) {
    let trimmed = raw.trim_end();
    if !trimmed.ends_with('#') {
        return (trimmed, None);
    }
    let chars: Vec<(usize, char)> = trimmed.char_indices().collect();
    let Some(&(_, '#')) = chars.last() else {
        return (trimmed, None);
    };
    let mut i = chars.len() - 1;
    while i > 0 && is_scene_number_char(chars[i - 1].1) {
        i -= 1;
    }
    if i == 0 || i == chars.len() - 1 || chars[i - 1].1 != '#' || escaped(&chars, i - 1) {
        return (trimmed, None);
    }
    let number = trimmed[chars[i].0..chars[chars.len() - 1].0].to_owned();
    (trimmed[..chars[i - 1].0].trim_end(), Some(number))
}

pub(crate) fn is_scene_number_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '.'
}

pub(crate) fn is_page_break(s: &str) -> bool {
    s.len() >= 3 && s.bytes().all(|b| b == b'=')
}

/// Whether `s` is wrapped in `open`…`close` (ASCII), with the closing one unescaped.
fn wrapped(s: &str, open: u8, close: u8) -> bool {
    let bytes = s.as_bytes();
    let backslashes = bytes[..bytes.len().saturating_sub(1)]
        .iter()
        .rev()
        .take_while(|b| **b == b'\\')
        .count();
    bytes.len() >= 2 && bytes[0] == open && bytes[bytes.len() - 1] == close && backslashes % 2 == 0
}

/// `>text<`, with the final `<` unescaped.
fn centered_inner(s: &str) -> Option<&str> {
    wrapped(s, b'>', b'<').then(|| s[1..s.len() - 1].trim())
}

/// `(text)`, with the final `)` unescaped.
pub(crate) fn is_parenthetical(s: &str) -> bool {
    wrapped(s, b'(', b')')
}

fn is_outline_line(s: &str) -> bool {
    s.starts_with('#') || s.starts_with('=')
}

/// A forced scene heading: one `.` then (visibly) a letter or digit, so `...` stays action.
fn forced_heading(s: &str) -> Option<ElementKind> {
    let rest = s.strip_prefix('.')?;
    if rest.starts_with('.') {
        return None;
    }
    let (body, scene_number) = split_scene_number(rest);
    let styled = inline::parse(body);
    styled
        .text
        .chars()
        .next()
        .is_some_and(char::is_alphanumeric)
        .then(|| heading(styled.trimmed(true), scene_number, true))
}

fn plain_heading(s: &str) -> Option<ElementKind> {
    // Cheap test first: the visible text can only start with I or E if the raw line does,
    // once leading emphasis markers (which may vanish) and spaces are skipped.
    if !s
        .trim_start_matches(|c: char| c == '*' || c == '_' || c.is_whitespace())
        .starts_with(['I', 'i', 'E', 'e'])
    {
        return None;
    }
    let (body, scene_number) = split_scene_number(s);
    let styled = inline::parse(body).trimmed(true);
    has_heading_prefix(&styled.text).then(|| heading(styled, scene_number, false))
}

fn heading(styled: Styled, scene_number: Option<String>, forced: bool) -> ElementKind {
    ElementKind::SceneHeading {
        text: styled.text,
        scene_number,
        forced,
        spans: styled.spans,
        notes: Vec::new(),
    }
}

fn transition(s: &str) -> Option<ElementKind> {
    // Cheap test first: a visible `TO:` needs a raw `:` before any trailing markers.
    if !s
        .trim_end_matches(|c: char| c == '*' || c == '_' || c.is_whitespace())
        .ends_with(':')
    {
        return None;
    }
    let styled = text(s);
    let ok = styled.text.ends_with("TO:") && !styled.text.chars().any(char::is_lowercase);
    ok.then(|| ElementKind::Transition {
        text: styled.text,
        forced: false,
        spans: styled.spans,
        notes: Vec::new(),
    })
}

/// Visible text of a non-action element: emphasis parsed, every line trimmed.
fn text(raw: &str) -> Styled {
    inline::parse(raw).trimmed(true)
}

/// Classifies one paragraph (its lines after note removal, none blank).
///
/// Markup can leave a line with no visible text (`*_*_`). Such lines cannot start or end an
/// action or a speech (a writer could only put a blank line there), so they are dropped
/// there; an element left with nothing visible is dropped; a cue left with nothing said is
/// read as its line alone would be.
pub(crate) fn classify(lines: &[&str]) -> Vec<Piece> {
    let mut pieces = classify_raw(lines);
    pieces.retain_mut(|piece| match &mut piece.kind {
        ElementKind::Action { text, spans, .. } | ElementKind::Dialogue { text, spans, .. } => {
            let styled = Styled {
                text: std::mem::take(text),
                spans: spans.take(),
            }
            .without_edge_empty_lines();
            *text = styled.text;
            *spans = styled.spans;
            !text.is_empty()
        }
        _ => true,
    });
    if let [cue] = pieces.as_slice()
        && matches!(cue.kind, ElementKind::Character { .. })
        && let Some(first) = lines.first()
    {
        return vec![Piece::new(single(first), 0, lines.len() - 1)];
    }
    pieces
}

fn classify_raw(lines: &[&str]) -> Vec<Piece> {
    let Some(first) = lines.first() else {
        return Vec::new();
    };
    let last = lines.len() - 1;
    let s = first.trim();
    if s.starts_with('!') {
        return vec![Piece::new(action(lines, true), 0, last)];
    }
    if lines.len() == 1 {
        return vec![Piece::new(single(first), 0, 0)];
    }
    let trimmed: Vec<&str> = lines.iter().map(|l| l.trim()).collect();
    if trimmed.iter().all(|l| l.starts_with('~')) {
        return vec![Piece::new(lyrics(&trimmed), 0, last)];
    }
    if trimmed.iter().all(|l| centered_inner(l).is_some()) {
        let inner: Vec<&str> = trimmed.iter().filter_map(|l| centered_inner(l)).collect();
        return vec![Piece::new(centered(&inner), 0, last)];
    }
    if trimmed.iter().all(|l| is_outline_line(l)) {
        return lines
            .iter()
            .enumerate()
            .map(|(i, line)| Piece::new(single(line), i, i))
            .collect();
    }
    if let Some(cue) = parse_cue(first) {
        return dialogue_block(cue, lines);
    }
    vec![Piece::new(action(lines, false), 0, last)]
}

/// A one-line paragraph.
fn single(line: &str) -> ElementKind {
    let s = line.trim();
    if is_page_break(s) {
        return ElementKind::PageBreak;
    }
    if let Some(rest) = s.strip_prefix('#') {
        let depth = 1 + rest.chars().take_while(|c| *c == '#').count();
        let styled = text(&s[depth..]);
        return ElementKind::Section {
            text: styled.text,
            depth,
            spans: styled.spans,
            notes: Vec::new(),
        };
    }
    if let Some(rest) = s.strip_prefix('=') {
        let styled = text(rest);
        return ElementKind::Synopsis {
            text: styled.text,
            spans: styled.spans,
            notes: Vec::new(),
        };
    }
    if let Some(inner) = centered_inner(s) {
        return centered(&[inner]);
    }
    if let Some(rest) = s.strip_prefix('>') {
        let styled = text(rest);
        return ElementKind::Transition {
            text: styled.text,
            forced: true,
            spans: styled.spans,
            notes: Vec::new(),
        };
    }
    // Markers first, letters after: `~CUT TO:` is a lyric, not a transition.
    if let Some(kind) = forced_heading(s) {
        return kind;
    }
    if s.starts_with('~') {
        return lyrics(&[s]);
    }
    if let Some(kind) = plain_heading(s) {
        return kind;
    }
    // The spec: "add one or more spaces after the colon to cause the line to be interpreted
    // as Action".
    if !line.ends_with(char::is_whitespace)
        && let Some(kind) = transition(s)
    {
        return kind;
    }
    action(&[line], false)
}

fn action(lines: &[&str], forced: bool) -> ElementKind {
    let mut raw = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            raw.push('\n');
        }
        let mut text = line.trim_end();
        let stripped;
        if i == 0 && forced {
            let indent = text.len() - text.trim_start().len();
            stripped = format!("{}{}", &text[..indent], &text[indent + 1..]);
            text = stripped.trim_end();
        }
        raw.push_str(text);
    }
    // The spec: "Tabs and spaces are retained in Action elements, allowing writers to indent
    // a line. Tabs are converted to four spaces."
    if raw.contains('\t') {
        raw = raw.replace('\t', "    ");
    }
    let styled = inline::parse(&raw).trimmed(false);
    ElementKind::Action {
        text: styled.text,
        forced,
        spans: styled.spans,
        notes: Vec::new(),
    }
}

fn lyrics(trimmed: &[&str]) -> ElementKind {
    let raw: Vec<&str> = trimmed
        .iter()
        .map(|l| l.strip_prefix('~').unwrap_or(l).trim())
        .collect();
    let styled = text(&raw.join("\n"));
    ElementKind::Lyrics {
        text: styled.text,
        spans: styled.spans,
        notes: Vec::new(),
    }
}

fn centered(inner: &[&str]) -> ElementKind {
    let styled = text(&inner.join("\n"));
    ElementKind::Centered {
        text: styled.text,
        spans: styled.spans,
        notes: Vec::new(),
    }
}

/// Character, then parentheticals, dialogue and lyrics lines until the paragraph ends.
fn dialogue_block(cue: Cue, lines: &[&str]) -> Vec<Piece> {
    let caret = cue.caret;
    let mut pieces = vec![Piece {
        kind: cue.into_kind(),
        first: 0,
        last: 0,
        caret,
    }];
    // The open run of dialogue or lyrics lines: (is_lyrics, first index, raw lines).
    let mut open: Option<(bool, usize, Vec<&str>)> = None;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let s = if is_two_space(line) { "" } else { line.trim() };
        if !s.is_empty() && is_parenthetical(s) {
            flush(&mut pieces, open.take(), i - 1);
            let styled = text(s);
            pieces.push(Piece::new(
                ElementKind::Parenthetical {
                    text: styled.text,
                    spans: styled.spans,
                    notes: Vec::new(),
                },
                i,
                i,
            ));
            continue;
        }
        let (is_lyrics, text) = match s.strip_prefix('~') {
            Some(rest) => (true, rest.trim()),
            None => (false, s),
        };
        match &mut open {
            Some((open_lyrics, _, texts)) if *open_lyrics == is_lyrics => texts.push(text),
            _ => {
                flush(&mut pieces, open.take(), i - 1);
                open = Some((is_lyrics, i, vec![text]));
            }
        }
    }
    flush(&mut pieces, open, lines.len() - 1);
    pieces
}

fn flush(pieces: &mut Vec<Piece>, open: Option<(bool, usize, Vec<&str>)>, last: usize) {
    let Some((is_lyrics, first, texts)) = open else {
        return;
    };
    let styled = text(&texts.join("\n"));
    let kind = if is_lyrics {
        ElementKind::Lyrics {
            text: styled.text,
            spans: styled.spans,
            notes: Vec::new(),
        }
    } else {
        ElementKind::Dialogue {
            text: styled.text,
            spans: styled.spans,
            notes: Vec::new(),
        }
    };
    pieces.push(Piece::new(kind, first, last));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(lines: &[&str]) -> Vec<&'static str> {
        classify(lines).iter().map(|p| p.kind.type_name()).collect()
    }

    #[test]
    fn cues() {
        let cue = parse_cue("HANS (on the radio) (CONT'D) ^");
        assert_eq!(
            cue,
            Some(Cue {
                name: "HANS".into(),
                extensions: vec!["on the radio".into(), "CONT'D".into()],
                caret: true,
                forced: false,
            })
        );
        assert!(parse_cue("@McCLANE").is_some_and(|c| c.name == "McCLANE" && c.forced));
        assert!(parse_cue("R2D2").is_some());
        assert!(parse_cue("O'BRIEN").is_some());
        assert!(parse_cue("MRS. SMITH").is_some());
        assert!(parse_cue("23").is_none());
        assert!(parse_cue("McClane").is_none());
        assert!(parse_cue("BOB (V.O.) SMITH").is_none());
        assert!(parse_cue("@BOB (x) y").is_some_and(|c| c.name == "BOB (x) y"));
        assert!(parse_cue(r"BOB \^").is_some_and(|c| c.name == "BOB ^" && !c.caret));
    }

    #[test]
    fn scene_numbers() {
        assert_eq!(
            split_scene_number("INT. A #1A#"),
            ("INT. A", Some("1A".into()))
        );
        assert_eq!(
            split_scene_number("INT. A #I-1-A#"),
            ("INT. A", Some("I-1-A".into()))
        );
        assert_eq!(
            split_scene_number("INT. A #1.#"),
            ("INT. A", Some("1.".into()))
        );
        assert_eq!(split_scene_number("INT. A ##"), ("INT. A ##", None));
        assert_eq!(split_scene_number(r"INT. A #1\#"), (r"INT. A #1\#", None));
        assert_eq!(split_scene_number(r"INT. A \#1#"), (r"INT. A \#1#", None));
    }

    #[test]
    fn one_line_paragraphs() {
        assert_eq!(types(&["INT. HOUSE - DAY"]), ["scene_heading"]);
        assert_eq!(types(&["int/ext car"]), ["scene_heading"]);
        assert_eq!(types(&[".SNIPER NEST"]), ["scene_heading"]);
        assert_eq!(types(&["...and then"]), ["action"]);
        assert_eq!(types(&["CUT TO:"]), ["transition"]);
        assert_eq!(types(&["> Burn to white."]), ["transition"]);
        assert_eq!(types(&["> THE END <"]), ["centered"]);
        assert_eq!(types(&["==="]), ["page_break"]);
        assert_eq!(types(&["= A synopsis"]), ["synopsis"]);
        assert_eq!(types(&["## Act"]), ["section"]);
        assert_eq!(types(&["~La la"]), ["lyrics"]);
        assert_eq!(types(&["BOB"]), ["action"]);
        assert_eq!(types(&["INTERIOR"]), ["action"]);
    }

    #[test]
    fn dialogue_blocks() {
        assert_eq!(
            types(&["BOB (V.O.)", "(quietly)", "Hi.", "  ", "Still me.", "~Sing"]),
            ["character", "parenthetical", "dialogue", "lyrics"]
        );
        assert_eq!(types(&["!BOB", "Hi."]), ["action"]);
        assert_eq!(types(&["bob", "Hi."]), ["action"]);
    }
}

//! From text to paragraphs: line splitting, boneyard removal, the title page, blank-line
//! grouping and inline-note extraction. Classification of paragraphs lives in `classify`.
//!
//! Every step is a single forward scan, so the whole reader is linear in the input size.

use crate::error::{Diagnostic, ParseError, ParseErrorKind};
use crate::json::model::{Span, TitleEntry};

use super::inline::{self, is_escapable};

/// A logical source line: a physical line, or several joined because a boneyard or note
/// spanning lines was cut out of the middle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub text: String,
    /// 1-based source line where this logical line starts.
    pub number: usize,
    /// Something (boneyard, note) was removed from this line.
    pub touched: bool,
}

impl Line {
    pub fn new(text: impl Into<String>, number: usize) -> Self {
        Self {
            text: text.into(),
            number,
            touched: false,
        }
    }

    /// The 1-based column of the first non-whitespace character.
    pub fn first_column(&self) -> usize {
        self.text.chars().take_while(|c| c.is_whitespace()).count() + 1
    }
}

/// Splits on `\r\n`, `\r` and `\n`.
pub(crate) fn split_lines(src: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = src.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&src[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&src[start..i]);
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(&src[start..]);
    }
    lines
}

/// Removes `/* boneyard */` text. A boneyard spanning lines joins the text before it and
/// after it into one line; a line left with nothing but whitespace is a blank line. That is
/// how the spec's own example reads (`CUT TO:`, a boneyard, then a scene heading) and how
/// other Fountain parsers behave.
pub(crate) fn remove_boneyard(physical: &[&str]) -> Result<Vec<Line>, ParseError> {
    let mut out = Vec::with_capacity(physical.len());
    let mut current: Option<Line> = None;
    // Where the open boneyard started, 1-based.
    let mut open_at: Option<(usize, usize)> = None;
    for (index, text) in physical.iter().enumerate() {
        let number = index + 1;
        let mut line = current.take().unwrap_or_else(|| Line::new("", number));
        // Fast path: outside a boneyard, a line without `/*` is kept as it is.
        if open_at.is_none() && !text.contains("/*") {
            line.text.push_str(text);
            out.push(blank_if_emptied(line));
            continue;
        }
        let mut chars = text.chars().enumerate().peekable();
        while let Some((column, c)) = chars.next() {
            if open_at.is_some() {
                if c == '*' && chars.peek().map(|(_, n)| *n) == Some('/') {
                    chars.next();
                    open_at = None;
                }
                continue;
            }
            match (c, chars.peek().map(|(_, n)| *n)) {
                ('\\', Some(next)) if is_escapable(next) => {
                    line.text.push(c);
                    line.text.push(next);
                    chars.next();
                }
                ('/', Some('*')) => {
                    chars.next();
                    open_at = Some((number, column + 1));
                    line.touched = true;
                }
                _ => line.text.push(c),
            }
        }
        if open_at.is_some() {
            current = Some(line);
        } else {
            out.push(blank_if_emptied(line));
        }
    }
    if let Some((line, column)) = open_at {
        return Err(ParseError::new(
            ParseErrorKind::UnterminatedBoneyard,
            line,
            column,
            "this /* boneyard is never closed, so everything after it would be ignored",
            Some("a closing */"),
            "add */ where the ignored text should end, or escape a literal slash-star as /\\*",
        ));
    }
    Ok(out)
}

/// A line that only held boneyard is blank, even if two spaces were left over.
fn blank_if_emptied(mut line: Line) -> Line {
    if line.touched && line.text.trim().is_empty() {
        line.text.clear();
    }
    line
}

/// Blank for paragraph purposes. A line of exactly two spaces is the Fountain way to keep an
/// empty line inside an element, so it only counts as blank where no paragraph is open.
fn is_blank(text: &str) -> bool {
    text.trim().is_empty() && text != "  "
}

pub(crate) fn is_two_space(text: &str) -> bool {
    text == "  "
}

const HEADING_PREFIXES: [&str; 6] = ["INT./EXT", "INT/EXT", "I/E", "INT", "EXT", "EST"];

/// `INT`, `EXT`, `EST`, `INT./EXT`, `INT/EXT` or `I/E` (any case) followed by `.` or a space.
pub(crate) fn has_heading_prefix(text: &str) -> bool {
    HEADING_PREFIXES.iter().any(|prefix| {
        text.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
            && matches!(text[prefix.len()..].chars().next(), Some('.' | ' '))
    })
}

/// The key of a `Key: value` title-page line, and the value text after the colon.
fn title_key(line: &str) -> Option<(&str, &str)> {
    let first = line.chars().next()?;
    if !first.is_alphanumeric() {
        return None;
    }
    let colon = line.find(':')?;
    let key = line[..colon].trim_end();
    let valid = !key.is_empty()
        && key.chars().count() <= 40
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '\'' | '/' | '&'))
        && !has_heading_prefix(key);
    valid.then(|| (key, &line[colon + 1..]))
}

/// Whether a key is usable on a title page as written (the writer sanitises others).
pub(crate) fn is_valid_title_key(key: &str) -> bool {
    title_key(&format!("{key}: x")).is_some_and(|(k, _)| k == key)
}

/// Reads the title page: the first paragraph, if every line of it is a `Key: value` line or an
/// indented continuation, and at least one value is non-empty. Returns the entries and how many
/// lines were consumed (including the leading blanks and the paragraph itself).
pub(crate) fn title_page(lines: &[Line]) -> Option<(Vec<TitleEntry>, usize)> {
    // Any whitespace-only line ends a title page (two spaces included: they only mean
    // something inside dialogue and notes).
    let start = lines.iter().position(|line| !line.text.trim().is_empty())?;
    let end = lines[start..]
        .iter()
        .position(|line| line.text.trim().is_empty())
        .map_or(lines.len(), |offset| start + offset);
    let mut raw: Vec<(String, Vec<String>, usize)> = Vec::new();
    for line in &lines[start..end] {
        let text = line.text.as_str();
        if text.starts_with([' ', '\t']) {
            let (_, values, _) = raw.last_mut()?;
            values.push(text.trim().to_owned());
        } else {
            let (key, value) = title_key(text)?;
            let value = value.trim();
            let values = if value.is_empty() {
                Vec::new()
            } else {
                vec![value.to_owned()]
            };
            raw.push((key.to_owned(), values, line.number));
        }
    }
    let entries: Vec<TitleEntry> = raw
        .into_iter()
        .map(|(key, values, number)| {
            let styled = inline::parse(&values.join("\n")).trimmed(true);
            TitleEntry {
                key,
                value: styled.text,
                spans: styled.spans,
                span: Span {
                    line: number,
                    column: 1,
                },
            }
        })
        .collect();
    // A page of keys with nothing visible after them is not a title page (`FADE IN:`).
    if entries.iter().all(|entry| entry.value.is_empty()) {
        return None;
    }
    Some((entries, end))
}

/// Whether these lines, as the first paragraph of a file, would be read as a title page.
pub(crate) fn reads_as_title_page(lines: &[String]) -> bool {
    let lines: Vec<Line> = lines
        .iter()
        .map(|text| Line::new(text.clone(), 1))
        .collect();
    title_page(&lines).is_some()
}

/// Groups lines into paragraphs separated by blank lines. Two-space lines keep a paragraph
/// going but never start or end one.
pub(crate) fn paragraphs(lines: Vec<Line>) -> Vec<Vec<Line>> {
    let mut out: Vec<Vec<Line>> = Vec::new();
    let mut current: Vec<Line> = Vec::new();
    for line in lines {
        if is_blank(&line.text) || (current.is_empty() && is_two_space(&line.text)) {
            finish_paragraph(&mut out, &mut current);
        } else {
            current.push(line);
        }
    }
    finish_paragraph(&mut out, &mut current);
    out
}

fn finish_paragraph(out: &mut Vec<Vec<Line>>, current: &mut Vec<Line>) {
    while current.last().is_some_and(|line| is_two_space(&line.text)) {
        current.pop();
    }
    if !current.is_empty() {
        out.push(std::mem::take(current));
    }
}

/// An inline note cut out of a paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CutNote {
    pub text: String,
    /// Index (in the returned lines) of the line the note belongs to; `None` when the note
    /// was the whole paragraph.
    pub line_index: Option<usize>,
    pub span: Span,
}

/// Removes `[[notes]]` from a paragraph. Notes may span lines (the paragraph's lines are
/// joined around them); a line left empty by the removal disappears. An unclosed `[[` stays as
/// literal text with a warning.
pub(crate) fn cut_notes(
    paragraph: Vec<Line>,
    warnings: &mut Vec<Diagnostic>,
) -> (Vec<Line>, Vec<CutNote>) {
    if !paragraph.iter().any(|line| line.text.contains("[[")) {
        return (paragraph, Vec::new());
    }
    // Work on (char, source line) pairs, with '\n' between lines.
    let mut chars: Vec<(char, usize)> = Vec::new();
    for (index, line) in paragraph.iter().enumerate() {
        if index > 0 {
            chars.push(('\n', line.number));
        }
        chars.extend(line.text.chars().map(|c| (c, line.number)));
    }
    // 1-based column of every char, computed once (a long line with many notes must not
    // rescan the line per note).
    let mut columns: Vec<usize> = Vec::with_capacity(chars.len());
    let mut column = 1;
    for (c, _) in &chars {
        columns.push(column);
        column = if *c == '\n' { 1 } else { column + 1 };
    }
    // Find note ranges [open, close) over `chars`, escape-aware.
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    let mut open: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i].0;
        let next = chars.get(i + 1).map(|(n, _)| *n);
        if c == '\\' && next.is_some_and(is_escapable) {
            i += 2;
            continue;
        }
        match (open, c, next) {
            (None, '[', Some('[')) => {
                open = Some(i);
                i += 2;
            }
            (Some(start), ']', Some(']')) => {
                ranges.push((start, i + 2));
                open = None;
                i += 2;
            }
            _ => i += 1,
        }
    }
    if let Some(start) = open {
        let number = chars[start].1;
        let column = columns[start];
        warnings.push(Diagnostic::new(
            number,
            column,
            "this [[note is not closed before the paragraph ends; it is kept as text \
             (close it with ]], or type two spaces on an empty line inside a note)",
        ));
    }
    if ranges.is_empty() {
        return (paragraph, Vec::new());
    }

    let mut lines: Vec<Line> = Vec::new();
    let mut current = Line::new("", chars.first().map_or(1, |(_, n)| *n));
    let mut notes: Vec<(String, Span, usize)> = Vec::new();
    let mut next_range = ranges.iter().peekable();
    let mut i = 0;
    while i < chars.len() {
        if let Some(&&(start, end)) = next_range.peek()
            && i == start
        {
            let inner: String = chars[start + 2..end - 2].iter().map(|(c, _)| *c).collect();
            let span = Span {
                line: chars[start].1,
                column: columns[start],
            };
            notes.push((note_text(&inner), span, lines.len()));
            current.touched = true;
            next_range.next();
            i = end;
            // The note takes the space that separated it: `text [[note]]` leaves `text`, and
            // `  [[note]] text` (nothing before it but indentation) leaves `  text`.
            if current.text.trim().is_empty() {
                while chars
                    .get(i)
                    .is_some_and(|(c, _)| *c != '\n' && c.is_whitespace())
                {
                    i += 1;
                }
            } else {
                let kept = current.text.trim_end().len();
                current.text.truncate(kept);
            }
            continue;
        }
        let (c, number) = chars[i];
        if c == '\n' {
            lines.push(std::mem::replace(&mut current, Line::new("", number)));
        } else {
            current.text.push(c);
        }
        i += 1;
    }
    lines.push(current);

    // Drop lines that only held notes, remapping each note to the nearest surviving line
    // before it (or after it, at the start of the paragraph).
    let mut kept: Vec<Line> = Vec::with_capacity(lines.len());
    let mut new_index: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    for line in lines {
        if line.touched && line.text.trim().is_empty() {
            new_index.push(None);
        } else {
            new_index.push(Some(kept.len()));
            kept.push(line);
        }
    }
    // Nearest surviving line at or before / at or after each old line, in two passes.
    let mut before: Vec<Option<usize>> = Vec::with_capacity(new_index.len());
    let mut last = None;
    for index in &new_index {
        last = index.or(last);
        before.push(last);
    }
    let mut after: Vec<Option<usize>> = vec![None; new_index.len()];
    let mut next = None;
    for (slot, index) in after.iter_mut().zip(&new_index).rev() {
        next = index.or(next);
        *slot = next;
    }
    let cut = notes
        .into_iter()
        .map(|(text, span, old)| CutNote {
            text,
            line_index: before
                .get(old)
                .copied()
                .flatten()
                .or_else(|| after.get(old).copied().flatten()),
            span,
        })
        .collect();
    (kept, cut)
}

/// Note text: escapes resolved, each line trimmed, surrounding empty lines dropped.
pub(crate) fn note_text(raw: &str) -> String {
    let unescaped = inline::unescape(raw);
    let lines: Vec<&str> = unescaped.split('\n').map(str::trim).collect();
    let first = lines.iter().position(|l| !l.is_empty());
    let last = lines.iter().rposition(|l| !l.is_empty());
    match (first, last) {
        (Some(first), Some(last)) => lines[first..=last].join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(src: &str) -> Vec<Line> {
        remove_boneyard(&split_lines(src)).unwrap_or_default()
    }

    #[test]
    fn splits_every_line_ending() {
        assert_eq!(split_lines("a\r\nb\rc\nd\n"), vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn boneyard_lines_become_blank_and_inline_boneyard_is_cut() {
        let texts: Vec<String> = lines("a /* x */ b\n/* whole\nlines */\nc /* tail\nhead */ d")
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(texts, vec!["a  b", "", "c  d"]);
    }

    #[test]
    fn unterminated_boneyard_names_the_opener() {
        let Err(error) = remove_boneyard(&split_lines("one\ntwo /* never")) else {
            panic!("accepted");
        };
        assert_eq!((error.line, error.column), (2, 5));
        assert!(
            error.to_string().contains("expected a closing */"),
            "{error}"
        );
    }

    #[test]
    fn escaped_slash_star_is_not_a_boneyard() {
        assert_eq!(lines(r"a /\* b")[0].text, r"a /\* b");
    }

    #[test]
    fn title_page_needs_every_line_to_fit() {
        assert!(title_page(&lines("Title: X\nAuthor: Y\n\nBody")).is_some());
        assert!(title_page(&lines("Title: X\nnot a key\n\nBody")).is_none());
        assert!(title_page(&lines("FADE IN:\n\nBody")).is_none());
        assert!(title_page(&lines("INT. HOUSE: NIGHT\n\nBody")).is_none());
    }

    #[test]
    fn two_space_lines_join_but_do_not_start_paragraphs() {
        let paras = paragraphs(lines("  \na\n  \nb\n  \n\nc"));
        assert_eq!(paras.len(), 2);
        assert_eq!(paras[0].len(), 3);
    }

    #[test]
    fn notes_are_cut_and_mapped_to_lines() {
        let mut warnings = Vec::new();
        let para = lines("He runs. [[check pace]]\n[[whole line]]\nShe follows.");
        let (kept, notes) = cut_notes(para, &mut warnings);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].text, "He runs.");
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0].line_index, Some(0));
        assert_eq!(notes[1].line_index, Some(0));
        assert!(warnings.is_empty());
    }

    #[test]
    fn unclosed_note_warns_and_stays() {
        let mut warnings = Vec::new();
        let (kept, notes) = cut_notes(lines("a [[b"), &mut warnings);
        assert_eq!(kept[0].text, "a [[b");
        assert!(notes.is_empty());
        assert_eq!(warnings.len(), 1);
    }
}

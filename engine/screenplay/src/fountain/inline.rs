//! Inline markup: emphasis (`*italic*`, `**bold**`, `***bold italic***`, `_underline_`) and
//! backslash escapes, in both directions.
//!
//! Reading follows Markdown's delimiter-run idea, simplified to be linear: a run of `*` can open
//! when the next character is not whitespace and close when the previous one is not; `_`
//! additionally may not open after, or close before, a letter or digit (so `snake_case` stays
//! literal). A closer pairs with the nearest open run of the same character; `*` pairs two at a
//! time (bold) while both sides have two left, else one (italic). Emphasis never crosses a line;
//! markers left unpaired are literal text. A backslash before any ASCII punctuation makes that
//! character literal.
//!
//! Writing is the mirror image and is built so that reading its output gives back exactly the
//! same text: every literal `*`, `_` and `\` is escaped, styles are trimmed so markers always
//! touch non-whitespace, and a `*` run that could both close and open closes every open `*`
//! style and reopens what is wanted, which is the only reading the parser can give it.

use crate::json::model::TextRun;

const ITALIC: u8 = 1;
const BOLD: u8 = 2;
const UNDERLINE: u8 = 4;

/// Visible text and, when any styling exists, its styled runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Styled {
    pub text: String,
    pub spans: Option<Vec<TextRun>>,
}

pub(crate) fn is_escapable(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// Resolves backslash escapes only (notes and names carry no emphasis).
pub(crate) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && is_escapable(next)
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// True when the character at `index` (a char index) is preceded by an odd number of
/// backslashes, i.e. it is escaped.
pub(crate) fn is_escaped_at(chars: &[char], index: usize) -> bool {
    let mut count = 0;
    let mut i = index;
    while i > 0 && chars.get(i - 1) == Some(&'\\') {
        count += 1;
        i -= 1;
    }
    count % 2 == 1
}

/// Parses a possibly multi-line raw string; each line is parsed on its own and the results are
/// joined with `'\n'`.
pub(crate) fn parse(raw: &str) -> Styled {
    let mut text = String::with_capacity(raw.len());
    let mut runs: Vec<TextRun> = Vec::new();
    let mut styled = false;
    for (index, line) in raw.split('\n').enumerate() {
        if index > 0 {
            text.push('\n');
            push_run(&mut runs, "\n", 0);
        }
        for (segment, flags) in parse_line(line) {
            styled |= flags != 0;
            text.push_str(&segment);
            push_run(&mut runs, &segment, flags);
        }
    }
    Styled {
        text,
        spans: styled.then_some(runs),
    }
}

impl Styled {
    /// Trims whitespace at the end of every line, and at the start too when `leading`.
    /// Markers can vanish next to a space (`x _*_`), leaving whitespace that no Fountain
    /// could write back; only action keeps leading whitespace, as indentation.
    pub fn trimmed(self, leading: bool) -> Styled {
        let needs = self.text.split('\n').any(|line| {
            line.ends_with(char::is_whitespace)
                || (leading && line.starts_with(char::is_whitespace))
        });
        if !needs {
            return self;
        }
        let flags = char_flags(&self.text, self.spans.as_deref());
        let chars: Vec<char> = self.text.chars().collect();
        let mut text = String::with_capacity(self.text.len());
        let mut runs: Vec<TextRun> = Vec::new();
        let mut start = 0;
        while start <= chars.len() {
            let end = chars[start..]
                .iter()
                .position(|c| *c == '\n')
                .map_or(chars.len(), |offset| start + offset);
            let mut first = start;
            if leading {
                while first < end && chars[first].is_whitespace() {
                    first += 1;
                }
            }
            let mut last = end;
            while last > first && chars[last - 1].is_whitespace() {
                last -= 1;
            }
            if start > 0 {
                text.push('\n');
                push_run(&mut runs, "\n", 0);
            }
            for (index, c) in (first..last).zip(&chars[first..last]) {
                let piece = c.to_string();
                text.push_str(&piece);
                push_run(&mut runs, &piece, flags.get(index).copied().unwrap_or(0));
            }
            start = end + 1;
        }
        let styled = runs.iter().any(|r| flags_of(r) != 0);
        Styled {
            text,
            spans: styled.then_some(runs),
        }
    }
}

impl Styled {
    /// Drops empty lines at the start and end of the text.
    pub fn without_edge_empty_lines(self) -> Styled {
        let lines: Vec<&str> = self.text.split('\n').collect();
        let first = lines.iter().position(|l| !l.is_empty());
        let last = lines.iter().rposition(|l| !l.is_empty());
        let (Some(first), Some(last)) = (first, last) else {
            return Styled::default();
        };
        if first == 0 && last == lines.len() - 1 {
            return self;
        }
        let flags = char_flags(&self.text, self.spans.as_deref());
        let skip: usize = lines[..first].iter().map(|l| l.chars().count() + 1).sum();
        let take: usize = lines[first..=last]
            .iter()
            .map(|l| l.chars().count() + 1)
            .sum::<usize>()
            - 1;
        let mut text = String::new();
        let mut runs = Vec::new();
        for (c, f) in self.text.chars().zip(flags).skip(skip).take(take) {
            text.push(c);
            push_run(&mut runs, &c.to_string(), f);
        }
        let styled = runs.iter().any(|r| flags_of(r) != 0);
        Styled {
            text,
            spans: styled.then_some(runs),
        }
    }
}

fn push_run(runs: &mut Vec<TextRun>, text: &str, flags: u8) {
    if text.is_empty() {
        return;
    }
    if let Some(last) = runs.last_mut()
        && flags_of(last) == flags
    {
        last.text.push_str(text);
        return;
    }
    runs.push(TextRun {
        text: text.to_owned(),
        bold: flags & BOLD != 0,
        italic: flags & ITALIC != 0,
        underline: flags & UNDERLINE != 0,
    });
}

fn flags_of(run: &TextRun) -> u8 {
    (if run.bold { BOLD } else { 0 })
        | (if run.italic { ITALIC } else { 0 })
        | (if run.underline { UNDERLINE } else { 0 })
}

enum Segment {
    Text(String),
    Delimiter { marker: char, remaining: usize },
}

struct Opener {
    segment: usize,
}

/// Parses one line into (text, style flags) pieces.
fn parse_line(line: &str) -> Vec<(String, u8)> {
    // Most lines carry no markup at all.
    if !line.contains(['*', '_', '\\']) {
        return if line.is_empty() {
            Vec::new()
        } else {
            vec![(line.to_owned(), 0)]
        };
    }
    let chars: Vec<char> = line.chars().collect();
    let mut segments: Vec<Segment> = Vec::new();
    let mut literal = String::new();
    // Matched pairs: (opener segment, closer segment, flag).
    let mut matches: Vec<(usize, usize, u8)> = Vec::new();
    let mut star_openers: Vec<Opener> = Vec::new();
    let mut underscore_openers: Vec<Opener> = Vec::new();

    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\'
            && let Some(&next) = chars.get(i + 1)
            && is_escapable(next)
        {
            literal.push(next);
            i += 2;
            continue;
        }
        if c != '*' && c != '_' {
            literal.push(c);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i] == c {
            i += 1;
        }
        let count = i - start;
        // The raw neighbours decide flanking; an escaped neighbour counts as the character it
        // escapes, which is exactly chars[start - 1].
        let previous = start.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i).copied();
        let mut can_open = next.is_some_and(|n| !n.is_whitespace());
        let mut can_close = previous.is_some_and(|p| !p.is_whitespace());
        if c == '_' {
            can_open &= !previous.is_some_and(char::is_alphanumeric);
            can_close &= !next.is_some_and(char::is_alphanumeric);
        }
        if !can_open && !can_close {
            literal.extend(std::iter::repeat_n(c, count));
            continue;
        }
        if !literal.is_empty() {
            segments.push(Segment::Text(std::mem::take(&mut literal)));
        }
        let index = segments.len();
        let mut remaining = count;
        let openers = if c == '*' {
            &mut star_openers
        } else {
            &mut underscore_openers
        };
        if can_close {
            while remaining > 0 {
                let Some(top) = openers.last() else { break };
                let opener_segment = top.segment;
                let Some(Segment::Delimiter {
                    remaining: opener_remaining,
                    ..
                }) = segments.get_mut(opener_segment)
                else {
                    break;
                };
                let (used, flag) = if c == '_' {
                    (1, UNDERLINE)
                } else if *opener_remaining >= 2 && remaining >= 2 {
                    (2, BOLD)
                } else {
                    (1, ITALIC)
                };
                *opener_remaining -= used;
                remaining -= used;
                matches.push((opener_segment, index, flag));
                if *opener_remaining == 0 {
                    openers.pop();
                }
            }
        }
        segments.push(Segment::Delimiter {
            marker: c,
            remaining,
        });
        if can_open && remaining > 0 {
            openers.push(Opener { segment: index });
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Text(literal));
    }

    // A match styles every segment strictly between its opener and closer. Difference arrays
    // keep this linear however many pairs there are.
    let mut delta = vec![[0i32; 3]; segments.len() + 1];
    for &(open, close, flag) in &matches {
        let slot = flag_slot(flag);
        delta[open + 1][slot] += 1;
        delta[close][slot] -= 1;
    }
    let mut depth = [0i32; 3];
    let mut out: Vec<(String, u8)> = Vec::new();
    for (index, segment) in segments.into_iter().enumerate() {
        for (slot, d) in depth.iter_mut().enumerate() {
            *d += delta[index][slot];
        }
        let flags = depth
            .iter()
            .enumerate()
            .filter(|(_, d)| **d > 0)
            .fold(0u8, |acc, (slot, _)| acc | (1 << slot));
        let text = match segment {
            Segment::Text(text) => text,
            Segment::Delimiter { marker, remaining } => {
                std::iter::repeat_n(marker, remaining).collect()
            }
        };
        if text.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, last_flags)) if *last_flags == flags => last.push_str(&text),
            _ => out.push((text, flags)),
        }
    }
    out
}

fn flag_slot(flag: u8) -> usize {
    match flag {
        ITALIC => 0,
        BOLD => 1,
        _ => 2,
    }
}

/// Per-character flags of `text` from `spans` (which must concatenate to `text`; if they do not,
/// the styling is ignored rather than misapplied).
fn char_flags(text: &str, spans: Option<&[TextRun]>) -> Vec<u8> {
    let count = text.chars().count();
    let Some(spans) = spans else {
        return vec![0; count];
    };
    let mut flags = Vec::with_capacity(count);
    let mut joined = String::with_capacity(text.len());
    for run in spans {
        joined.push_str(&run.text);
        flags.extend(std::iter::repeat_n(flags_of(run), run.text.chars().count()));
    }
    if joined != text {
        return vec![0; count];
    }
    flags
}

/// Splits styled text into lines, each with its per-character flags.
pub(crate) fn lines_with_flags(text: &str, spans: Option<&[TextRun]>) -> Vec<(Vec<char>, Vec<u8>)> {
    let flags = char_flags(text, spans);
    let mut out = Vec::new();
    let mut chars = Vec::new();
    let mut line_flags = Vec::new();
    for (c, f) in text.chars().zip(flags) {
        if c == '\n' {
            out.push((std::mem::take(&mut chars), std::mem::take(&mut line_flags)));
        } else {
            chars.push(c);
            line_flags.push(f);
        }
    }
    out.push((chars, line_flags));
    out
}

/// Writes one line of visible text with its flags as Fountain markup. `force_escape(i, c)` asks
/// for extra escapes by position (a leading `!`, a trailing `#`), and only ASCII punctuation
/// can be escaped.
pub(crate) fn render_line(
    chars: &[char],
    flags: &[u8],
    force_escape: &dyn Fn(usize, char) -> bool,
) -> String {
    // The reader drops byte-order marks wherever they are, so writing one could glue its
    // neighbours into markup (`/` + `*`). Leave them out before deciding any escape.
    if chars.contains(&'\u{feff}') {
        let kept: Vec<(usize, char, u8)> = chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != '\u{feff}')
            .map(|(i, c)| (i, *c, flags.get(i).copied().unwrap_or(0)))
            .collect();
        let chars: Vec<char> = kept.iter().map(|(_, c, _)| *c).collect();
        let flags: Vec<u8> = kept.iter().map(|(_, _, f)| *f).collect();
        let original: Vec<usize> = kept.iter().map(|(i, _, _)| *i).collect();
        return render_line(&chars, &flags, &|i, c| {
            original.get(i).is_some_and(|o| force_escape(*o, c))
        });
    }
    // Unstyled text needs only escapes, not the marker machinery below.
    if flags.iter().all(|f| *f == 0) {
        let mut out = String::with_capacity(chars.len() + 8);
        for (index, &c) in chars.iter().enumerate() {
            if needs_escape(chars, index, c) || (force_escape(index, c) && is_escapable(c)) {
                out.push('\\');
            }
            out.push(c);
        }
        return escape_boneyard_openers(out);
    }
    let flags = writable_flags(chars, flags);
    let mut out = String::with_capacity(chars.len() + 8);
    // The `*` styles the reader will have open, innermost last.
    let mut star_stack: Vec<u8> = Vec::new();
    let mut underline_open = false;
    for index in 0..=chars.len() {
        let after_text = index
            .checked_sub(1)
            .and_then(|p| chars.get(p))
            .is_some_and(|c| !c.is_whitespace());
        let current = chars.get(index).copied();
        let before_text = current.is_some_and(|c| !c.is_whitespace());
        let wanted = current.map_or(0, |_| flags.get(index).copied().unwrap_or(0));

        // Underline closes before and opens after the `*` run so that it never splits one.
        let close_underline = underline_open && wanted & UNDERLINE == 0;
        let open_underline = !underline_open && wanted & UNDERLINE != 0 && before_text;

        let wanted_stars = wanted & (BOLD | ITALIC);
        let must_close = star_stack.iter().any(|f| wanted_stars & f == 0);
        let must_open = [BOLD, ITALIC]
            .into_iter()
            .any(|f| wanted_stars & f != 0 && !star_stack.contains(&f));
        let mut stars = 0usize;
        if must_close || must_open {
            if after_text && before_text {
                // The reader takes a run between two non-spaces as closing everything open,
                // then opening with what is left: write exactly that.
                stars = star_stack.iter().map(|f| star_width(*f)).sum();
                star_stack.clear();
                for flag in [BOLD, ITALIC] {
                    if wanted_stars & flag != 0 {
                        star_stack.push(flag);
                        stars += star_width(flag);
                    }
                }
            } else if before_text {
                // After a space a run can only open. (Nothing needs closing here: styles are
                // trimmed, so they always end on a non-space.)
                for flag in [BOLD, ITALIC] {
                    if wanted_stars & flag != 0 && !star_stack.contains(&flag) {
                        star_stack.push(flag);
                        stars += star_width(flag);
                    }
                }
            } else if after_text {
                // Before a space a run can only close; what must stay open but sits above a
                // closing style is reopened at the next non-space.
                while star_stack.iter().any(|f| wanted_stars & f == 0) {
                    if let Some(flag) = star_stack.pop() {
                        stars += star_width(flag);
                    }
                }
            }
        }

        if close_underline {
            out.push('_');
            underline_open = false;
        }
        out.extend(std::iter::repeat_n('*', stars));
        if open_underline {
            out.push('_');
            underline_open = true;
        }
        if let Some(c) = current {
            if needs_escape(chars, index, c) || (force_escape(index, c) && is_escapable(c)) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    escape_boneyard_openers(out)
}

/// Characters that are always escaped in visible text: markup characters, and the first `[`
/// of `[[` so it cannot open a note.
fn needs_escape(chars: &[char], index: usize, c: char) -> bool {
    c == '\\' || c == '*' || c == '_' || (c == '[' && chars.get(index + 1) == Some(&'['))
}

/// A literal `/` right before a `*` (escaped or a marker) would open a boneyard; `/` is never
/// markup, so escaping every such slash is safe.
fn escape_boneyard_openers(out: String) -> String {
    if out.contains("/*") {
        out.replace("/*", "\\/*")
    } else {
        out
    }
}

fn star_width(flag: u8) -> usize {
    if flag == BOLD { 2 } else { 1 }
}

/// Drops styling that markers cannot express: styles on leading or trailing whitespace of a
/// styled stretch (markers must touch text) and underline inside a word (`_` there is literal).
fn writable_flags(chars: &[char], flags: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = flags.to_vec();
    out.resize(chars.len(), 0);
    for flag in [ITALIC, BOLD, UNDERLINE] {
        let mut index = 0;
        while index < chars.len() {
            if out[index] & flag == 0 {
                index += 1;
                continue;
            }
            let start = index;
            while index < chars.len() && out[index] & flag != 0 {
                index += 1;
            }
            let end = index;
            let mut first = start;
            while first < end && chars[first].is_whitespace() {
                first += 1;
            }
            let mut last = end;
            while last > first && chars[last - 1].is_whitespace() {
                last -= 1;
            }
            let inside_word = flag == UNDERLINE
                && (first
                    .checked_sub(1)
                    .and_then(|p| chars.get(p))
                    .is_some_and(|c| c.is_alphanumeric())
                    || chars.get(last).is_some_and(|c| c.is_alphanumeric()));
            for (position, f) in (start..end).zip(&mut out[start..end]) {
                if inside_word || position < first || position >= last {
                    *f &= !flag;
                }
            }
        }
    }
    out
}

/// Renders possibly multi-line styled text, one output line per text line.
#[cfg(test)]
pub(crate) fn render_lines(text: &str, spans: Option<&[TextRun]>) -> Vec<String> {
    lines_with_flags(text, spans)
        .into_iter()
        .map(|(chars, flags)| render_line(&chars, &flags, &|_, _| false))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, bold: bool, italic: bool, underline: bool) -> TextRun {
        TextRun {
            text: text.into(),
            bold,
            italic,
            underline,
        }
    }

    #[test]
    fn plain_text_has_no_spans() {
        assert_eq!(parse("plain text").spans, None);
        assert_eq!(parse("plain text").text, "plain text");
    }

    #[test]
    fn the_four_emphasis_forms() {
        let styled = parse("*i* **b** ***bi*** _u_");
        assert_eq!(styled.text, "i b bi u");
        assert_eq!(
            styled.spans,
            Some(vec![
                run("i", false, true, false),
                run(" ", false, false, false),
                run("b", true, false, false),
                run(" ", false, false, false),
                run("bi", true, true, false),
                run(" ", false, false, false),
                run("u", false, false, true),
            ])
        );
    }

    #[test]
    fn combinations_nest() {
        let styled = parse("_**bold underline**_ and *italic with **bold** inside*");
        assert_eq!(styled.text, "bold underline and italic with bold inside");
        let spans = styled.spans.unwrap_or_default();
        assert_eq!(spans[0], run("bold underline", true, false, true));
        assert!(spans.contains(&run("bold", true, true, false)));
    }

    #[test]
    fn unclosed_and_spaced_markers_are_literal() {
        assert_eq!(
            parse("He dialed *69 and then *23.").text,
            "He dialed *69 and then *23."
        );
        assert_eq!(parse("a * b * c").text, "a * b * c");
        assert_eq!(parse("*not closed").text, "*not closed");
        assert_eq!(parse("snake_case_name").text, "snake_case_name");
    }

    #[test]
    fn emphasis_does_not_cross_lines() {
        assert_eq!(parse("*one\ntwo*").text, "*one\ntwo*");
    }

    #[test]
    fn escapes_resolve() {
        let styled = parse(r"Steel enters the code: **\*9765\***");
        assert_eq!(styled.text, "Steel enters the code: *9765*");
        assert_eq!(parse(r"\_\_ and \\ and \q").text, r"__ and \ and \q");
    }

    /// Styles of the non-whitespace characters: markers cannot style whitespace at the edge of
    /// a styled stretch, so that part may differ after a round trip.
    fn visible_styles(styled: &Styled) -> Vec<(char, u8)> {
        let flags = char_flags(&styled.text, styled.spans.as_deref());
        styled
            .text
            .chars()
            .zip(flags)
            .filter(|(c, _)| !c.is_whitespace())
            .collect()
    }

    fn round_trip(text: &str, spans: Option<&[TextRun]>) -> Styled {
        let rendered = render_lines(text, spans).join("\n");
        parse(&rendered)
    }

    #[test]
    fn rendering_reads_back() {
        let cases = [
            "*a***b**",
            "**a *b** c*",
            "***x** y*",
            "_a_ **b** *c* ***d*** _**e**_",
            r"lit\*eral \_ \\ [\[x]] /\*",
            "*i* **b**",
        ];
        for case in cases {
            let parsed = parse(case);
            let back = round_trip(&parsed.text, parsed.spans.as_deref());
            assert_eq!(back.text, parsed.text, "{case}");
            assert_eq!(visible_styles(&back), visible_styles(&parsed), "{case}");
        }
    }

    #[test]
    fn interleaved_styles_render_as_nesting() {
        // Bold over "ab", italic over "bc": the writer must close and reopen.
        let spans = vec![
            run("a", true, false, false),
            run("b", true, true, false),
            run("c", false, true, false),
        ];
        let back = round_trip("abc", Some(&spans));
        assert_eq!(back.text, "abc");
        assert_eq!(back.spans, Some(spans));
    }

    #[test]
    fn unwritable_styles_are_dropped_not_garbled() {
        let spans = vec![
            run("a", false, false, false),
            run("b", false, false, true),
            run("c ", true, false, false),
        ];
        let back = round_trip("abc ", Some(&spans));
        assert_eq!(back.text, "abc ");
    }
}

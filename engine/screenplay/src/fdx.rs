//! Final Draft (FDX) reading.
//!
//! FDX is XML: `<FinalDraft DocumentType="Script">` holding `<Content>` with one `<Paragraph
//! Type="...">` per element, each with `<Text Style="Bold+Italic">` runs; `<DualDialogue>`
//! groups two speeches; `<TitlePage>` holds free-form centred and left-aligned paragraphs.
//! Paragraph types without a Fountain twin are mapped as the crate README documents (Shot,
//! General and Cast List become action, New Act a section, End of Act centred text).
//!
//! The result goes through [`normalize`] so that an imported screenplay writes to Fountain and
//! reads back unchanged; positions are the XML lines of the paragraphs.

use roxmltree::{Document, Node};

use crate::Parsed;
use crate::decode::decode;
use crate::error::{Diagnostic, ParseError, ParseErrorKind};
use crate::json::model::{DualSide, Element, ElementKind, Screenplay, Span, TextRun, TitleEntry};
use crate::normalize::normalize;

/// Parses a Final Draft `.fdx` file (any FDX version with `<Content>/<Paragraph>` elements).
pub fn parse_fdx(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let text = decode(bytes)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = Document::parse_with_options(&text, options).map_err(|error| {
        let pos = error.pos();
        ParseError::new(
            ParseErrorKind::MalformedXml,
            pos.row as usize,
            pos.col as usize,
            format!(
                "the FDX file is not well-formed XML: {}",
                xml_message(&error)
            ),
            None,
            "the file may be truncated or edited by hand; re-export it from Final Draft \
             (File > Save As, format Final Draft .fdx)",
        )
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "FinalDraft" {
        let span = span_of(&doc, root);
        return Err(ParseError::new(
            ParseErrorKind::NotFinalDraft,
            span.line,
            span.column,
            format!(
                "the XML root element is <{}>, so this is not a Final Draft document",
                root.tag_name().name()
            ),
            Some("a <FinalDraft> root element"),
            "open the screenplay in Final Draft and save it as .fdx, or import a .fountain file",
        ));
    }
    let mut reader = Reader {
        doc: &doc,
        elements: Vec::new(),
        warnings: Vec::new(),
        unknown_types: Vec::new(),
    };
    if let Some(kind) = root.attribute("DocumentType")
        && kind != "Script"
    {
        let span = span_of(&doc, root);
        reader.warnings.push(Diagnostic::new(
            span.line,
            span.column,
            format!("DocumentType is \"{kind}\", not \"Script\"; reading it as a script anyway"),
        ));
    }
    match child(root, "Content") {
        Some(content) => reader.content(content),
        None => {
            let span = span_of(&doc, root);
            reader.warnings.push(Diagnostic::new(
                span.line,
                span.column,
                "this FDX file has no <Content> element, so the screenplay body is empty",
            ));
        }
    }
    if let Some(notes) = child(root, "ScriptNotes") {
        reader.loose_notes(notes);
    }
    let title_page = child(root, "TitlePage")
        .and_then(|page| child(page, "Content"))
        .map(|content| title_page(&doc, content))
        .unwrap_or_default();
    let Reader {
        elements, warnings, ..
    } = reader;
    let screenplay = normalize(&Screenplay {
        title_page,
        elements,
    });
    Ok(Parsed {
        screenplay,
        warnings,
    })
}

/// roxmltree's message without its trailing " at row:col", which the error already carries.
fn xml_message(error: &roxmltree::Error) -> String {
    let message = error.to_string();
    let pos = error.pos();
    let suffix = format!(" at {}:{}", pos.row, pos.col);
    message
        .strip_suffix(&suffix)
        .map_or_else(|| message.clone(), str::to_owned)
}

struct Reader<'a, 'input> {
    doc: &'a Document<'input>,
    elements: Vec<Element>,
    warnings: Vec<Diagnostic>,
    unknown_types: Vec<String>,
}

impl Reader<'_, '_> {
    fn content(&mut self, content: Node<'_, '_>) {
        for node in content.children().filter(Node::is_element) {
            match node.tag_name().name() {
                "Paragraph" => self.paragraph(node),
                "DualDialogue" => self.dual(node),
                _ => {}
            }
        }
    }

    fn paragraph(&mut self, node: Node<'_, '_>) {
        if let Some(dual) = child(node, "DualDialogue") {
            self.dual(dual);
            return;
        }
        let span = span_of(self.doc, node);
        let (text, spans) = runs(node);
        let notes = paragraph_notes(node);
        let paragraph_type = node.attribute("Type").unwrap_or("Action");
        let kind = match paragraph_type {
            "Scene Heading" => ElementKind::SceneHeading {
                text,
                scene_number: node
                    .attribute("Number")
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
                forced: false,
                spans,
                notes,
            },
            "Action" | "General" | "Shot" | "Cast List" => action(text, spans, notes),
            "Character" => character(&text, notes),
            "Parenthetical" => ElementKind::Parenthetical { text, spans, notes },
            "Dialogue" => ElementKind::Dialogue { text, spans, notes },
            "Transition" => ElementKind::Transition {
                text,
                forced: false,
                spans,
                notes,
            },
            "Lyrics" => ElementKind::Lyrics { text, spans, notes },
            "New Act" => ElementKind::Section {
                text,
                depth: 1,
                spans,
                notes,
            },
            "End of Act" => ElementKind::Centered { text, spans, notes },
            other => {
                if !self.unknown_types.iter().any(|t| t == other) {
                    self.unknown_types.push(other.to_owned());
                    self.warnings.push(Diagnostic::new(
                        span.line,
                        span.column,
                        format!(
                            "paragraph type \"{other}\" has no Fountain equivalent; read as action"
                        ),
                    ));
                }
                action(text, spans, notes)
            }
        };
        self.elements.push(Element::new(kind, span));
    }

    /// The two speeches of a `<DualDialogue>`: the first character is the left side, the
    /// second the right.
    fn dual(&mut self, node: Node<'_, '_>) {
        let start = self.elements.len();
        for paragraph in node.children().filter(|n| n.has_tag_name("Paragraph")) {
            self.paragraph(paragraph);
        }
        let characters: Vec<usize> = (start..self.elements.len())
            .filter(|&i| matches!(self.elements[i].kind, ElementKind::Character { .. }))
            .collect();
        if let [left, right, ..] = characters[..] {
            for (index, side) in [(left, DualSide::Left), (right, DualSide::Right)] {
                if let ElementKind::Character {
                    dual, dual_side, ..
                } = &mut self.elements[index].kind
                {
                    *dual = true;
                    *dual_side = Some(side);
                }
            }
        }
    }

    /// Notes kept outside the paragraphs have no anchor we can use; they go at the end.
    fn loose_notes(&mut self, notes: Node<'_, '_>) {
        let mut count = 0;
        for note in notes.children().filter(|n| n.has_tag_name("ScriptNote")) {
            let text = note_text(note);
            if !text.is_empty() {
                count += 1;
                self.elements.push(Element::new(
                    ElementKind::Note { text },
                    span_of(self.doc, note),
                ));
            }
        }
        if count > 0 {
            let span = span_of(self.doc, notes);
            self.warnings.push(Diagnostic::new(
                span.line,
                span.column,
                format!("{count} script note(s) are not attached to a paragraph; they are placed at the end"),
            ));
        }
    }
}

fn action(text: String, spans: Option<Vec<TextRun>>, notes: Vec<String>) -> ElementKind {
    ElementKind::Action {
        text,
        forced: false,
        spans,
        notes,
    }
}

/// FDX keeps extensions in the character text (`BOB (V.O.)`); the text is literal, so this
/// split knows no escapes.
fn character(text: &str, notes: Vec<String>) -> ElementKind {
    let text = text.trim();
    let (name, extensions) = match text.find('(') {
        Some(open) => match groups(&text[open..]) {
            Some(extensions) => (text[..open].trim(), extensions),
            None => (text, Vec::new()),
        },
        None => (text, Vec::new()),
    };
    ElementKind::Character {
        name: name.to_owned(),
        extension: (!extensions.is_empty()).then(|| extensions.join(" ")),
        extensions,
        dual: false,
        dual_side: None,
        forced: false,
        notes,
    }
}

fn groups(mut rest: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(out);
        }
        let inner = rest.strip_prefix('(')?;
        let close = inner.find(')')?;
        out.push(inner[..close].trim().to_owned());
        rest = &inner[close + 1..];
    }
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name(name))
}

fn span_of(doc: &Document<'_>, node: Node<'_, '_>) -> Span {
    let pos = doc.text_pos_at(node.range().start);
    Span {
        line: pos.row as usize,
        column: pos.col as usize,
    }
}

/// The paragraph's `<Text>` runs: the concatenated text and, when any run is styled, the runs.
fn runs(paragraph: Node<'_, '_>) -> (String, Option<Vec<TextRun>>) {
    let mut text = String::new();
    let mut out: Vec<TextRun> = Vec::new();
    for node in paragraph.children().filter(|n| n.has_tag_name("Text")) {
        let style = node.attribute("Style").unwrap_or_default();
        let has = |name: &str| {
            style
                .split('+')
                .any(|s| s.trim().eq_ignore_ascii_case(name))
        };
        let mut run_text: String = node
            .descendants()
            .filter(Node::is_text)
            .filter_map(|n| n.text())
            .collect();
        if has("AllCaps") {
            run_text = run_text.to_uppercase();
        }
        if run_text.is_empty() {
            continue;
        }
        text.push_str(&run_text);
        let run = TextRun {
            text: run_text,
            bold: has("Bold"),
            italic: has("Italic"),
            underline: has("Underline"),
        };
        match out.last_mut() {
            Some(last)
                if (last.bold, last.italic, last.underline)
                    == (run.bold, run.italic, run.underline) =>
            {
                last.text.push_str(&run.text);
            }
            _ => out.push(run),
        }
    }
    let styled = out.iter().any(|r| r.bold || r.italic || r.underline);
    (text, styled.then_some(out))
}

fn paragraph_notes(paragraph: Node<'_, '_>) -> Vec<String> {
    paragraph
        .descendants()
        .filter(|n| n.has_tag_name("ScriptNote"))
        .map(note_text)
        .filter(|t| !t.is_empty())
        .collect()
}

/// A script note's paragraphs, one line each.
fn note_text(note: Node<'_, '_>) -> String {
    let paragraphs: Vec<String> = note
        .descendants()
        .filter(|n| n.has_tag_name("Paragraph"))
        .map(|p| runs(p).0.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    if paragraphs.is_empty() {
        let direct: String = note
            .descendants()
            .filter(Node::is_text)
            .filter_map(|n| n.text())
            .collect();
        return direct.trim().to_owned();
    }
    paragraphs.join("\n")
}

struct TitleLine {
    text: String,
    spans: Option<Vec<TextRun>>,
    centered: bool,
    span: Span,
}

/// Maps Final Draft's free-form title page onto Fountain keys: the first centred lines are the
/// Title, a "Written by"-style line the Credit, the centred lines after it the Author, "Based
/// on"/"Story by" lines the Source, other centred lines Notes; left or right-aligned lines that
/// mention a draft or look like a date are the Draft date and the rest the Contact block.
fn title_page(doc: &Document<'_>, content: Node<'_, '_>) -> Vec<TitleEntry> {
    // `None` marks an empty paragraph: a gap between blocks.
    let lines: Vec<Option<TitleLine>> = content
        .children()
        .filter(|n| n.has_tag_name("Paragraph"))
        .map(|p| {
            let (text, spans) = runs(p);
            let trimmed = text.trim();
            (!trimmed.is_empty()).then(|| TitleLine {
                spans: if trimmed.len() == text.len() {
                    spans
                } else {
                    None
                },
                text: trimmed.to_owned(),
                centered: p.attribute("Alignment") == Some("Center"),
                span: span_of(doc, p),
            })
        })
        .collect();

    #[derive(Clone, Copy, PartialEq)]
    enum State {
        /// Before or inside the title block.
        Title,
        /// A gap after the title: the next centred block is the author.
        AfterTitle,
        /// Just read a "Written by" credit; gaps do not change that.
        AfterCredit,
        Author,
        AfterAuthor,
    }
    let mut state = State::Title;
    let mut fields: Vec<(&str, Vec<&TitleLine>)> = [
        "Title",
        "Credit",
        "Author",
        "Source",
        "Draft date",
        "Contact",
        "Notes",
    ]
    .into_iter()
    .map(|key| (key, Vec::new()))
    .collect();
    for line in &lines {
        let Some(line) = line else {
            let has_title = fields.first().is_some_and(|(_, values)| !values.is_empty());
            state = match state {
                State::Title if has_title => State::AfterTitle,
                State::Author => State::AfterAuthor,
                other => other,
            };
            continue;
        };
        let lower = line.text.to_lowercase();
        let key = if !line.centered {
            let date_like = lower.contains("draft")
                || (line.text.chars().any(|c| c.is_ascii_digit())
                    && (line.text.contains('/') || MONTHS.iter().any(|m| lower.contains(m))));
            if date_like { "Draft date" } else { "Contact" }
        } else if is_credit(&lower) {
            state = State::AfterCredit;
            "Credit"
        } else if SOURCE_PREFIXES.iter().any(|p| lower.starts_with(p)) {
            "Source"
        } else {
            match state {
                State::Title => "Title",
                State::AfterTitle | State::AfterCredit | State::Author => {
                    state = State::Author;
                    "Author"
                }
                State::AfterAuthor => "Notes",
            }
        };
        if let Some((_, values)) = fields.iter_mut().find(|(k, _)| *k == key) {
            values.push(line);
        }
    }
    fields
        .into_iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(key, values)| {
            let mut value = String::new();
            let mut spans: Vec<TextRun> = Vec::new();
            let mut styled = false;
            for (index, line) in values.iter().enumerate() {
                if index > 0 {
                    value.push('\n');
                    spans.push(TextRun {
                        text: "\n".into(),
                        ..TextRun::default()
                    });
                }
                value.push_str(&line.text);
                match &line.spans {
                    Some(runs) => {
                        styled = true;
                        spans.extend(runs.iter().cloned());
                    }
                    None => spans.push(TextRun {
                        text: line.text.clone(),
                        ..TextRun::default()
                    }),
                }
            }
            TitleEntry {
                key: key.to_owned(),
                value,
                spans: styled.then_some(spans),
                span: values.first().map(|l| l.span).unwrap_or_default(),
            }
        })
        .collect()
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

const SOURCE_PREFIXES: [&str; 5] = [
    "based on",
    "story by",
    "adapted from",
    "inspired by",
    "from the",
];

fn is_credit(lower: &str) -> bool {
    let lower = lower.trim();
    lower == "by" || lower.ends_with(" by") && !SOURCE_PREFIXES.iter().any(|p| lower.starts_with(p))
}

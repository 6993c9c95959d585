//! Conversion between the screenplay AST and the project document's script.
//!
//! [`to_script`] groups the flat element list into scenes and speeches and gives every scene
//! and speech a fresh id (a revision re-flow then carries old ids over, see
//! `previz_core::revision`). [`to_screenplay`] flattens a script back for the Fountain writer.
//! The pair is lossless for everything the parsers produce: text, emphasis, inline notes,
//! forcing marks, scene numbers, dual dialogue, title page.

use previz_core::{
    DialogueBlock, DialoguePart, DualSide as CoreDualSide, Extra, LineId, RichText, Scene,
    SceneHeading, Script, ScriptElement, StyledSpan, TitleField,
};

use crate::{DualSide, Element, ElementKind, Screenplay, Span, TextRun, TitleEntry};

fn rich(text: &str, spans: Option<&Vec<TextRun>>, notes: &[String]) -> RichText {
    RichText {
        text: text.to_owned(),
        spans: spans
            .map(|runs| {
                runs.iter()
                    .map(|r| StyledSpan {
                        text: r.text.clone(),
                        bold: r.bold,
                        italic: r.italic,
                        underline: r.underline,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        notes: notes.to_vec(),
    }
}

fn runs(spans: &[StyledSpan]) -> Option<Vec<TextRun>> {
    (!spans.is_empty()).then(|| {
        spans
            .iter()
            .map(|s| TextRun {
                text: s.text.clone(),
                bold: s.bold,
                italic: s.italic,
                underline: s.underline,
            })
            .collect()
    })
}

/// Where elements go while grouping: the front matter, then each scene in turn.
struct Builder {
    script: Script,
    body: Vec<ScriptElement>,
    scene: Option<Scene>,
}

impl Builder {
    fn push(&mut self, element: ScriptElement) {
        self.body.push(element);
    }

    /// The speech being built, if the last element is one and can take another part.
    fn open_block(&mut self) -> Option<&mut DialogueBlock> {
        match self.body.last_mut() {
            Some(ScriptElement::Dialogue(block)) => Some(block),
            _ => None,
        }
    }

    fn finish_section(&mut self) {
        let body = std::mem::take(&mut self.body);
        match self.scene.take() {
            Some(mut scene) => {
                scene.elements = body;
                self.script.scenes.push(scene);
            }
            None => self.script.front_matter = body,
        }
    }
}

/// Builds the document's script from a parsed screenplay (fresh ids, cast indexed).
#[must_use]
pub fn to_script(screenplay: &Screenplay) -> Script {
    let mut b = Builder {
        script: Script::default(),
        body: Vec::new(),
        scene: None,
    };
    b.script.title_page = screenplay
        .title_page
        .iter()
        .map(|e| TitleField {
            key: e.key.clone(),
            value: e.value.clone(),
            spans: rich(&e.value, e.spans.as_ref(), &[]).spans,
        })
        .collect();
    for element in &screenplay.elements {
        let kind = &element.kind;
        // A speech stays open until any other element comes.
        if let Some(block) = b.open_block() {
            let after_lyrics = matches!(block.parts.last(), Some(DialoguePart::Lyrics(_)));
            if let Some(part) = as_part(kind, after_lyrics) {
                block.parts.push(part);
                continue;
            }
        }
        match kind {
            ElementKind::SceneHeading {
                text,
                scene_number,
                forced,
                spans,
                notes,
            } => {
                b.finish_section();
                let mut heading = SceneHeading::parse(text, *forced);
                heading.spans = rich(text, spans.as_ref(), &[]).spans;
                heading.notes.clone_from(notes);
                let mut scene = Scene::new(heading);
                scene.number.clone_from(scene_number);
                b.scene = Some(scene);
            }
            ElementKind::Character {
                name,
                extensions,
                dual_side,
                forced,
                notes,
                ..
            } => {
                b.push(ScriptElement::Dialogue(DialogueBlock {
                    id: LineId::new(),
                    character: None,
                    cue: name.clone(),
                    extensions: extensions.clone(),
                    forced: *forced,
                    dual: dual_side.map(|side| match side {
                        DualSide::Left => CoreDualSide::Left,
                        DualSide::Right => CoreDualSide::Right,
                    }),
                    notes: notes.clone(),
                    parts: Vec::new(),
                    extra: Extra::new(),
                }));
            }
            // Parts with no speech to join (an FDX file may have them): kept as action so no
            // words are lost.
            ElementKind::Parenthetical { text, spans, notes }
            | ElementKind::Dialogue { text, spans, notes } => {
                b.push(ScriptElement::Action {
                    text: rich(text, spans.as_ref(), notes),
                    forced: true,
                });
            }
            ElementKind::Lyrics { text, spans, notes } => b.push(ScriptElement::Lyrics {
                text: rich(text, spans.as_ref(), notes),
            }),
            ElementKind::Action {
                text,
                forced,
                spans,
                notes,
            } => b.push(ScriptElement::Action {
                text: rich(text, spans.as_ref(), notes),
                forced: *forced,
            }),
            ElementKind::Transition {
                text,
                forced,
                spans,
                notes,
            } => b.push(ScriptElement::Transition {
                text: rich(text, spans.as_ref(), notes),
                forced: *forced,
            }),
            ElementKind::Centered { text, spans, notes } => b.push(ScriptElement::Centered {
                text: rich(text, spans.as_ref(), notes),
            }),
            ElementKind::Section {
                text,
                depth,
                spans,
                notes,
            } => b.push(ScriptElement::Section {
                text: rich(text, spans.as_ref(), notes),
                depth: u8::try_from(*depth).unwrap_or(u8::MAX),
            }),
            ElementKind::Synopsis { text, spans, notes } => b.push(ScriptElement::Synopsis {
                text: rich(text, spans.as_ref(), notes),
            }),
            ElementKind::Note { text } => b.push(ScriptElement::Note { text: text.clone() }),
            ElementKind::PageBreak => b.push(ScriptElement::PageBreak),
        }
    }
    b.finish_section();
    let mut script = b.script;
    script.index_cast();
    script
}

/// The element as a part of the open speech, if it can be one: parentheticals and dialogue
/// always; a lyric unless the speech already ends with one (two lyric runs in one speech would
/// read back as one).
fn as_part(kind: &ElementKind, after_lyrics: bool) -> Option<DialoguePart> {
    match kind {
        ElementKind::Parenthetical { text, spans, notes } => Some(DialoguePart::Parenthetical(
            rich(text, spans.as_ref(), notes),
        )),
        ElementKind::Dialogue { text, spans, notes } => {
            Some(DialoguePart::Line(rich(text, spans.as_ref(), notes)))
        }
        ElementKind::Lyrics { text, spans, notes } if !after_lyrics => {
            Some(DialoguePart::Lyrics(rich(text, spans.as_ref(), notes)))
        }
        _ => None,
    }
}

fn element(kind: ElementKind) -> Element {
    Element::new(kind, Span::default())
}

fn push_elements(out: &mut Vec<Element>, elements: &[ScriptElement]) {
    for e in elements {
        match e {
            ScriptElement::Action { text, forced } => out.push(element(ElementKind::Action {
                text: text.text.clone(),
                forced: *forced,
                spans: runs(&text.spans),
                notes: text.notes.clone(),
            })),
            ScriptElement::Dialogue(block) => {
                let extension = (!block.extensions.is_empty()).then(|| block.extensions.join(" "));
                out.push(element(ElementKind::Character {
                    name: block.cue.clone(),
                    extension,
                    extensions: block.extensions.clone(),
                    dual: block.dual.is_some(),
                    dual_side: block.dual.map(|side| match side {
                        CoreDualSide::Left => DualSide::Left,
                        CoreDualSide::Right => DualSide::Right,
                    }),
                    forced: block.forced,
                    notes: block.notes.clone(),
                }));
                for part in &block.parts {
                    out.push(element(match part {
                        DialoguePart::Parenthetical(t) => ElementKind::Parenthetical {
                            text: t.text.clone(),
                            spans: runs(&t.spans),
                            notes: t.notes.clone(),
                        },
                        DialoguePart::Line(t) => ElementKind::Dialogue {
                            text: t.text.clone(),
                            spans: runs(&t.spans),
                            notes: t.notes.clone(),
                        },
                        DialoguePart::Lyrics(t) => ElementKind::Lyrics {
                            text: t.text.clone(),
                            spans: runs(&t.spans),
                            notes: t.notes.clone(),
                        },
                    }));
                }
            }
            ScriptElement::Transition { text, forced } => {
                out.push(element(ElementKind::Transition {
                    text: text.text.clone(),
                    forced: *forced,
                    spans: runs(&text.spans),
                    notes: text.notes.clone(),
                }));
            }
            ScriptElement::Centered { text } => out.push(element(ElementKind::Centered {
                text: text.text.clone(),
                spans: runs(&text.spans),
                notes: text.notes.clone(),
            })),
            ScriptElement::Lyrics { text } => out.push(element(ElementKind::Lyrics {
                text: text.text.clone(),
                spans: runs(&text.spans),
                notes: text.notes.clone(),
            })),
            ScriptElement::Section { text, depth } => out.push(element(ElementKind::Section {
                text: text.text.clone(),
                depth: usize::from(*depth),
                spans: runs(&text.spans),
                notes: text.notes.clone(),
            })),
            ScriptElement::Synopsis { text } => out.push(element(ElementKind::Synopsis {
                text: text.text.clone(),
                spans: runs(&text.spans),
                notes: text.notes.clone(),
            })),
            ScriptElement::Note { text } => {
                out.push(element(ElementKind::Note { text: text.clone() }));
            }
            ScriptElement::PageBreak => out.push(element(ElementKind::PageBreak)),
        }
    }
}

/// Flattens a script for the Fountain writer. Omitted scenes are left out, or written as an
/// `OMITTED` heading keeping their number (as production drafts print them).
#[must_use]
pub fn to_screenplay(script: &Script, include_omitted: bool) -> Screenplay {
    let mut elements = Vec::new();
    push_elements(&mut elements, &script.front_matter);
    for scene in &script.scenes {
        if scene.omitted {
            if include_omitted {
                elements.push(element(ElementKind::SceneHeading {
                    text: "OMITTED".to_owned(),
                    scene_number: scene.number.clone(),
                    forced: true,
                    spans: None,
                    notes: vec![format!("was: {}", scene.heading.text)],
                }));
            }
            continue;
        }
        elements.push(element(ElementKind::SceneHeading {
            text: scene.heading.text.clone(),
            scene_number: scene.number.clone(),
            forced: scene.heading.forced,
            spans: runs(&scene.heading.spans),
            notes: scene.heading.notes.clone(),
        }));
        push_elements(&mut elements, &scene.elements);
    }
    Screenplay {
        title_page: script
            .title_page
            .iter()
            .map(|f| TitleEntry {
                key: f.key.clone(),
                value: f.value.clone(),
                spans: runs(&f.spans),
                span: Span::default(),
            })
            .collect(),
        elements,
    }
}

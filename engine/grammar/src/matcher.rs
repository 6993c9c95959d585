//! The byte-level pushdown automaton and the trie walk that turns it into a token mask.

use std::sync::Arc;

use crate::schema::{Grammar, Node, NodeId, NumSpec};
use crate::vocab::{TokenSet, Vocab};

/// Why a token or byte string was refused. The matcher is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The id is not in the vocabulary.
    #[error("token {id} is not in the vocabulary")]
    UnknownToken {
        /// The id.
        id: u32,
    },
    /// A special (or empty) token: never allowed.
    #[error("token {id} is a special or empty token, never allowed")]
    NeverAllowed {
        /// The id.
        id: u32,
    },
    /// EOS while the document is not complete.
    #[error("end of sequence before the document is complete")]
    EosTooEarly,
    /// A token whose bytes leave the grammar.
    #[error("token {id} leaves the grammar at its byte {offset}")]
    TokenRejected {
        /// The id.
        id: u32,
        /// Index of the first refused byte within the token.
        offset: usize,
    },
    /// Forced bytes that leave the grammar.
    #[error("byte {offset} ({byte:#04x}) leaves the grammar")]
    BytesRejected {
        /// Index of the first refused byte.
        offset: usize,
        /// That byte.
        byte: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrPhase {
    /// Expects `[`.
    Open,
    /// After `[`: the first item or (if `minItems` is 0) `]`.
    First,
    /// After an item: `,` (below `maxItems`) or `]` (from `minItems`).
    AfterItem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrPhase {
    /// Expects the opening `"`.
    Open,
    /// Between characters.
    Content,
    /// After `\`.
    Escape,
    /// Inside a multi-byte UTF-8 character: `need` more continuation bytes, the next in
    /// `lo..=hi` (narrower than `0x80..=0xBF` right after some lead bytes: that is how
    /// overlong forms, surrogates and code points above U+10FFFF are excluded).
    Utf8 { need: u8, lo: u8, hi: u8 },
}

/// One level of the automaton's stack: a value being emitted, with its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// In segment `seg` of an object, `pos` bytes into it.
    Obj { node: NodeId, seg: u32, pos: u32 },
    /// An array with `count` items started.
    Arr {
        node: NodeId,
        count: u32,
        phase: ArrPhase,
    },
    /// A string with `chars` characters started.
    Str {
        node: NodeId,
        chars: u32,
        phase: StrPhase,
    },
    /// `pos` bytes into one of the literal options `lo..hi` (all share those bytes).
    Lit {
        node: NodeId,
        pos: u32,
        lo: u32,
        hi: u32,
    },
    /// A number: sign, `int_digits` integer digits, maybe a `.` and `frac_digits` fraction
    /// digits; `mant` is all its digits as one integer.
    Num {
        node: NodeId,
        neg: bool,
        dot: bool,
        int_digits: u8,
        frac_digits: u8,
        mant: i64,
    },
}

/// What feeding one byte to the top frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fed {
    /// Consumed; the frame stays on top.
    Keep,
    /// Consumed; the frame is complete and pops (its parent already expects what follows).
    Done,
    /// Consumed; the value `node` starts next (the frame already expects what follows it).
    Push(NodeId),
    /// Not consumed: the value `node` starts with this byte.
    Refeed(NodeId),
    /// Not consumed: the frame is complete (a number or a literal that could go on) and the
    /// byte belongs to its parent.
    PassUp,
    /// Not allowed here.
    Reject,
}

fn initial(g: &Grammar, node: NodeId) -> Frame {
    match g.node(node) {
        Node::Object { .. } => Frame::Obj {
            node,
            seg: 0,
            pos: 0,
        },
        Node::Array { .. } => Frame::Arr {
            node,
            count: 0,
            phase: ArrPhase::Open,
        },
        Node::String { .. } => Frame::Str {
            node,
            chars: 0,
            phase: StrPhase::Open,
        },
        Node::Literal { options } => Frame::Lit {
            node,
            pos: 0,
            lo: 0,
            hi: options.len() as u32,
        },
        Node::Number(_) => Frame::Num {
            node,
            neg: false,
            dot: false,
            int_digits: 0,
            frac_digits: 0,
            mant: 0,
        },
    }
}

/// Whether a frame could end here (only numbers and literals wait for the next byte to know).
fn can_end(g: &Grammar, f: &Frame) -> bool {
    match *f {
        Frame::Lit { node, pos, lo, .. } => match g.node(node) {
            Node::Literal { options } => pos > 0 && options[lo as usize].len() == pos as usize,
            _ => false,
        },
        Frame::Num {
            node,
            neg,
            dot,
            int_digits,
            frac_digits,
            mant,
        } => match g.node(node) {
            Node::Number(spec) => {
                if int_digits == 0 || (dot && frac_digits == 0) {
                    return false;
                }
                let digits = if dot { u32::from(frac_digits) } else { 0 };
                let mag = i128::from(mant) * 10i128.pow(spec.frac - digits);
                if neg {
                    mag != 0 && (i128::from(spec.min)..=i128::from(spec.max)).contains(&-mag)
                } else {
                    (i128::from(spec.min)..=i128::from(spec.max)).contains(&mag)
                }
            }
            _ => false,
        },
        _ => false,
    }
}

/// Whether a number prefix can still be completed into the range: some decimal text starting
/// with it (no leading zeros, at most `spec.frac` fraction digits, not `-0`) is in range.
fn num_viable(
    spec: &NumSpec,
    neg: bool,
    dot: bool,
    int_digits: u8,
    frac_digits: u8,
    mant: i64,
) -> bool {
    let (min, max) = (i128::from(spec.min), i128::from(spec.max));
    if int_digits == 0 {
        // Only `-` so far: any negative value at least one unit from zero.
        return neg && min <= -1;
    }
    // Whether some magnitude in `lo..=hi` (scaled units) is in range with the sign.
    let hits = |lo: i128, hi: i128| {
        if neg {
            let lo = lo.max(1);
            lo <= hi && -hi <= max && -lo >= min
        } else {
            lo <= hi && lo <= max && hi >= min
        }
    };
    let mant = i128::from(mant);
    if dot {
        let unit = 10i128.pow(spec.frac - u32::from(frac_digits));
        let lo = mant * unit;
        return hits(lo, lo + unit - 1);
    }
    let scale = 10i128.pow(spec.frac);
    let max_mag = min.abs().max(max.abs());
    // Append k more integer digits (any), then any fraction.
    let mut p = 1i128;
    loop {
        let lo = mant * p * scale;
        if lo > max_mag {
            return false;
        }
        if hits(lo, (mant * p + p - 1) * scale + scale - 1) {
            return true;
        }
        if mant == 0 {
            return false; // `0` takes no more integer digits
        }
        p *= 10;
    }
}

#[inline]
fn feed(g: &Grammar, f: &mut Frame, b: u8) -> Fed {
    match f {
        Frame::Str { node, chars, phase } => {
            let Node::String { min, max } = *g.node(*node) else {
                unreachable!("string frame on a non-string node")
            };
            match *phase {
                StrPhase::Content => {
                    let (need, lo, hi) = match b {
                        b'"' => {
                            return if *chars >= min {
                                Fed::Done
                            } else {
                                Fed::Reject
                            };
                        }
                        0x00..=0x1F => return Fed::Reject,
                        b'\\' => {
                            if *chars >= max {
                                return Fed::Reject;
                            }
                            *chars += 1;
                            *phase = StrPhase::Escape;
                            return Fed::Keep;
                        }
                        0x20..=0x7F => (0, 0, 0),
                        0xC2..=0xDF => (1, 0x80, 0xBF),
                        0xE0 => (2, 0xA0, 0xBF),
                        0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
                        0xED => (2, 0x80, 0x9F),
                        0xF0 => (3, 0x90, 0xBF),
                        0xF1..=0xF3 => (3, 0x80, 0xBF),
                        0xF4 => (3, 0x80, 0x8F),
                        _ => return Fed::Reject,
                    };
                    if *chars >= max {
                        return Fed::Reject;
                    }
                    *chars += 1;
                    if need > 0 {
                        *phase = StrPhase::Utf8 { need, lo, hi };
                    }
                    Fed::Keep
                }
                StrPhase::Utf8 { need, lo, hi } => {
                    if !(lo..=hi).contains(&b) {
                        return Fed::Reject;
                    }
                    *phase = if need == 1 {
                        StrPhase::Content
                    } else {
                        StrPhase::Utf8 {
                            need: need - 1,
                            lo: 0x80,
                            hi: 0xBF,
                        }
                    };
                    Fed::Keep
                }
                StrPhase::Escape => {
                    if matches!(b, b'"' | b'\\' | b'n' | b'/') {
                        *phase = StrPhase::Content;
                        Fed::Keep
                    } else {
                        Fed::Reject
                    }
                }
                StrPhase::Open => {
                    if b == b'"' {
                        *phase = StrPhase::Content;
                        Fed::Keep
                    } else {
                        Fed::Reject
                    }
                }
            }
        }
        Frame::Obj { node, seg, pos } => {
            let Node::Object { segs, values } = g.node(*node) else {
                unreachable!("object frame on a non-object node")
            };
            let text = &segs[*seg as usize];
            if text[*pos as usize] != b {
                return Fed::Reject;
            }
            *pos += 1;
            if (*pos as usize) < text.len() {
                return Fed::Keep;
            }
            match values.get(*seg as usize) {
                None => Fed::Done,
                Some(&value) => {
                    *seg += 1;
                    *pos = 0;
                    Fed::Push(value)
                }
            }
        }
        Frame::Arr { node, count, phase } => {
            let Node::Array { item, min, max } = *g.node(*node) else {
                unreachable!("array frame on a non-array node")
            };
            match (*phase, b) {
                (ArrPhase::Open, b'[') => {
                    *phase = ArrPhase::First;
                    Fed::Keep
                }
                (ArrPhase::First, b']') if min == 0 => Fed::Done,
                (ArrPhase::First, _) if max > 0 => {
                    *count = 1;
                    *phase = ArrPhase::AfterItem;
                    Fed::Refeed(item)
                }
                (ArrPhase::AfterItem, b',') if *count < max => {
                    *count += 1;
                    Fed::Push(item)
                }
                (ArrPhase::AfterItem, b']') if *count >= min => Fed::Done,
                _ => Fed::Reject,
            }
        }
        Frame::Lit { node, pos, lo, hi } => {
            let Node::Literal { options } = g.node(*node) else {
                unreachable!("literal frame on a non-literal node")
            };
            let p = *pos as usize;
            let range = &options[*lo as usize..*hi as usize];
            // Options sharing `p` bytes are sorted, so those with byte `b` next are contiguous.
            let first = range.iter().position(|o| o.get(p) == Some(&b));
            let Some(first) = first else {
                return if options[*lo as usize].len() == p && p > 0 {
                    Fed::PassUp
                } else {
                    Fed::Reject
                };
            };
            let n = range[first..]
                .iter()
                .take_while(|o| o.get(p) == Some(&b))
                .count();
            *lo += first as u32;
            *hi = *lo + n as u32;
            *pos += 1;
            if n == 1 && options[*lo as usize].len() == p + 1 {
                Fed::Done
            } else {
                Fed::Keep
            }
        }
        Frame::Num {
            node,
            neg,
            dot,
            int_digits,
            frac_digits,
            mant,
        } => {
            let Node::Number(spec) = g.node(*node) else {
                unreachable!("number frame on a non-number node")
            };
            let (mut n, mut d, mut id, mut fd, mut m) =
                (*neg, *dot, *int_digits, *frac_digits, *mant);
            let ok = match b {
                b'-' if id == 0 && !n => {
                    n = true;
                    true
                }
                b'.' if spec.frac > 0 && id > 0 && !d => {
                    d = true;
                    true
                }
                b'0'..=b'9' => {
                    let digit = i64::from(b - b'0');
                    let more = if d {
                        u32::from(fd) < spec.frac
                    } else {
                        !(id == 1 && m == 0) && id < 19
                    };
                    match m.checked_mul(10).and_then(|x| x.checked_add(digit)) {
                        Some(next) if more => {
                            m = next;
                            if d {
                                fd += 1;
                            } else {
                                id += 1;
                            }
                            true
                        }
                        _ => false,
                    }
                }
                _ => false,
            };
            if ok && num_viable(spec, n, d, id, fd, m) {
                (*neg, *dot, *int_digits, *frac_digits, *mant) = (n, d, id, fd, m);
                Fed::Keep
            } else if can_end(g, f) {
                Fed::PassUp
            } else {
                Fed::Reject
            }
        }
    }
}

/// Feeds one byte to the whole stack. On `false` the stack is garbage (callers work on copies).
fn step(g: &Grammar, stack: &mut Vec<Frame>, b: u8) -> bool {
    loop {
        let Some(top) = stack.last_mut() else {
            return false;
        };
        match feed(g, top, b) {
            Fed::Keep => return true,
            Fed::Done => {
                stack.pop();
                return true;
            }
            Fed::Push(node) => {
                stack.push(initial(g, node));
                return true;
            }
            Fed::Refeed(node) => stack.push(initial(g, node)),
            Fed::PassUp => {
                stack.pop();
            }
            Fed::Reject => return false,
        }
    }
}

fn stack_complete(g: &Grammar, stack: &[Frame]) -> bool {
    match stack {
        [] => true,
        [only] => can_end(g, only),
        _ => false,
    }
}

/// Tracks one document being generated and says which tokens may come next.
///
/// Cheap to clone (two `Arc`s and a stack as deep as the schema), so a caller can snapshot it.
#[derive(Debug, Clone)]
pub struct Matcher {
    grammar: Arc<Grammar>,
    vocab: Arc<Vocab>,
    stack: Vec<Frame>,
    bytes: usize,
}

impl PartialEq for Matcher {
    /// Same grammar and vocabulary (the same `Arc`s) and the same state.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.grammar, &other.grammar)
            && Arc::ptr_eq(&self.vocab, &other.vocab)
            && self.stack == other.stack
            && self.bytes == other.bytes
    }
}

impl Matcher {
    /// A matcher at the start of a document.
    pub fn new(grammar: Arc<Grammar>, vocab: Arc<Vocab>) -> Self {
        let stack = vec![initial(&grammar, grammar.root)];
        Matcher {
            grammar,
            vocab,
            stack,
            bytes: 0,
        }
    }

    /// Back to the start of a document.
    pub fn reset(&mut self) {
        self.stack.clear();
        self.stack.push(initial(&self.grammar, self.grammar.root));
        self.bytes = 0;
    }

    /// The grammar.
    pub fn grammar(&self) -> &Arc<Grammar> {
        &self.grammar
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Arc<Vocab> {
        &self.vocab
    }

    /// Bytes accepted so far (never more than [`Grammar::max_len_bytes`]).
    pub fn bytes_accepted(&self) -> usize {
        self.bytes
    }

    /// Whether the text so far is a complete document, i.e. whether EOS is allowed. For a root
    /// that is an object, array, string or enum of strings (self-delimiting values), nothing
    /// but EOS is allowed then.
    pub fn is_complete(&self) -> bool {
        stack_complete(&self.grammar, &self.stack)
    }

    /// Fills `out` with exactly the tokens whose bytes keep the text a prefix of some valid
    /// document (special tokens never; EOS iff [`Self::is_complete`]). Until the document is
    /// complete, `out` is never empty as long as the vocabulary has every single byte that
    /// can follow — all byte-level BPE vocabularies do.
    ///
    /// `out` is resized to the vocabulary if needed.
    pub fn fill_allowed(&self, out: &mut TokenSet) {
        if out.capacity() == self.vocab.len() {
            out.clear();
        } else {
            out.reset(self.vocab.len());
        }
        if let Some(&top) = self.stack.last() {
            // Inside a string, plain tokens are decided by their length alone.
            let mut skip_plain = false;
            if let Frame::Str {
                node,
                chars,
                phase: StrPhase::Content,
            } = top
                && let Node::String { max, .. } = *self.grammar.node(node)
            {
                let plain = &self.vocab.plain_upto;
                let left = (max - chars) as usize;
                out.union_with(&plain[left.min(plain.len() - 1)]);
                skip_plain = true;
            }
            let mut scratch = Vec::new();
            self.walk(0, &self.stack, top, skip_plain, &mut scratch, 0, out);
        }
        if self.is_complete() {
            out.insert(self.vocab.eos());
        }
    }

    /// Walks the trie below `node`. The automaton's state is `base` with its top frame
    /// replaced by `top`: as long as bytes only change the top frame (string content, a key,
    /// digits...), nothing but that small `Copy` frame is copied per trie node. With
    /// `skip_plain`, subtrees holding only plain tokens are skipped (already decided).
    #[allow(clippy::too_many_arguments, reason = "one recursive walk's context")]
    fn walk(
        &self,
        node: u32,
        base: &[Frame],
        top: Frame,
        skip_plain: bool,
        scratch: &mut Vec<Vec<Frame>>,
        depth: usize,
        out: &mut TokenSet,
    ) {
        let trie = &self.vocab.trie;
        let g = &*self.grammar;
        for &(b, child) in trie.edges(node) {
            if skip_plain && !trie.impure[child as usize] {
                continue;
            }
            let mut f = top;
            match feed(g, &mut f, b) {
                Fed::Reject => {}
                Fed::Keep => {
                    for &id in trie.ids(child) {
                        out.insert(id);
                    }
                    if !trie.edges(child).is_empty() {
                        self.walk(child, base, f, skip_plain, scratch, depth + 1, out);
                    }
                }
                _ => {
                    // The stack changes shape: step a full copy (one buffer per depth, reused).
                    if scratch.len() <= depth {
                        scratch.resize_with(depth + 1, Vec::new);
                    }
                    let mut s = std::mem::take(&mut scratch[depth]);
                    s.clear();
                    s.extend_from_slice(&base[..base.len() - 1]);
                    s.push(top);
                    if step(g, &mut s, b) {
                        for &id in trie.ids(child) {
                            out.insert(id);
                        }
                        if let Some(&t) = s.last()
                            && !trie.edges(child).is_empty()
                        {
                            self.walk(child, &s, t, skip_plain, scratch, depth + 1, out);
                        }
                    }
                    scratch[depth] = s;
                }
            }
        }
    }

    /// Accepts token `id`: all its bytes, or nothing (on error the matcher is unchanged).
    /// EOS is accepted iff the document is complete; afterwards only EOS is allowed.
    ///
    /// # Errors
    /// [`ConstraintError`] if `id` is not in the set [`Self::fill_allowed`] gives.
    pub fn accept_token(&mut self, id: u32) -> Result<(), ConstraintError> {
        if id == self.vocab.eos() {
            if !self.is_complete() {
                return Err(ConstraintError::EosTooEarly);
            }
            self.stack.clear();
            return Ok(());
        }
        let vocab = Arc::clone(&self.vocab);
        let bytes = vocab
            .token_bytes(id)
            .ok_or(ConstraintError::UnknownToken { id })?;
        if bytes.is_empty() || vocab.is_special(id) {
            return Err(ConstraintError::NeverAllowed { id });
        }
        self.try_bytes(bytes)
            .map_err(|offset| ConstraintError::TokenRejected { id, offset })
    }

    /// Accepts raw bytes (text the caller forces, e.g. [`Self::forced_bytes`]): all of them, or
    /// nothing.
    ///
    /// # Errors
    /// [`ConstraintError::BytesRejected`] at the first byte that leaves the grammar.
    pub fn accept_bytes(&mut self, bytes: &[u8]) -> Result<(), ConstraintError> {
        self.try_bytes(bytes)
            .map_err(|offset| ConstraintError::BytesRejected {
                offset,
                byte: bytes[offset],
            })
    }

    fn try_bytes(&mut self, bytes: &[u8]) -> Result<(), usize> {
        let mut s = self.stack.clone();
        for (i, &b) in bytes.iter().enumerate() {
            if !step(&self.grammar, &mut s, b) {
                return Err(i);
            }
        }
        self.stack = s;
        self.bytes += bytes.len();
        Ok(())
    }

    /// Whether `b` may come next.
    pub fn allows_byte(&self, b: u8) -> bool {
        let mut s = self.stack.clone();
        step(&self.grammar, &mut s, b)
    }

    /// The bytes that are the only possible continuation from here (e.g. `,"angle":"` after a
    /// shot's size): the caller may feed them at once (tokenized its own way, or with
    /// [`Self::accept_bytes`]) instead of sampling them token by token. Empty when several
    /// bytes are possible or the document is complete.
    pub fn forced_bytes(&self) -> Vec<u8> {
        let g = &*self.grammar;
        let mut out = Vec::new();
        let mut s = self.stack.clone();
        let mut t = Vec::new();
        let mut next = Vec::new();
        while !stack_complete(g, &s) {
            let mut only = None;
            let top = *s.last().expect("an incomplete document has an open value");
            for b in 0..=255u8 {
                // Most bytes are refused by the top frame alone: skip the full step for them.
                let mut f = top;
                if feed(g, &mut f, b) == Fed::Reject {
                    continue;
                }
                t.clone_from(&s);
                if step(g, &mut t, b) {
                    if only.is_some() {
                        only = None;
                        break;
                    }
                    only = Some(b);
                    next.clone_from(&t);
                }
            }
            let Some(b) = only else { break };
            out.push(b);
            std::mem::swap(&mut s, &mut next);
        }
        out
    }
}

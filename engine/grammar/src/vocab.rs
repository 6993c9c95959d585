//! The tokenizer's vocabulary as a byte trie, and [`TokenSet`], a bitset over token ids.

/// A tokenizer's vocabulary: the bytes of every token id, arranged once in a byte trie that
/// [`crate::Matcher::fill_allowed`] walks.
///
/// Special tokens (and empty tokens) are not in the trie: they are never allowed, except the
/// EOS token, which is allowed exactly when the document is complete.
#[derive(Debug, Clone)]
pub struct Vocab {
    tokens: Vec<Vec<u8>>,
    special: TokenSet,
    eos: u32,
    pub(crate) trie: Trie,
    /// `plain_upto[k]`: the *plain* tokens (whole UTF-8 characters, none of them `"`, `\` or a
    /// control character) of at most `k` characters. Inside a string, such a token is allowed
    /// exactly when it fits in the characters left, whatever its bytes; the trie walk then
    /// only visits subtrees holding other tokens (see `Trie::impure`).
    pub(crate) plain_upto: Vec<TokenSet>,
}

impl Vocab {
    /// `tokens[id]` are the bytes token `id` decodes to (byte-level BPE: possibly a partial
    /// UTF-8 sequence). `special` ids (out-of-range ones are ignored) are never allowed; `eos`
    /// is allowed exactly when the document is complete.
    ///
    /// # Panics
    /// If `eos` is not a token id (`eos >= tokens.len()`).
    pub fn new(tokens: Vec<Vec<u8>>, special: impl IntoIterator<Item = u32>, eos: u32) -> Self {
        assert!(
            (eos as usize) < tokens.len(),
            "EOS id {eos} is not in a vocabulary of {} tokens",
            tokens.len()
        );
        let mut set = TokenSet::new(tokens.len());
        for id in special {
            if (id as usize) < tokens.len() {
                set.insert(id);
            }
        }
        set.insert(eos);
        let plain: Vec<Option<usize>> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| {
                if t.is_empty() || set.contains(id as u32) {
                    return None;
                }
                let s = std::str::from_utf8(t).ok()?;
                s.chars()
                    .all(|c| c != '"' && c != '\\' && c >= ' ')
                    .then(|| s.chars().count())
            })
            .collect();
        let longest = plain.iter().flatten().copied().max().unwrap_or(0);
        let mut plain_upto = vec![TokenSet::new(tokens.len()); longest + 1];
        for (id, chars) in plain.iter().enumerate() {
            if let Some(chars) = *chars {
                for set in &mut plain_upto[chars..] {
                    set.insert(id as u32);
                }
            }
        }
        let trie = Trie::build(&tokens, &set, &plain);
        Vocab {
            tokens,
            special: set,
            eos,
            trie,
            plain_upto,
        }
    }

    /// Number of token ids.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary has no tokens (never: EOS is one).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The end-of-sequence token id.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// The bytes of token `id`, if it is one.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).map(Vec::as_slice)
    }

    /// Whether `id` is special (never allowed, except EOS when complete). EOS counts as special.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.contains(id)
    }

    /// An empty [`TokenSet`] sized for this vocabulary.
    pub fn token_set(&self) -> TokenSet {
        TokenSet::new(self.tokens.len())
    }
}

/// The bytes a GPT-2-style *byte-level* BPE token string stands for (as in `tokenizer.json`'s
/// vocabulary or a GGUF's `tokenizer.ggml.tokens`: each byte is shown as one printable
/// character, e.g. `Ġ` for a space). `None` if a character is not in that byte alphabet.
///
/// ```
/// assert_eq!(previz_grammar::byte_level_token_bytes("Ġthe").unwrap(), b" the");
/// assert_eq!(previz_grammar::byte_level_token_bytes("âĤ").unwrap(), &"€".as_bytes()[..2]);
/// ```
pub fn byte_level_token_bytes(token: &str) -> Option<Vec<u8>> {
    token
        .chars()
        .map(|c| {
            let c = u32::from(c);
            match c {
                // Printable bytes stand for themselves.
                33..=126 | 161..=172 | 174..=255 => Some(c as u8),
                // The others (0..=32, 127..=160, 173) follow from U+0100, in byte order.
                256..=323 => {
                    let n = c - 256;
                    let b = (0u8..=255)
                        .filter(|b| !matches!(b, 33..=126 | 161..=172 | 174..=255))
                        .nth(n as usize)?;
                    Some(b)
                }
                _ => None,
            }
        })
        .collect()
}

/// A byte trie over the non-special tokens, flattened in depth-first order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trie {
    /// `nodes[0]` is the root (the empty prefix).
    pub(crate) nodes: Vec<TrieNode>,
    /// Outgoing edges of all nodes, each node's edges contiguous and sorted by byte.
    pub(crate) edges: Vec<(u8, u32)>,
    /// Token ids ending at each node, each node's ids contiguous.
    pub(crate) ids: Vec<u32>,
    /// The longest token in bytes (the walk's depth).
    pub(crate) max_depth: usize,
    /// Per node: whether its subtree holds a token that is not plain (see `Vocab::plain_upto`).
    pub(crate) impure: Vec<bool>,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TrieNode {
    pub(crate) edges_start: u32,
    pub(crate) edges_len: u32,
    pub(crate) ids_start: u32,
    pub(crate) ids_len: u32,
}

impl Trie {
    fn build(tokens: &[Vec<u8>], special: &TokenSet, plain: &[Option<usize>]) -> Trie {
        let mut order: Vec<u32> = (0..tokens.len() as u32)
            .filter(|&id| !special.contains(id) && !tokens[id as usize].is_empty())
            .collect();
        order.sort_by(|&a, &b| tokens[a as usize].cmp(&tokens[b as usize]).then(a.cmp(&b)));
        let mut trie = Trie::default();
        trie.nodes.push(TrieNode::default());
        trie.impure.push(false);
        trie.fill(0, 0, &order, tokens, plain);
        trie.max_depth = order
            .iter()
            .map(|&id| tokens[id as usize].len())
            .max()
            .unwrap_or(0);
        trie
    }

    /// Fills node `node` (the prefix of length `depth` shared by all of `sorted`).
    /// Returns whether the subtree holds an impure token.
    fn fill(
        &mut self,
        node: usize,
        depth: usize,
        sorted: &[u32],
        tokens: &[Vec<u8>],
        plain: &[Option<usize>],
    ) -> bool {
        let ends = sorted
            .iter()
            .take_while(|&&id| tokens[id as usize].len() == depth)
            .count();
        self.nodes[node].ids_start = self.ids.len() as u32;
        self.nodes[node].ids_len = ends as u32;
        self.ids.extend_from_slice(&sorted[..ends]);
        let mut impure = sorted[..ends]
            .iter()
            .any(|&id| plain[id as usize].is_none());
        let rest = &sorted[ends..];
        // Group the rest by their byte at `depth` (contiguous, as `sorted` is sorted).
        let mut groups = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            let b = tokens[rest[i] as usize][depth];
            let j = i + rest[i..]
                .iter()
                .take_while(|&&id| tokens[id as usize][depth] == b)
                .count();
            groups.push((b, i, j));
            i = j;
        }
        // Reserve this node's edges contiguously, then fill children depth-first.
        let start = self.edges.len();
        self.nodes[node].edges_start = start as u32;
        self.nodes[node].edges_len = groups.len() as u32;
        self.edges
            .extend(groups.iter().map(|&(b, _, _)| (b, u32::MAX)));
        for (k, &(_, i, j)) in groups.iter().enumerate() {
            let child = self.nodes.len();
            self.nodes.push(TrieNode::default());
            self.impure.push(false);
            self.edges[start + k].1 = child as u32;
            impure |= self.fill(child, depth + 1, &rest[i..j], tokens, plain);
        }
        self.impure[node] = impure;
        impure
    }

    pub(crate) fn edges(&self, node: u32) -> &[(u8, u32)] {
        let n = &self.nodes[node as usize];
        &self.edges[n.edges_start as usize..(n.edges_start + n.edges_len) as usize]
    }

    pub(crate) fn ids(&self, node: u32) -> &[u32] {
        let n = &self.nodes[node as usize];
        &self.ids[n.ids_start as usize..(n.ids_start + n.ids_len) as usize]
    }
}

/// A set of token ids: a bitset sized for one vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenSet {
    words: Vec<u64>,
    capacity: usize,
}

impl TokenSet {
    /// An empty set for ids `0..capacity`.
    pub fn new(capacity: usize) -> Self {
        TokenSet {
            words: vec![0; capacity.div_ceil(64)],
            capacity,
        }
    }

    /// The number of ids this set can hold (`0..capacity`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `id` is in the set (false for out-of-range ids).
    #[inline]
    pub fn contains(&self, id: u32) -> bool {
        let id = id as usize;
        id < self.capacity && self.words[id / 64] & (1 << (id % 64)) != 0
    }

    /// Adds `id`.
    ///
    /// # Panics
    /// If `id >= capacity`.
    #[inline]
    pub fn insert(&mut self, id: u32) {
        let id = id as usize;
        assert!(id < self.capacity, "token id {id} out of range");
        self.words[id / 64] |= 1 << (id % 64);
    }

    /// Removes every id.
    pub fn clear(&mut self) {
        self.words.fill(0);
    }

    /// The number of ids in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The ids in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + bit)
            })
        })
    }

    /// Adds every id of `other` (of the same capacity).
    pub(crate) fn union_with(&mut self, other: &TokenSet) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
    }

    /// Resizes to `capacity` ids, emptying the set.
    pub(crate) fn reset(&mut self, capacity: usize) {
        self.words.clear();
        self.words.resize(capacity.div_ceil(64), 0);
        self.capacity = capacity;
    }
}

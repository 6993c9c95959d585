//! Compiling the supported JSON-Schema subset into a [`Grammar`]: a tree of bounded nodes.

use serde_json::{Map, Value};

/// Index of a node in [`Grammar::nodes`].
pub(crate) type NodeId = u32;

/// Deepest schema nesting accepted (it bounds the matcher's stack).
const MAX_DEPTH: usize = 64;
/// Largest `maxItems` / `maxLength` accepted: keeps every length computation far from overflow.
const MAX_COUNT: u64 = 1 << 20;
/// Most fraction digits a `number` may have (`multipleOf` down to 1e-6).
const MAX_FRACTION_DIGITS: u32 = 6;

/// Why a schema cannot be compiled. Every variant names the keyword and the JSON pointer
/// (RFC 6901, relative to the schema's root) of the sub-schema it appears in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A sub-schema is not a JSON object (boolean schemas are not supported either).
    #[error("the schema at `{pointer}` must be a JSON object")]
    NotAnObject {
        /// Where.
        pointer: String,
    },
    /// A keyword outside the supported subset.
    #[error("unsupported keyword `{keyword}` at `{pointer}` (supported here: {supported})")]
    Unsupported {
        /// Where.
        pointer: String,
        /// The offending keyword.
        keyword: String,
        /// The keywords this kind of sub-schema accepts.
        supported: &'static str,
    },
    /// A keyword the subset requires (every value must be bounded) is absent.
    #[error("missing `{keyword}` at `{pointer}`: {reason}")]
    Missing {
        /// Where.
        pointer: String,
        /// The keyword that must be present.
        keyword: &'static str,
        /// Why it is needed.
        reason: &'static str,
    },
    /// A supported keyword with a value we cannot use.
    #[error("invalid `{keyword}` at `{pointer}`: {reason}")]
    Invalid {
        /// Where.
        pointer: String,
        /// The keyword whose value is wrong.
        keyword: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A range of numbers with at most `frac` fraction digits, in units of `10^-frac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumSpec {
    /// Smallest allowed value, scaled by `10^frac`.
    pub(crate) min: i64,
    /// Largest allowed value, scaled by `10^frac`.
    pub(crate) max: i64,
    /// Fraction digits allowed (0: no `.` at all, as for `integer`).
    pub(crate) frac: u32,
}

/// One compiled sub-schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// An object with fixed keys in a fixed order. `segs[i]` for `i < values.len()` is the text
    /// before value `i` (`{"key":` or `,"key":`); the last segment closes the object (`}`, or
    /// `{}` when there are no properties).
    Object {
        segs: Vec<Vec<u8>>,
        values: Vec<NodeId>,
    },
    /// `[` items separated by `,` `]`, with `min..=max` items.
    Array { item: NodeId, min: u32, max: u32 },
    /// A string of `min..=max` Unicode characters (escapes count as one).
    String { min: u32, max: u32 },
    /// One of a few fixed JSON texts (enum, const, boolean, null), sorted, deduplicated.
    Literal { options: Vec<Vec<u8>> },
    /// An integer or a decimal number in a range.
    Number(NumSpec),
}

/// A compiled schema: the automaton's structure, shared by every [`crate::Matcher`].
///
/// Output is *compact* JSON: no whitespace anywhere, object properties exactly in the order of
/// the schema's `required` array. Whitespace and key order carry no information, and fixing
/// them means a small model only ever chooses values: the structure is forced (see
/// [`crate::Matcher::forced_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    pub(crate) nodes: Vec<Node>,
    pub(crate) root: NodeId,
    max_len: usize,
}

impl Grammar {
    /// Compiles a JSON schema of the supported subset (see the crate documentation).
    ///
    /// # Errors
    /// [`SchemaError`] naming the first keyword (and its JSON pointer) that is unsupported,
    /// missing (every string, array and number must be bounded) or invalid.
    pub fn from_json_schema(schema: &Value) -> Result<Self, SchemaError> {
        let mut c = Compiler { nodes: Vec::new() };
        let root = c.compile(schema, &mut String::new(), 0)?;
        let mut g = Grammar {
            nodes: c.nodes,
            root,
            max_len: 0,
        };
        g.max_len = g.node_max_len(root);
        Ok(g)
    }

    /// The longest document (in bytes) this grammar can produce. Every string, array and
    /// number is bounded, so this is finite; a [`crate::Matcher`] fed only allowed tokens is
    /// complete after at most this many bytes (each token is at least one byte, so at most
    /// this many tokens plus the EOS).
    pub fn max_len_bytes(&self) -> usize {
        self.max_len
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    fn node_max_len(&self, id: NodeId) -> usize {
        match self.node(id) {
            Node::Object { segs, values } => {
                let fixed: usize = segs.iter().map(Vec::len).sum();
                values
                    .iter()
                    .map(|&v| self.node_max_len(v))
                    .fold(fixed, usize::saturating_add)
            }
            Node::Array { item, max, .. } => {
                let n = *max as usize;
                let item = self.node_max_len(*item);
                // `[` + n items + (n - 1) commas + `]`
                let commas = n.saturating_sub(1);
                2usize
                    .saturating_add(n.saturating_mul(item))
                    .saturating_add(commas)
            }
            // Each character is at most 4 bytes (UTF-8) or 2 (an escape).
            Node::String { max, .. } => 2usize.saturating_add((*max as usize).saturating_mul(4)),
            Node::Literal { options } => options.iter().map(Vec::len).max().unwrap_or(0),
            Node::Number(spec) => {
                let scale = 10i128.pow(spec.frac);
                let mag = i128::from(spec.min).abs().max(i128::from(spec.max).abs()) / scale;
                let int_digits = mag.to_string().len();
                let sign = usize::from(spec.min < 0);
                let frac = if spec.frac > 0 {
                    1 + spec.frac as usize
                } else {
                    0
                };
                sign + int_digits + frac
            }
        }
    }
}

struct Compiler {
    nodes: Vec<Node>,
}

const ANNOTATIONS: [&str; 4] = ["title", "description", "$comment", "$schema"];

fn push_pointer(pointer: &mut String, token: &str) {
    pointer.push('/');
    pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

fn invalid(pointer: &str, keyword: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        pointer: pointer.to_owned(),
        keyword: keyword.to_owned(),
        reason: reason.into(),
    }
}

/// Rejects any keyword of `obj` not in `allowed` (annotations are always allowed).
fn check_keywords(
    obj: &Map<String, Value>,
    pointer: &str,
    allowed: &[&str],
    supported: &'static str,
) -> Result<(), SchemaError> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
            return Err(SchemaError::Unsupported {
                pointer: pointer.to_owned(),
                keyword: key.clone(),
                supported,
            });
        }
    }
    Ok(())
}

/// A non-negative integer keyword (`maxItems`, `minLength`...), bounded by [`MAX_COUNT`].
fn count(
    obj: &Map<String, Value>,
    pointer: &str,
    keyword: &'static str,
) -> Result<Option<u32>, SchemaError> {
    let Some(v) = obj.get(keyword) else {
        return Ok(None);
    };
    let n = v
        .as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_COUNT as f64)
                .map(|f| f as u64)
        })
        .ok_or_else(|| invalid(pointer, keyword, "must be a non-negative integer"))?;
    if n > MAX_COUNT {
        return Err(invalid(
            pointer,
            keyword,
            format!("{n} is larger than the supported {MAX_COUNT}"),
        ));
    }
    Ok(Some(n as u32))
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => false,
    }
}

impl Compiler {
    fn add(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as NodeId
    }

    fn compile(
        &mut self,
        schema: &Value,
        pointer: &mut String,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        let Some(obj) = schema.as_object() else {
            return Err(SchemaError::NotAnObject {
                pointer: pointer.clone(),
            });
        };
        if depth > MAX_DEPTH {
            return Err(invalid(
                pointer,
                "properties",
                format!("schemas nested deeper than {MAX_DEPTH} are not supported"),
            ));
        }
        let ty = match obj.get("type") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                return Err(invalid(
                    pointer,
                    "type",
                    "must be one type name (type arrays are not supported)",
                ));
            }
        };
        if obj.contains_key("enum") || obj.contains_key("const") {
            return self.literal(obj, pointer, ty);
        }
        match ty {
            Some("object") => self.object(obj, pointer, depth),
            Some("array") => self.array(obj, pointer, depth),
            Some("string") => {
                check_keywords(
                    obj,
                    pointer,
                    &["type", "minLength", "maxLength"],
                    "type, minLength, maxLength (or enum/const)",
                )?;
                let max = count(obj, pointer, "maxLength")?.ok_or(SchemaError::Missing {
                    pointer: pointer.clone(),
                    keyword: "maxLength",
                    reason: "every string must be bounded",
                })?;
                let min = count(obj, pointer, "minLength")?.unwrap_or(0);
                if min > max {
                    return Err(invalid(pointer, "minLength", "is larger than maxLength"));
                }
                Ok(self.add(Node::String { min, max }))
            }
            Some(t @ ("integer" | "number")) => self.number(obj, pointer, t == "integer"),
            Some("boolean") => {
                check_keywords(obj, pointer, &["type"], "type")?;
                Ok(self.add(Node::Literal {
                    options: vec![b"false".to_vec(), b"true".to_vec()],
                }))
            }
            Some("null") => {
                check_keywords(obj, pointer, &["type"], "type")?;
                Ok(self.add(Node::Literal {
                    options: vec![b"null".to_vec()],
                }))
            }
            Some(other) => Err(invalid(pointer, "type", format!("unknown type `{other}`"))),
            None => {
                // Name the first keyword that is not understood without a type.
                check_keywords(
                    obj,
                    pointer,
                    &[],
                    "type (object, array, string, integer, number, boolean, null), enum, const",
                )?;
                Err(SchemaError::Missing {
                    pointer: pointer.clone(),
                    keyword: "type",
                    reason: "a sub-schema needs a `type`, an `enum` or a `const`",
                })
            }
        }
    }

    fn literal(
        &mut self,
        obj: &Map<String, Value>,
        pointer: &str,
        ty: Option<&str>,
    ) -> Result<NodeId, SchemaError> {
        check_keywords(
            obj,
            pointer,
            &["type", "enum", "const"],
            "type, enum, const",
        )?;
        if obj.contains_key("enum") && obj.contains_key("const") {
            return Err(invalid(pointer, "const", "cannot be combined with `enum`"));
        }
        let (keyword, values): (&str, Vec<&Value>) = match (obj.get("enum"), obj.get("const")) {
            (Some(Value::Array(vs)), _) => ("enum", vs.iter().collect()),
            (Some(_), _) => return Err(invalid(pointer, "enum", "must be an array")),
            (None, Some(v)) => ("const", vec![v]),
            (None, None) => unreachable!("literal() is only called with enum or const"),
        };
        if values.is_empty() {
            return Err(invalid(pointer, keyword, "must list at least one value"));
        }
        let mut options = Vec::with_capacity(values.len());
        for v in values {
            if let Some(t) = ty
                && !type_matches(t, v)
            {
                return Err(invalid(
                    pointer,
                    keyword,
                    format!("value {v} is not of type `{t}`"),
                ));
            }
            // Compact JSON: exactly what the matcher will require, byte for byte.
            options.push(v.to_string().into_bytes());
        }
        options.sort();
        options.dedup();
        Ok(self.add(Node::Literal { options }))
    }

    fn object(
        &mut self,
        obj: &Map<String, Value>,
        pointer: &mut String,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        check_keywords(
            obj,
            pointer,
            &["type", "properties", "required", "additionalProperties"],
            "type, properties, required, additionalProperties (false)",
        )?;
        match obj.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(_) => {
                return Err(invalid(
                    pointer,
                    "additionalProperties",
                    "only `false` is supported",
                ));
            }
        }
        let empty = Map::new();
        let props = match obj.get("properties") {
            None => &empty,
            Some(Value::Object(p)) => p,
            Some(_) => return Err(invalid(pointer, "properties", "must be an object")),
        };
        let required: Vec<&str> = match obj.get("required") {
            None => Vec::new(),
            Some(Value::Array(r)) => r
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| invalid(pointer, "required", "must list strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(pointer, "required", "must be an array of strings")),
        };
        // Output order is the order of `required`, which must name every property once.
        for (i, name) in required.iter().enumerate() {
            if required[..i].contains(name) {
                return Err(invalid(
                    pointer,
                    "required",
                    format!("lists `{name}` twice"),
                ));
            }
            if !props.contains_key(*name) {
                return Err(invalid(
                    pointer,
                    "required",
                    format!("lists `{name}`, which is not in `properties`"),
                ));
            }
        }
        if let Some(name) = props.keys().find(|k| !required.contains(&k.as_str())) {
            return Err(invalid(
                pointer,
                "required",
                format!(
                    "must list every property (it fixes their output order); `{name}` is missing"
                ),
            ));
        }
        let mut segs = Vec::with_capacity(required.len() + 1);
        let mut values = Vec::with_capacity(required.len());
        for (i, name) in required.iter().enumerate() {
            let mut seg = Vec::new();
            seg.push(if i == 0 { b'{' } else { b',' });
            seg.extend_from_slice(Value::from(*name).to_string().as_bytes());
            seg.push(b':');
            segs.push(seg);
            let len = pointer.len();
            push_pointer(pointer, "properties");
            push_pointer(pointer, name);
            let v = self.compile(&props[*name], pointer, depth + 1)?;
            pointer.truncate(len);
            values.push(v);
        }
        segs.push(if values.is_empty() {
            b"{}".to_vec()
        } else {
            b"}".to_vec()
        });
        Ok(self.add(Node::Object { segs, values }))
    }

    fn array(
        &mut self,
        obj: &Map<String, Value>,
        pointer: &mut String,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        check_keywords(
            obj,
            pointer,
            &["type", "items", "minItems", "maxItems"],
            "type, items, minItems, maxItems",
        )?;
        let max = count(obj, pointer, "maxItems")?.ok_or(SchemaError::Missing {
            pointer: pointer.clone(),
            keyword: "maxItems",
            reason: "every array must be bounded",
        })?;
        let min = count(obj, pointer, "minItems")?.unwrap_or(0);
        if min > max {
            return Err(invalid(pointer, "minItems", "is larger than maxItems"));
        }
        let Some(items) = obj.get("items") else {
            return Err(SchemaError::Missing {
                pointer: pointer.clone(),
                keyword: "items",
                reason: "the items' schema is needed to generate them",
            });
        };
        let len = pointer.len();
        push_pointer(pointer, "items");
        let item = self.compile(items, pointer, depth + 1)?;
        pointer.truncate(len);
        Ok(self.add(Node::Array { item, min, max }))
    }

    fn number(
        &mut self,
        obj: &Map<String, Value>,
        pointer: &str,
        integer: bool,
    ) -> Result<NodeId, SchemaError> {
        check_keywords(
            obj,
            pointer,
            &["type", "minimum", "maximum", "multipleOf"],
            "type, minimum, maximum, multipleOf (a power of ten)",
        )?;
        let frac = match obj.get("multipleOf") {
            None => u32::from(!integer),
            Some(v) => {
                let m = v
                    .as_f64()
                    .filter(|m| *m > 0.0)
                    .ok_or_else(|| invalid(pointer, "multipleOf", "must be a positive number"))?;
                let digits = (0..=MAX_FRACTION_DIGITS).find(|&d| {
                    let p = 10f64.powi(-(d as i32));
                    (m - p).abs() <= p * 1e-9
                });
                match digits {
                    Some(d) if !integer || d == 0 => d,
                    _ => {
                        return Err(invalid(
                            pointer,
                            "multipleOf",
                            format!(
                                "only 1, 0.1, 0.01 ... 1e-{MAX_FRACTION_DIGITS} are supported \
                                 (1 for integers), not {m}"
                            ),
                        ));
                    }
                }
            }
        };
        let scale = 10f64.powi(frac as i32);
        // Scaled bounds must leave room for one more digit in i64 arithmetic.
        let limit = 1e17;
        let bound = |keyword: &'static str, up: bool| -> Result<i64, SchemaError> {
            let v = obj.get(keyword).ok_or(SchemaError::Missing {
                pointer: pointer.to_owned(),
                keyword,
                reason: "every number must be bounded",
            })?;
            if let Some(i) = v.as_i64() {
                let s = i128::from(i) * 10i128.pow(frac);
                if s.unsigned_abs() > limit as u128 {
                    return Err(invalid(pointer, keyword, "is too large"));
                }
                return Ok(s as i64);
            }
            let f = v
                .as_f64()
                .ok_or_else(|| invalid(pointer, keyword, "must be a number"))?;
            let x = f * scale;
            if !x.is_finite() || x.abs() > limit {
                return Err(invalid(pointer, keyword, "is too large"));
            }
            let r = x.round();
            let x = if (x - r).abs() <= 1e-9 * r.abs().max(1.0) {
                r
            } else if up {
                x.ceil()
            } else {
                x.floor()
            };
            Ok(x as i64)
        };
        let min = bound("minimum", true)?;
        let max = bound("maximum", false)?;
        if min > max {
            return Err(invalid(
                pointer,
                "minimum",
                "leaves no value up to `maximum` (with the allowed fraction digits)",
            ));
        }
        Ok(self.add(Node::Number(NumSpec { min, max, frac })))
    }
}

//! Reads the weights out of a Piper voice's ONNX file, without ONNX Runtime.
//!
//! Only what the candle port needs: the initializers (float tensors) and, for every `Conv`,
//! `ConvTranspose` and `Gather` node, which initializers it reads and its attributes (pads,
//! strides, dilations, groups). The exporter renames some weights (`onnx::Conv_8240` after
//! weight-norm folding, `sid` for the symbol embedding), so a weight is found by the *module
//! path* of the node that reads it: node `/flow/flows.0/enc/in_layers.0/Conv` is module
//! `flow.flows.0.enc.in_layers.0`, whose `weight` is the node's second input whatever its name.
//!
//! The messages below are the subset of `onnx.proto` (field numbers from the ONNX spec) that
//! this needs; prost skips every other field.

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use super::TtsError;

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int64, tag = "3")]
    i: i64,
    #[prost(int64, repeated, tag = "8")]
    ints: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
    #[prost(int32, tag = "14")]
    data_location: i32,
}

/// ONNX `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;

/// A float tensor: shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    pub dims: Vec<usize>,
    pub values: Vec<f32>,
}

/// What a convolution node says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvAttrs {
    pub transpose: bool,
    /// Left and right padding.
    pub pads: (usize, usize),
    pub stride: usize,
    pub dilation: usize,
    pub groups: usize,
}

/// A module as the graph uses it: its weight and bias names and, for convolutions, attributes.
#[derive(Clone, Debug)]
struct ModuleUse {
    weight: String,
    bias: Option<String>,
    conv: Option<ConvAttrs>,
}

/// The weights of an ONNX file, addressable by module path.
#[derive(Debug, Default)]
pub struct OnnxWeights {
    file: String,
    tensors: HashMap<String, Weight>,
    modules: HashMap<String, ModuleUse>,
}

impl OnnxWeights {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, TtsError> {
        let bytes = std::fs::read(path).map_err(|e| TtsError::Io {
            file: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::parse(&path.display().to_string(), &bytes)
    }

    /// Parses an ONNX model held in memory; `file` names it in errors.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, TtsError> {
        let bad = |detail: String| TtsError::BadModel {
            file: file.to_string(),
            detail,
        };
        let model = ModelProto::decode(bytes).map_err(|e| {
            bad(format!(
                "not an ONNX model ({e}); the file may be truncated, download it again"
            ))
        })?;
        let graph = model
            .graph
            .ok_or_else(|| bad("the ONNX model has no graph".into()))?;
        let mut tensors = HashMap::new();
        for t in graph.initializer {
            if t.data_type != FLOAT {
                continue;
            }
            if t.data_location == 1 {
                return Err(bad(format!(
                    "initializer {} is stored in an external data file, which is not supported; \
                     export the voice with its weights inside the .onnx",
                    t.name
                )));
            }
            let dims = t
                .dims
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| bad(format!("initializer {} has a negative dimension", t.name)))?;
            let count: usize = dims.iter().product();
            let values = if t.raw_data.is_empty() {
                t.float_data
            } else {
                if t.raw_data.len() != count * 4 {
                    return Err(bad(format!(
                        "initializer {} holds {} bytes for shape {dims:?} ({} expected); the file is damaged",
                        t.name,
                        t.raw_data.len(),
                        count * 4
                    )));
                }
                t.raw_data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            };
            if values.len() != count {
                return Err(bad(format!(
                    "initializer {} holds {} values for shape {dims:?}",
                    t.name,
                    values.len()
                )));
            }
            tensors.insert(t.name, Weight { dims, values });
        }
        let mut modules = HashMap::new();
        for node in graph.node {
            let transpose = match node.op_type.as_str() {
                "Conv" => false,
                "ConvTranspose" => true,
                "Exp" => {
                    // exp of a constant (the duration predictor's affine flow, exp(−logs),
                    // which some exporters fold into a constant and others leave as a node):
                    // folded here, so both read the same way.
                    if let (Some(input), Some(output)) = (node.input.first(), node.output.first())
                        && let Some(t) = tensors.get(input)
                    {
                        let folded = Weight {
                            dims: t.dims.clone(),
                            values: t.values.iter().map(|v| v.exp()).collect(),
                        };
                        tensors.insert(output.clone(), folded);
                    }
                    continue;
                }
                "Gather" => {
                    // An embedding: the table is the first input.
                    if let (Some(table), Some(module)) =
                        (node.input.first(), module_path(&node.name))
                        && tensors.contains_key(table)
                    {
                        modules.insert(
                            module,
                            ModuleUse {
                                weight: table.clone(),
                                bias: None,
                                conv: None,
                            },
                        );
                    }
                    continue;
                }
                _ => continue,
            };
            let Some(module) = module_path(&node.name) else {
                continue;
            };
            let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
            let one = |name: &str, default: usize| -> Result<usize, TtsError> {
                match attr(name) {
                    None => Ok(default),
                    Some(a) => {
                        let v = a.ints.first().copied().unwrap_or(a.i);
                        usize::try_from(v)
                            .map_err(|_| bad(format!("node {} has {name} = {v}", node.name)))
                    }
                }
            };
            let pads = match attr("pads") {
                Some(a) if a.ints.len() == 2 => (
                    usize::try_from(a.ints[0]).unwrap_or(0),
                    usize::try_from(a.ints[1]).unwrap_or(0),
                ),
                _ => (0, 0),
            };
            let conv = ConvAttrs {
                transpose,
                pads,
                stride: one("strides", 1)?,
                dilation: one("dilations", 1)?,
                groups: one("group", 1)?,
            };
            let Some(weight) = node.input.get(1).cloned() else {
                return Err(bad(format!("node {} has no weight input", node.name)));
            };
            modules.insert(
                module,
                ModuleUse {
                    weight,
                    bias: node.input.get(2).filter(|b| !b.is_empty()).cloned(),
                    conv: Some(conv),
                },
            );
        }
        Ok(Self {
            file: file.to_string(),
            tensors,
            modules,
        })
    }

    /// The file the weights came from.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// A tensor by its initializer name (`dp.flows.0.m`), or `None`.
    #[must_use]
    pub fn tensor(&self, name: &str) -> Option<&Weight> {
        self.tensors.get(name)
    }

    /// Whether a module (`dec.cond`, `emb_g`) exists, as a node or as `<module>.weight`.
    #[must_use]
    pub fn has_module(&self, module: &str) -> bool {
        self.modules.contains_key(module) || self.tensors.contains_key(&format!("{module}.weight"))
    }

    /// A module's weight (`<module>.weight`, or the initializer its node reads).
    pub fn weight(&self, module: &str) -> Result<&Weight, TtsError> {
        let named = format!("{module}.weight");
        if let Some(w) = self.tensors.get(&named) {
            return Ok(w);
        }
        self.modules
            .get(module)
            .and_then(|m| self.tensors.get(&m.weight))
            .ok_or_else(|| self.missing(&named))
    }

    /// A module's bias, if it has one.
    #[must_use]
    pub fn bias(&self, module: &str) -> Option<&Weight> {
        if let Some(w) = self.tensors.get(&format!("{module}.bias")) {
            return Some(w);
        }
        self.modules
            .get(module)
            .and_then(|m| m.bias.as_ref())
            .and_then(|b| self.tensors.get(b))
    }

    /// A convolution's attributes.
    pub fn conv_attrs(&self, module: &str) -> Result<&ConvAttrs, TtsError> {
        self.modules
            .get(module)
            .and_then(|m| m.conv.as_ref())
            .ok_or_else(|| self.missing(&format!("{module} (a Conv node)")))
    }

    /// The error for a weight the architecture needs and the file lacks.
    #[must_use]
    pub fn missing(&self, what: &str) -> TtsError {
        TtsError::BadModel {
            file: self.file.clone(),
            detail: format!(
                "no {what} in the graph; this is not a Piper VITS voice of a supported layout \
                 (Piper 1.x exports are); re-export it with piper's export_onnx"
            ),
        }
    }
}

/// `/flow/flows.0/enc/in_layers.0/Conv` → `flow.flows.0.enc.in_layers.0`.
fn module_path(node_name: &str) -> Option<String> {
    let trimmed = node_name.strip_prefix('/')?;
    let (scope, _op) = trimmed.rsplit_once('/')?;
    Some(scope.replace('/', "."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_follow_the_exporter_scopes() {
        assert_eq!(
            module_path("/flow/flows.0/enc/in_layers.0/Conv").as_deref(),
            Some("flow.flows.0.enc.in_layers.0")
        );
        assert_eq!(
            module_path("/enc_p/emb/Gather").as_deref(),
            Some("enc_p.emb")
        );
        assert_eq!(module_path("Conv_12"), None);
    }

    #[test]
    fn garbage_is_an_error_that_names_the_file() {
        let e = OnnxWeights::parse("voice.onnx", b"\xff\xff\xff\xff not protobuf").unwrap_err();
        assert!(e.to_string().contains("voice.onnx"), "{e}");
    }

    #[test]
    fn a_small_hand_built_model_is_read_by_module() {
        let weight = TensorProto {
            dims: vec![2, 1, 1],
            data_type: FLOAT,
            float_data: vec![],
            name: "onnx::Conv_7".into(),
            raw_data: [1.5f32, -2.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            data_location: 0,
        };
        let node = NodeProto {
            input: vec!["x".into(), "onnx::Conv_7".into()],
            output: vec!["y".into()],
            name: "/dec/conv_post/Conv".into(),
            op_type: "Conv".into(),
            attribute: vec![
                AttributeProto {
                    name: "pads".into(),
                    i: 0,
                    ints: vec![3, 3],
                },
                AttributeProto {
                    name: "dilations".into(),
                    i: 0,
                    ints: vec![2],
                },
            ],
        };
        let model = ModelProto {
            graph: Some(GraphProto {
                node: vec![node],
                initializer: vec![weight],
            }),
        };
        let w = OnnxWeights::parse("m.onnx", &model.encode_to_vec()).unwrap();
        assert_eq!(w.weight("dec.conv_post").unwrap().values, vec![1.5, -2.0]);
        assert!(w.bias("dec.conv_post").is_none());
        let a = w.conv_attrs("dec.conv_post").unwrap();
        assert_eq!(
            (a.pads, a.dilation, a.stride, a.transpose),
            ((3, 3), 2, 1, false)
        );
        let e = w.weight("dec.conv_pre").unwrap_err().to_string();
        assert!(e.contains("m.onnx") && e.contains("dec.conv_pre"), "{e}");
    }
}

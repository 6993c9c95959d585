//! TAESD, the tiny distilled autoencoder (madebyollin/taesd, taesdxl; diffusers'
//! `AutoencoderTiny`), for previews: a few plain convolutions instead of the full autoencoder's
//! resnets and attention, so a full-resolution picture of the sampler's current estimate costs
//! a fraction of a real decode.
//!
//! It is read from a diffusers folder (`config.json` + `diffusion_pytorch_model.safetensors`)
//! with diffusers' weight names (`decoder.layers.<i>.…`, `encoder.layers.<i>.…`, the index
//! counting every entry of diffusers' `nn.Sequential`, activations and upsamplers included).
//! [`DiffusionModel`](super::DiffusionModel) uses one found at `<model>/taesd/` or given in
//! [`LoadOptions::taesd`](super::LoadOptions) for its per-step previews; without one the
//! previews stay the linear map of the latents ([`super::linear_preview`]).
//!
//! Scaling, as diffusers computes it:
//! * the decoder soft-clamps its input with `tanh(x / 3) * 3` and maps its `[0, 1]` output to
//!   `[-1, 1]` (`2x - 1`, not clamped; pictures are clamped when they become bytes);
//! * the encoder maps `[-1, 1]` pixels to `[0, 1]` before its first convolution;
//! * TAESD's latents *are* the UNet's (its `scaling_factor` is 1.0); diffusers' pipelines still
//!   divide by `vae.config.scaling_factor`, and [`Taesd::decode_scaled`] does the same;
//! * `latent_magnitude` / `latent_shift` only map latents to `[0, 1]` for storing them as 8-bit
//!   pictures ([`Taesd::scale_latents`], [`Taesd::unscale_latents`]); decoding does not use them.
//!
//! Not read: the original repository's `taesd_decoder.safetensors` (other tensor names); use
//! the diffusers-format folder (madebyollin/taesd ships both).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Result as CandleResult, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};
use serde::Deserialize;

use super::{DiffusionError, RgbImage};

/// `config.json` of an `AutoencoderTiny` (diffusers' defaults are TAESD's).
#[derive(Clone, Debug, Deserialize)]
pub struct TaesdConfig {
    #[serde(default = "three")]
    pub in_channels: usize,
    #[serde(default = "three")]
    pub out_channels: usize,
    #[serde(default = "sixty_four")]
    pub encoder_block_out_channels: Vec<usize>,
    #[serde(default = "sixty_four")]
    pub decoder_block_out_channels: Vec<usize>,
    #[serde(default = "relu")]
    pub act_fn: String,
    #[serde(default = "nearest")]
    pub upsample_fn: String,
    #[serde(default = "four")]
    pub latent_channels: usize,
    #[serde(default = "two")]
    pub upsampling_scaling_factor: usize,
    #[serde(default = "encoder_blocks")]
    pub num_encoder_blocks: Vec<usize>,
    #[serde(default = "decoder_blocks")]
    pub num_decoder_blocks: Vec<usize>,
    #[serde(default = "magnitude")]
    pub latent_magnitude: f64,
    #[serde(default = "shift")]
    pub latent_shift: f64,
    #[serde(default = "one")]
    pub scaling_factor: f64,
}

fn three() -> usize {
    3
}
fn four() -> usize {
    4
}
fn two() -> usize {
    2
}
fn sixty_four() -> Vec<usize> {
    vec![64; 4]
}
fn relu() -> String {
    "relu".into()
}
fn nearest() -> String {
    "nearest".into()
}
fn encoder_blocks() -> Vec<usize> {
    vec![1, 3, 3, 3]
}
fn decoder_blocks() -> Vec<usize> {
    vec![3, 3, 3, 1]
}
fn magnitude() -> f64 {
    3.0
}
fn shift() -> f64 {
    0.5
}
fn one() -> f64 {
    1.0
}

fn config_error(path: &Path, message: impl Into<String>) -> DiffusionError {
    DiffusionError::Config {
        file: path.to_path_buf(),
        line: 0,
        message: message.into(),
    }
}

/// Reads a TAESD `config.json`, naming the file and line on bad JSON.
pub fn taesd_config(text: &str, path: &Path) -> Result<TaesdConfig, DiffusionError> {
    let c: TaesdConfig = super::config::parse_json(text, path)?;
    if c.encoder_block_out_channels.len() != c.num_encoder_blocks.len()
        || c.decoder_block_out_channels.len() != c.num_decoder_blocks.len()
        || c.decoder_block_out_channels.is_empty()
        || c.encoder_block_out_channels.is_empty()
    {
        return Err(config_error(
            path,
            "encoder_block_out_channels / num_encoder_blocks and decoder_block_out_channels / num_decoder_blocks must be non-empty and of equal lengths",
        ));
    }
    // diffusers' EncoderTiny / DecoderTiny only run when every stage has the same width (each
    // stage's first layer takes its own width in, not the previous stage's).
    let same = |v: &[usize]| v.iter().all(|&ch| ch > 0 && ch == v[0]);
    if !same(&c.encoder_block_out_channels)
        || !same(&c.decoder_block_out_channels)
        || c.latent_channels == 0
    {
        return Err(config_error(
            path,
            format!(
                "encoder_block_out_channels {:?} and decoder_block_out_channels {:?} must each repeat one positive width (as TAESD's), and latent_channels be positive",
                c.encoder_block_out_channels, c.decoder_block_out_channels
            ),
        ));
    }
    if c.in_channels != 3 || c.out_channels != 3 {
        return Err(config_error(
            path,
            "expected an RGB autoencoder (in_channels = out_channels = 3)",
        ));
    }
    Act::parse(&c.act_fn).ok_or_else(|| {
        config_error(
            path,
            format!(
                "act_fn '{}' is not supported; expected relu, silu, swish, gelu or mish",
                c.act_fn
            ),
        )
    })?;
    if c.upsample_fn != "nearest" || c.upsampling_scaling_factor == 0 {
        return Err(config_error(
            path,
            format!(
                "upsample_fn '{}' with factor {} is not supported; expected nearest with a positive factor",
                c.upsample_fn, c.upsampling_scaling_factor
            ),
        ));
    }
    if !(c.scaling_factor.is_finite() && c.scaling_factor > 0.0 && c.latent_magnitude > 0.0) {
        return Err(config_error(
            path,
            "scaling_factor and latent_magnitude must be positive",
        ));
    }
    Ok(c)
}

/// diffusers' `get_activation`.
#[derive(Clone, Copy, Debug)]
enum Act {
    Relu,
    Silu,
    Gelu,
    Mish,
}

impl Act {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "relu" => Act::Relu,
            "silu" | "swish" => Act::Silu,
            "gelu" => Act::Gelu,
            "mish" => Act::Mish,
            _ => return None,
        })
    }

    fn forward(self, x: &Tensor) -> CandleResult<Tensor> {
        match self {
            Act::Relu => x.relu(),
            Act::Silu => candle_nn::ops::silu(x),
            // torch's nn.GELU() is the exact (erf) form.
            Act::Gelu => x.gelu_erf(),
            // x * tanh(softplus(x)); softplus as ln(1 + e^x), linear past 20 as torch's.
            Act::Mish => {
                let soft = (x.exp()? + 1.0)?.log()?;
                let big = x.ge(20.0)?;
                let soft = big.where_cond(x, &soft)?;
                x.mul(&soft.tanh()?)
            }
        }
    }
}

/// diffusers' `AutoencoderTinyBlock`: `relu(conv(act(conv(act(conv(x))))) + x)` (its skip is
/// an identity: TAESD's blocks keep their width).
#[derive(Debug)]
struct Block {
    convs: [Conv2d; 3],
    act: Act,
}

fn conv3(
    vb: VarBuilder,
    cin: usize,
    cout: usize,
    stride: usize,
    bias: bool,
) -> CandleResult<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        stride,
        ..Default::default()
    };
    if bias {
        candle_nn::conv2d(cin, cout, 3, cfg, vb)
    } else {
        candle_nn::conv2d_no_bias(cin, cout, 3, cfg, vb)
    }
}

impl Block {
    fn new(vb: &VarBuilder, ch: usize, act: Act) -> CandleResult<Self> {
        let c = vb.pp("conv");
        Ok(Self {
            convs: [
                conv3(c.pp("0"), ch, ch, 1, true)?,
                conv3(c.pp("2"), ch, ch, 1, true)?,
                conv3(c.pp("4"), ch, ch, 1, true)?,
            ],
            act,
        })
    }

    fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        let h = self.act.forward(&self.convs[0].forward(x)?)?;
        let h = self.act.forward(&self.convs[1].forward(&h)?)?;
        (self.convs[2].forward(&h)? + x)?.relu()
    }
}

/// One entry of diffusers' `nn.Sequential` (each takes an index in the weight names).
#[derive(Debug)]
enum Layer {
    Conv(Conv2d),
    Act(Act),
    Block(Block),
    Upsample(usize),
}

impl Layer {
    fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        match self {
            Layer::Conv(c) => c.forward(x),
            Layer::Act(a) => a.forward(x),
            Layer::Block(b) => b.forward(x),
            Layer::Upsample(f) => {
                let (_, _, h, w) = x.dims4()?;
                x.upsample_nearest2d(h * f, w * f)
            }
        }
    }
}

fn run(layers: &[Layer], x: &Tensor) -> CandleResult<Tensor> {
    layers.iter().try_fold(x.clone(), |x, l| l.forward(&x))
}

/// diffusers' `EncoderTiny`: a convolution, then per stage a stride-2 convolution (no bias,
/// none before the first stage) and its blocks, then a convolution to the latent channels.
fn encoder(vb: &VarBuilder, c: &TaesdConfig, act: Act) -> CandleResult<Vec<Layer>> {
    let vb = vb.pp("layers");
    let mut layers = Vec::new();
    let ch = &c.encoder_block_out_channels;
    for (i, &n) in c.num_encoder_blocks.iter().enumerate() {
        let conv = if i == 0 {
            conv3(vb.pp(layers.len()), c.in_channels, ch[0], 1, true)?
        } else {
            conv3(vb.pp(layers.len()), ch[i], ch[i], 2, false)?
        };
        layers.push(Layer::Conv(conv));
        for _ in 0..n {
            layers.push(Layer::Block(Block::new(&vb.pp(layers.len()), ch[i], act)?));
        }
    }
    let last = ch[ch.len() - 1];
    layers.push(Layer::Conv(conv3(
        vb.pp(layers.len()),
        last,
        c.latent_channels,
        1,
        true,
    )?));
    Ok(layers)
}

/// diffusers' `DecoderTiny`: a convolution and an activation, then per stage its blocks, an
/// upsampler (not after the last stage) and a convolution (with a bias only for the last,
/// which outputs RGB).
fn decoder(vb: &VarBuilder, c: &TaesdConfig, act: Act) -> CandleResult<Vec<Layer>> {
    let vb = vb.pp("layers");
    let ch = &c.decoder_block_out_channels;
    let mut layers = vec![
        Layer::Conv(conv3(vb.pp(0), c.latent_channels, ch[0], 1, true)?),
        Layer::Act(act),
    ];
    let stages = c.num_decoder_blocks.len();
    for (i, &n) in c.num_decoder_blocks.iter().enumerate() {
        let last = i + 1 == stages;
        for _ in 0..n {
            layers.push(Layer::Block(Block::new(&vb.pp(layers.len()), ch[i], act)?));
        }
        if !last {
            layers.push(Layer::Upsample(c.upsampling_scaling_factor));
        }
        let out = if last { c.out_channels } else { ch[i] };
        layers.push(Layer::Conv(conv3(
            vb.pp(layers.len()),
            ch[i],
            out,
            1,
            last,
        )?));
    }
    Ok(layers)
}

/// A loaded TAESD.
#[derive(Debug)]
pub struct Taesd {
    encoder: Option<Vec<Layer>>,
    decoder: Vec<Layer>,
    pub latent_channels: usize,
    pub scaling_factor: f64,
    pub latent_magnitude: f64,
    pub latent_shift: f64,
    /// Pixels per latent of the decoder: `upsampling_scaling_factor ^ (stages - 1)`.
    pub upscale: usize,
    /// The folder it was loaded from (empty when built from a VarBuilder).
    pub dir: PathBuf,
}

impl Taesd {
    /// Builds the decoder, and the encoder when the weights hold one.
    pub fn new(vb: &VarBuilder, c: &TaesdConfig) -> CandleResult<Self> {
        Self::build(vb, c, vb.contains_tensor("encoder.layers.0.weight"))
    }

    pub(crate) fn build(
        vb: &VarBuilder,
        c: &TaesdConfig,
        with_encoder: bool,
    ) -> CandleResult<Self> {
        let act = Act::parse(&c.act_fn).unwrap_or(Act::Relu);
        let encoder = if with_encoder {
            Some(encoder(&vb.pp("encoder"), c, act)?)
        } else {
            None
        };
        let stages = u32::try_from(c.num_decoder_blocks.len() - 1).unwrap_or(0);
        Ok(Self {
            encoder,
            decoder: decoder(&vb.pp("decoder"), c, act)?,
            latent_channels: c.latent_channels,
            scaling_factor: c.scaling_factor,
            latent_magnitude: c.latent_magnitude,
            latent_shift: c.latent_shift,
            upscale: c.upsampling_scaling_factor.pow(stages),
            dir: PathBuf::new(),
        })
    }

    /// Loads the diffusers folder `dir` (`config.json`, `diffusion_pytorch_model.safetensors`).
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self, DiffusionError> {
        if !dir.is_dir() {
            return Err(DiffusionError::Missing {
                file: dir.to_path_buf(),
                what: "a TAESD folder (diffusers' AutoencoderTiny: config.json and diffusion_pytorch_model.safetensors, e.g. madebyollin/taesd)".into(),
            });
        }
        let config_path = dir.join("config.json");
        let config = taesd_config(&super::read_text(&config_path)?, &config_path)?;
        let files = super::layout::weight_files(dir, "diffusion_pytorch_model")?;
        let vb = super::var_builder(&files, dtype, device, &[])?;
        let mut taesd = Self::new(&vb, &config).map_err(|e| super::weights_error(&files[0], &e))?;
        taesd.dir = dir.to_path_buf();
        Ok(taesd)
    }

    /// Pixels `(b, 3, h·upscale, w·upscale)` in about `[-1, 1]` (not clamped, as diffusers)
    /// from TAESD latents.
    pub fn decode(&self, latents: &Tensor) -> CandleResult<Tensor> {
        let x = ((latents / 3.0)?.tanh()? * 3.0)?;
        let x = run(&self.decoder, &x)?;
        (x * 2.0)? - 1.0
    }

    /// Pixels from the UNet's latents, as diffusers' pipelines decode with a tiny VAE:
    /// `decode(latents / scaling_factor)`.
    pub fn decode_scaled(&self, latents: &Tensor) -> CandleResult<Tensor> {
        self.decode(&(latents / self.scaling_factor)?)
    }

    /// TAESD latents of pixels `(b, 3, h, w)` in `[-1, 1]`; an error when the folder has no
    /// encoder weights.
    pub fn encode(&self, pixels: &Tensor) -> CandleResult<Tensor> {
        let Some(encoder) = &self.encoder else {
            return Err(candle_core::Error::Msg(
                "this TAESD has no encoder weights".into(),
            ));
        };
        run(encoder, &((pixels + 1.0)? / 2.0)?)
    }

    /// Latents to `[0, 1]` (to store them as an 8-bit picture), as diffusers' `scale_latents`.
    pub fn scale_latents(&self, latents: &Tensor) -> CandleResult<Tensor> {
        ((latents / (2.0 * self.latent_magnitude))? + self.latent_shift)?.clamp(0.0, 1.0)
    }

    /// The inverse of [`Taesd::scale_latents`] (within its clamp).
    pub fn unscale_latents(&self, x: &Tensor) -> CandleResult<Tensor> {
        (x - self.latent_shift)? * (2.0 * self.latent_magnitude)
    }

    /// A full-resolution picture of the UNet's latents (the first of the batch).
    pub fn preview(&self, latents: &Tensor) -> Result<RgbImage, DiffusionError> {
        let pixels = self.decode_scaled(&latents.narrow(0, 0, 1)?)?;
        super::to_image(&pixels)
    }
}

/// The TAESD a model uses: `explicit` if given (it must load), else `<root>/taesd/` if that
/// folder exists, else none. It must fit the model: same latent channels, same pixels per
/// latent as the model's autoencoder.
pub(crate) fn find(
    root: &Path,
    explicit: Option<&Path>,
    device: &Device,
    dtype: DType,
    vae: &super::vae::Vae,
) -> Result<Option<Taesd>, DiffusionError> {
    let (latent_channels, downscale) = (vae.latent_channels, vae.downscale);
    let dir = match explicit {
        Some(dir) => dir.to_path_buf(),
        None if root.join("taesd").is_dir() => root.join("taesd"),
        None => return Ok(None),
    };
    let taesd = Taesd::load(&dir, device, dtype)?;
    if taesd.latent_channels != latent_channels || taesd.upscale != downscale {
        return Err(config_error(
            &dir.join("config.json"),
            format!(
                "this TAESD has {} latent channels and {} pixels per latent but the model has {latent_channels} and {downscale}; it is for another model family (taesd is for SD 1.x / 2.x, taesdxl for SDXL)",
                taesd.latent_channels, taesd.upscale
            ),
        ));
    }
    Ok(Some(taesd))
}

/// The per-step preview of the UNet's latents: TAESD at full resolution when there is one,
/// else the linear map at latent resolution.
pub(crate) fn preview(
    taesd: Option<&Taesd>,
    latents: &Tensor,
    xl: bool,
) -> Result<RgbImage, DiffusionError> {
    match taesd {
        Some(t) => t.preview(latents),
        None => super::linear_preview(latents, xl),
    }
}

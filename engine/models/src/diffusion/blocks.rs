//! The UNet's and the autoencoder's convolutional blocks (diffusers' `ResnetBlock2D`,
//! `Downsample2D`, `Upsample2D` and the down / mid / up blocks built from them), with the 3×3
//! convolutions on [`Conv3x3`] (no im2col on the CPU). The attention parts are in
//! [`super::attention`]. Weight names are diffusers' own.
//!
//! Unlike candle's blocks, every group norm uses the config's `norm_num_groups`; norms followed
//! by SiLU are fused ([`GroupNormAct`]).

use candle_core::{D, DType, Module, Result as CandleResult, Storage, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear, VarBuilder};
use rayon::prelude::*;

use super::attention::{
    Context, CrossAttention, SpatialTransformer, TransformerConfig, VaeAttention,
};
use super::conv::{Conv1x1, Conv3x3};
use super::norm::GroupNormAct;

/// Norm settings shared by a model's blocks.
#[derive(Clone, Copy, Debug)]
pub struct Norms {
    pub groups: usize,
    pub eps: f64,
}

/// diffusers' `ResnetBlock2D` (time-scale-shift "default", SiLU).
#[derive(Debug)]
pub struct Resnet {
    norm1: GroupNormAct,
    conv1: Conv3x3,
    time_emb_proj: Option<Linear>,
    norm2: GroupNormAct,
    conv2: Conv3x3,
    shortcut: Option<Conv1x1>,
    scale: f64,
}

impl Resnet {
    pub fn new(
        vb: &VarBuilder,
        cin: usize,
        cout: usize,
        temb: Option<usize>,
        n: Norms,
        scale: f64,
    ) -> CandleResult<Self> {
        let shortcut = if cin == cout {
            None
        } else {
            Some(Conv1x1::new(vb.pp("conv_shortcut"), cin, cout)?)
        };
        Ok(Self {
            norm1: GroupNormAct::new(n.groups, cin, n.eps, true, &vb.pp("norm1"))?,
            conv1: Conv3x3::new(vb.pp("conv1"), cin, cout)?,
            time_emb_proj: match temb {
                Some(t) => Some(candle_nn::linear(t, cout, vb.pp("time_emb_proj"))?),
                None => None,
            },
            norm2: GroupNormAct::new(n.groups, cout, n.eps, true, &vb.pp("norm2"))?,
            conv2: Conv3x3::new(vb.pp("conv2"), cout, cout)?,
            shortcut,
            scale,
        })
    }

    pub fn forward(&self, x: &Tensor, temb: Option<&Tensor>) -> CandleResult<Tensor> {
        let residual = match &self.shortcut {
            Some(c) => c.forward(x)?,
            None => x.clone(),
        };
        let mut h = self.conv1.forward_normed(x, &self.norm1)?;
        if let (Some(t), Some(proj)) = (temb, &self.time_emb_proj) {
            let t = proj
                .forward(&candle_nn::ops::silu(t)?)?
                .unsqueeze(D::Minus1)?
                .unsqueeze(D::Minus1)?;
            h = h.broadcast_add(&t)?;
        }
        let sum = self
            .conv2
            .forward_normed_plus(&h, &self.norm2, Some(&residual))?;
        // Most models' output scale is 1: skip the extra pass.
        if self.scale == 1.0 {
            Ok(sum)
        } else {
            sum / self.scale
        }
    }
}

/// diffusers' `Downsample2D` with a convolution: stride 2; padding 0 pads right and bottom by
/// one first (the autoencoder's), padding 1 is symmetric (the UNet's).
#[derive(Debug)]
pub struct Downsample {
    conv: Conv2d,
    asymmetric: bool,
}

impl Downsample {
    pub fn new(vb: &VarBuilder, channels: usize, padding: usize) -> CandleResult<Self> {
        let cfg = Conv2dConfig {
            stride: 2,
            padding,
            ..Default::default()
        };
        Ok(Self {
            conv: candle_nn::conv2d(channels, channels, 3, cfg, vb.pp("conv"))?,
            asymmetric: padding == 0,
        })
    }

    pub fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        if self.asymmetric {
            let x = x
                .pad_with_zeros(D::Minus1, 0, 1)?
                .pad_with_zeros(D::Minus2, 0, 1)?;
            self.conv.forward(&x)
        } else {
            self.conv.forward(x)
        }
    }
}

/// diffusers' `Upsample2D`: nearest ×2 (or to the skip's size), then a 3×3 convolution.
#[derive(Debug)]
pub struct Upsample {
    conv: Conv3x3,
}

impl Upsample {
    pub fn new(vb: &VarBuilder, channels: usize) -> CandleResult<Self> {
        Ok(Self {
            conv: Conv3x3::new(vb.pp("conv"), channels, channels)?,
        })
    }

    pub fn forward(&self, x: &Tensor, size: Option<(usize, usize)>) -> CandleResult<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let (th, tw) = size.unwrap_or((2 * h, 2 * w));
        self.conv.forward(&upsample_nearest(x, th, tw)?)
    }
}

/// Nearest-neighbour upsampling to `th × tw`; exact doubling on the CPU in f32 is one parallel
/// pass (candle's is a single-threaded strided map).
fn upsample_nearest(x: &Tensor, th: usize, tw: usize) -> CandleResult<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    if th != 2 * h || tw != 2 * w || !x.device().is_cpu() || x.dtype() != DType::F32 || w == 0 {
        return x.upsample_nearest2d(th, tw);
    }
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let (Storage::Cpu(cpu), Some((first, last))) = (&*storage, layout.contiguous_offsets()) else {
        drop(storage);
        return x.upsample_nearest2d(th, tw);
    };
    let src = &cpu.as_slice::<f32>()?[first..last];
    let mut out = vec![0f32; b * c * th * tw];
    out.par_chunks_mut(2 * tw)
        .zip(src.par_chunks(w))
        .for_each(|(pair, row)| {
            // One source row becomes two identical output rows of doubled pixels.
            let (top, bottom) = pair.split_at_mut(tw);
            for (o, &v) in top.chunks_exact_mut(2).zip(row) {
                o[0] = v;
                o[1] = v;
            }
            bottom.copy_from_slice(top);
        });
    drop(storage);
    Tensor::from_vec(out, (b, c, th, tw), x.device())
}

/// Cross-attention settings of a UNet block.
#[derive(Clone, Copy, Debug)]
pub struct Cross {
    pub heads: usize,
    pub depth: usize,
    pub context_dim: usize,
    pub linear_projection: bool,
}

fn transformer(
    vb: &VarBuilder,
    channels: usize,
    c: Cross,
    groups: usize,
) -> CandleResult<SpatialTransformer> {
    SpatialTransformer::new(
        vb,
        TransformerConfig {
            channels,
            heads: c.heads,
            depth: c.depth,
            context_dim: c.context_dim,
            groups,
            linear_projection: c.linear_projection,
        },
    )
}

/// A UNet down block (`DownBlock2D` / `CrossAttnDownBlock2D`).
#[derive(Debug)]
pub struct DownBlock {
    resnets: Vec<Resnet>,
    attentions: Vec<SpatialTransformer>,
    down: Option<Downsample>,
}

impl DownBlock {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vb: &VarBuilder,
        cin: usize,
        cout: usize,
        temb: usize,
        layers: usize,
        cross: Option<Cross>,
        n: Norms,
        downsample_padding: Option<usize>,
    ) -> CandleResult<Self> {
        let mut resnets = Vec::with_capacity(layers);
        let mut attentions = Vec::new();
        for i in 0..layers {
            let c = if i == 0 { cin } else { cout };
            resnets.push(Resnet::new(
                &vb.pp("resnets").pp(i.to_string()),
                c,
                cout,
                Some(temb),
                n,
                1.0,
            )?);
            if let Some(x) = cross {
                attentions.push(transformer(
                    &vb.pp("attentions").pp(i.to_string()),
                    cout,
                    x,
                    n.groups,
                )?);
            }
        }
        let down = match downsample_padding {
            Some(p) => Some(Downsample::new(&vb.pp("downsamplers").pp("0"), cout, p)?),
            None => None,
        };
        Ok(Self {
            resnets,
            attentions,
            down,
        })
    }

    /// Its cross-attention layers, in weight order.
    pub fn cross_attentions(&self) -> impl Iterator<Item = &CrossAttention> {
        self.attentions
            .iter()
            .flat_map(SpatialTransformer::cross_attentions)
    }

    /// The output and the skip connections it leaves (one per resnet, one after downsampling).
    pub fn forward(
        &self,
        x: &Tensor,
        temb: &Tensor,
        ctx: Context<'_>,
    ) -> CandleResult<(Tensor, Vec<Tensor>)> {
        let mut x = x.clone();
        let mut skips = Vec::with_capacity(self.resnets.len() + 1);
        for (i, r) in self.resnets.iter().enumerate() {
            x = r.forward(&x, Some(temb))?;
            if let Some(a) = self.attentions.get(i) {
                x = a.forward(&x, ctx)?;
            }
            skips.push(x.clone());
        }
        if let Some(d) = &self.down {
            x = d.forward(&x)?;
            skips.push(x.clone());
        }
        Ok((x, skips))
    }
}

/// A UNet up block (`UpBlock2D` / `CrossAttnUpBlock2D`).
#[derive(Debug)]
pub struct UpBlock {
    resnets: Vec<Resnet>,
    attentions: Vec<SpatialTransformer>,
    up: Option<Upsample>,
}

impl UpBlock {
    /// `skip`: the channels of the deepest skip this block takes (its last resnet's), `prev`:
    /// the channels coming up from the block below.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vb: &VarBuilder,
        skip: usize,
        prev: usize,
        cout: usize,
        temb: usize,
        layers: usize,
        cross: Option<Cross>,
        n: Norms,
        upsample: bool,
    ) -> CandleResult<Self> {
        let mut resnets = Vec::with_capacity(layers);
        let mut attentions = Vec::new();
        for i in 0..layers {
            let res_skip = if i + 1 == layers { skip } else { cout };
            let res_in = if i == 0 { prev } else { cout };
            resnets.push(Resnet::new(
                &vb.pp("resnets").pp(i.to_string()),
                res_in + res_skip,
                cout,
                Some(temb),
                n,
                1.0,
            )?);
            if let Some(x) = cross {
                attentions.push(transformer(
                    &vb.pp("attentions").pp(i.to_string()),
                    cout,
                    x,
                    n.groups,
                )?);
            }
        }
        let up = if upsample {
            Some(Upsample::new(&vb.pp("upsamplers").pp("0"), cout)?)
        } else {
            None
        };
        Ok(Self {
            resnets,
            attentions,
            up,
        })
    }

    /// Its cross-attention layers, in weight order.
    pub fn cross_attentions(&self) -> impl Iterator<Item = &CrossAttention> {
        self.attentions
            .iter()
            .flat_map(SpatialTransformer::cross_attentions)
    }

    pub fn resnets(&self) -> usize {
        self.resnets.len()
    }

    /// `skips`: this block's skip connections, deepest last.
    pub fn forward(
        &self,
        x: &Tensor,
        skips: &[Tensor],
        temb: &Tensor,
        ctx: Context<'_>,
        size: Option<(usize, usize)>,
    ) -> CandleResult<Tensor> {
        let mut x = x.clone();
        for (i, r) in self.resnets.iter().enumerate() {
            x = Tensor::cat(&[&x, &skips[skips.len() - i - 1]], 1)?;
            x = r.forward(&x, Some(temb))?;
            if let Some(a) = self.attentions.get(i) {
                x = a.forward(&x, ctx)?;
            }
        }
        match &self.up {
            Some(u) => u.forward(&x, size),
            None => Ok(x),
        }
    }
}

/// The UNet's middle: resnet, then (transformer, resnet) per layer.
#[derive(Debug)]
pub struct MidBlock {
    first: Resnet,
    rest: Vec<(SpatialTransformer, Resnet)>,
}

impl MidBlock {
    pub fn new(
        vb: &VarBuilder,
        channels: usize,
        temb: usize,
        cross: Cross,
        n: Norms,
        scale: f64,
    ) -> CandleResult<Self> {
        let r = |i: usize| {
            Resnet::new(
                &vb.pp("resnets").pp(i.to_string()),
                channels,
                channels,
                Some(temb),
                n,
                scale,
            )
        };
        Ok(Self {
            first: r(0)?,
            rest: vec![(
                transformer(&vb.pp("attentions").pp("0"), channels, cross, n.groups)?,
                r(1)?,
            )],
        })
    }

    /// Its cross-attention layers, in weight order.
    pub fn cross_attentions(&self) -> impl Iterator<Item = &CrossAttention> {
        self.rest.iter().flat_map(|(a, _)| a.cross_attentions())
    }

    pub fn forward(&self, x: &Tensor, temb: &Tensor, ctx: Context<'_>) -> CandleResult<Tensor> {
        let mut x = self.first.forward(x, Some(temb))?;
        for (a, r) in &self.rest {
            x = r.forward(&a.forward(&x, ctx)?, Some(temb))?;
        }
        Ok(x)
    }
}

/// The autoencoder's middle: resnet, self-attention, resnet (no time embedding).
#[derive(Debug)]
pub struct VaeMid {
    first: Resnet,
    attention: VaeAttention,
    second: Resnet,
}

impl VaeMid {
    pub fn new(vb: &VarBuilder, channels: usize, n: Norms) -> CandleResult<Self> {
        let r = |i: usize| {
            Resnet::new(
                &vb.pp("resnets").pp(i.to_string()),
                channels,
                channels,
                None,
                n,
                1.0,
            )
        };
        Ok(Self {
            first: r(0)?,
            attention: VaeAttention::new(
                &vb.pp("attentions").pp("0"),
                channels,
                None,
                n.groups,
                n.eps,
            )?,
            second: r(1)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        let x = self.first.forward(x, None)?;
        let x = self.attention.forward(&x)?;
        self.second.forward(&x, None)
    }
}

/// The autoencoder blocks' resnets (no time embedding): `cin` in, `cout` after the first.
fn resnet_stack(
    vb: &VarBuilder,
    cin: usize,
    cout: usize,
    layers: usize,
    n: Norms,
) -> CandleResult<Vec<Resnet>> {
    (0..layers)
        .map(|i| {
            let c = if i == 0 { cin } else { cout };
            Resnet::new(&vb.pp("resnets").pp(i.to_string()), c, cout, None, n, 1.0)
        })
        .collect()
}

fn run_stack(resnets: &[Resnet], x: &Tensor) -> CandleResult<Tensor> {
    resnets
        .iter()
        .try_fold(x.clone(), |x, r| r.forward(&x, None))
}

/// The encoder's `DownEncoderBlock2D`: resnets, then a downsample (padding 0, asymmetric).
#[derive(Debug)]
pub struct EncoderBlock {
    resnets: Vec<Resnet>,
    down: Option<Downsample>,
}

impl EncoderBlock {
    pub fn new(
        vb: &VarBuilder,
        cin: usize,
        cout: usize,
        layers: usize,
        n: Norms,
        downsample: bool,
    ) -> CandleResult<Self> {
        let resnets = resnet_stack(vb, cin, cout, layers, n)?;
        let down = if downsample {
            Some(Downsample::new(&vb.pp("downsamplers").pp("0"), cout, 0)?)
        } else {
            None
        };
        Ok(Self { resnets, down })
    }

    pub fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        let x = run_stack(&self.resnets, x)?;
        match &self.down {
            Some(d) => d.forward(&x),
            None => Ok(x),
        }
    }
}

/// The decoder's `UpDecoderBlock2D`: resnets, then an upsample.
#[derive(Debug)]
pub struct DecoderBlock {
    resnets: Vec<Resnet>,
    up: Option<Upsample>,
}

impl DecoderBlock {
    pub fn new(
        vb: &VarBuilder,
        cin: usize,
        cout: usize,
        layers: usize,
        n: Norms,
        upsample: bool,
    ) -> CandleResult<Self> {
        let resnets = resnet_stack(vb, cin, cout, layers, n)?;
        let up = if upsample {
            Some(Upsample::new(&vb.pp("upsamplers").pp("0"), cout)?)
        } else {
            None
        };
        Ok(Self { resnets, up })
    }

    pub fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        let x = run_stack(&self.resnets, x)?;
        match &self.up {
            Some(u) => u.forward(&x, None),
            None => Ok(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn doubling_equals_candles_upsampling() {
        let x = Tensor::randn(0f32, 1.0, (2, 3, 5, 7), &Device::Cpu).unwrap();
        let ours = upsample_nearest(&x, 10, 14).unwrap();
        let theirs = x.upsample_nearest2d(10, 14).unwrap();
        let d = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
        // Other sizes go through candle.
        assert_eq!(upsample_nearest(&x, 9, 14).unwrap().dims(), &[2, 3, 9, 14]);
    }
}

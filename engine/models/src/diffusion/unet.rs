//! The denoising UNet: diffusers' `UNet2DConditionModel` assembled from candle-transformers'
//! public blocks (resnets, spatial transformers, down / mid / up blocks) with our own top
//! level, so that it can take what candle's top level cannot:
//!
//! * SDXL's micro-conditioning (`addition_embed_type: "text_time"`): the pooled text embedding
//!   and the six size / crop numbers, projected and added to the time embedding;
//! * the time projections computed in f32 and only then cast to the model's dtype (as
//!   diffusers does), so an f16 model on CUDA does not round timestep 999's sinusoids.
//!
//! Weight names are diffusers' own, so a diffusers folder, a converted single-file checkpoint
//! and candle's `UNet2DConditionModel` all read the same tensors.

use candle_core::{DType, Module, Result as CandleResult, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::embeddings::{TimestepEmbedding, Timesteps};

use super::attention::{Context, CrossAttention, ImagePrompt};
use super::blocks::{Cross, DownBlock, MidBlock, Norms, UpBlock};
use super::config::UnetConfig;
use super::conv::Conv3x3;
use super::norm::GroupNormAct;

/// SDXL's extra conditioning: `add_time_proj` + `add_embedding`.
struct Addition {
    time_proj: Timesteps,
    embedding: TimestepEmbedding,
}

/// What the UNet is conditioned on besides the timestep.
#[derive(Debug)]
pub struct Conditioning<'a> {
    /// The text encoders' hidden states, `(batch, tokens, cross_attention_dim)`.
    pub context: &'a Tensor,
    /// SDXL: the pooled text embedding `(batch, projection_dim)` and the time ids `(batch, 6)`
    /// (original height, width, crop top, crop left, target height, width).
    pub added: Option<(&'a Tensor, &'a Tensor)>,
    /// An IP-Adapter's reference images.
    pub image: Option<&'a ImagePrompt>,
}

/// A loaded UNet.
pub struct Unet {
    conv_in: Conv3x3,
    time_proj: Timesteps,
    time_embedding: TimestepEmbedding,
    addition: Option<Addition>,
    down: Vec<DownBlock>,
    mid: MidBlock,
    up: Vec<UpBlock>,
    conv_norm_out: GroupNormAct,
    conv_out: Conv3x3,
    center_input_sample: bool,
}

impl Unet {
    /// Builds the UNet from `vb` (diffusers names) as `c` describes.
    pub fn new(vb: &VarBuilder, c: &UnetConfig) -> CandleResult<Self> {
        let cc = &c.candle;
        let n = cc.blocks.len();
        let first = cc.blocks[0].out_channels;
        let last = cc.blocks[n - 1];
        let temb = first * 4;
        let norms = Norms {
            groups: cc.norm_num_groups,
            eps: cc.norm_eps,
        };
        let cross = |heads: usize, depth: usize| Cross {
            heads,
            depth,
            context_dim: cc.cross_attention_dim,
            linear_projection: cc.use_linear_projection,
        };
        let conv_in = Conv3x3::new(vb.pp("conv_in"), c.in_channels, first)?;
        let time_proj = Timesteps::new(first, cc.flip_sin_to_cos, cc.freq_shift);
        let time_embedding = TimestepEmbedding::new(vb.pp("time_embedding"), first, temb)?;
        let addition = match c.addition {
            Some(a) => Some(Addition {
                time_proj: Timesteps::new(a.time_embed_dim, cc.flip_sin_to_cos, cc.freq_shift),
                embedding: TimestepEmbedding::new(vb.pp("add_embedding"), a.input_dim, temb)?,
            }),
            None => None,
        };

        let mut down = Vec::with_capacity(n);
        for (i, b) in cc.blocks.iter().enumerate() {
            let in_ch = if i == 0 {
                first
            } else {
                cc.blocks[i - 1].out_channels
            };
            down.push(DownBlock::new(
                &vb.pp("down_blocks").pp(i.to_string()),
                in_ch,
                b.out_channels,
                temb,
                cc.layers_per_block,
                b.use_cross_attn.map(|d| cross(b.attention_head_dim, d)),
                norms,
                (i + 1 < n).then_some(cc.downsample_padding),
            )?);
        }
        let mid = MidBlock::new(
            &vb.pp("mid_block"),
            last.out_channels,
            temb,
            cross(last.attention_head_dim, last.use_cross_attn.unwrap_or(1)),
            norms,
            cc.mid_block_scale_factor,
        )?;
        let mut up = Vec::with_capacity(n);
        for i in 0..n {
            let b = cc.blocks[n - 1 - i];
            let prev = if i == 0 {
                last.out_channels
            } else {
                cc.blocks[n - i].out_channels
            };
            // The skip connection's channels: the block below this one in the down path.
            let skip = cc.blocks[if i == n - 1 { 0 } else { n - i - 2 }].out_channels;
            up.push(UpBlock::new(
                &vb.pp("up_blocks").pp(i.to_string()),
                skip,
                prev,
                b.out_channels,
                temb,
                cc.layers_per_block + 1,
                b.use_cross_attn.map(|d| cross(b.attention_head_dim, d)),
                norms,
                i + 1 < n,
            )?);
        }
        let conv_norm_out = GroupNormAct::new(
            cc.norm_num_groups,
            first,
            cc.norm_eps,
            true,
            &vb.pp("conv_norm_out"),
        )?;
        let conv_out = Conv3x3::new(vb.pp("conv_out"), first, c.out_channels)?;
        Ok(Self {
            conv_in,
            time_proj,
            time_embedding,
            addition,
            down,
            mid,
            up,
            conv_norm_out,
            conv_out,
            center_input_sample: cc.center_input_sample,
        })
    }

    /// Whether the model needs [`Conditioning::added`] (SDXL).
    #[must_use]
    pub fn takes_added_conditioning(&self) -> bool {
        self.addition.is_some()
    }

    /// Every cross-attention layer in the order diffusers numbers attention processors (the
    /// order an IP-Adapter's `ip_adapter.N` weights follow): the down blocks, then the up
    /// blocks, then the middle (the order `UNet2DConditionModel` registers its children).
    pub fn cross_attentions(&self) -> Vec<&CrossAttention> {
        self.down
            .iter()
            .flat_map(DownBlock::cross_attentions)
            .chain(self.up.iter().flat_map(UpBlock::cross_attentions))
            .chain(self.mid.cross_attentions())
            .collect()
    }

    /// The model's prediction (noise, or v) for `xs` at `timestep`.
    pub fn forward(
        &self,
        xs: &Tensor,
        timestep: f64,
        cond: &Conditioning<'_>,
    ) -> CandleResult<Tensor> {
        let (b, _, h, w) = xs.dims4()?;
        let dtype = xs.dtype();
        let device = xs.device();
        let xs = if self.center_input_sample {
            ((xs * 2.0)? - 1.0)?
        } else {
            xs.clone()
        };
        // 1. Time embedding; the sinusoids in f32 whatever the model's dtype.
        let t = (Tensor::ones(b, DType::F32, device)? * timestep)?;
        let t = self.time_proj.forward(&t)?.to_dtype(dtype)?;
        let mut emb = self.time_embedding.forward(&t)?;
        if let Some(add) = &self.addition {
            let Some((text_embeds, time_ids)) = cond.added else {
                return Err(candle_core::Error::Msg(
                    "this UNet (SDXL) needs the pooled text embedding and the size conditioning"
                        .into(),
                ));
            };
            let ids = time_ids.to_dtype(DType::F32)?.flatten_all()?;
            let time_embeds = add
                .time_proj
                .forward(&ids)?
                .reshape((b, ()))?
                .to_dtype(dtype)?;
            let add_embeds = Tensor::cat(&[&text_embeds.to_dtype(dtype)?, &time_embeds], 1)?;
            emb = (emb + add.embedding.forward(&add_embeds)?)?;
        }
        let ctx = Context {
            text: cond.context,
            image: cond.image,
        };

        // 2. Down, keeping every skip connection.
        let mut xs = self.conv_in.forward(&xs)?;
        let mut skips = vec![xs.clone()];
        for block in &self.down {
            let (next, res) = block.forward(&xs, &emb, ctx)?;
            skips.extend(res);
            xs = next;
        }
        // 3. Middle.
        let mut xs = self.mid.forward(&xs, &emb, ctx)?;
        // 4. Up; sizes that do not halve evenly upsample to the skip's size.
        let n = self.up.len();
        let factor = 1usize << (n - 1);
        let odd = !h.is_multiple_of(factor) || !w.is_multiple_of(factor);
        for (i, block) in self.up.iter().enumerate() {
            let res = skips.split_off(skips.len().saturating_sub(block.resnets()));
            let size = match skips.last() {
                Some(s) if odd && i + 1 < n => {
                    let (_, _, sh, sw) = s.dims4()?;
                    Some((sh, sw))
                }
                _ => None,
            };
            xs = block.forward(&xs, &res, &emb, ctx, size)?;
        }
        // 5. Out.
        self.conv_out.forward_normed(&xs, &self.conv_norm_out)
    }
}

impl std::fmt::Debug for Unet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unet")
            .field("down_blocks", &self.down.len())
            .field("sdxl_conditioning", &self.addition.is_some())
            .finish_non_exhaustive()
    }
}

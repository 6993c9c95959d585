//! The autoencoder (diffusers' `AutoencoderKL`) assembled from candle-transformers' public
//! blocks, so that encoding returns the latent distribution's mean and log-variance (img2img
//! samples it with the request's seed; candle's own `encode` samples from an unseedable source)
//! and so that large frames decode in tiles.

use candle_core::{Module, Result as CandleResult, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, VarBuilder};
use candle_transformers::models::stable_diffusion::unet_2d_blocks::{
    DownEncoderBlock2D, DownEncoderBlock2DConfig, UNetMidBlock2D, UNetMidBlock2DConfig,
    UpDecoderBlock2D, UpDecoderBlock2DConfig,
};

use super::config::VaeConfig;

fn conv3(vb: VarBuilder, cin: usize, cout: usize) -> CandleResult<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    candle_nn::conv2d(cin, cout, 3, cfg, vb)
}

fn mid_block(vb: VarBuilder, channels: usize, groups: usize) -> CandleResult<UNetMidBlock2D> {
    let cfg = UNetMidBlock2DConfig {
        resnet_eps: 1e-6,
        output_scale_factor: 1.,
        attn_num_head_channels: None,
        resnet_groups: Some(groups),
        ..Default::default()
    };
    UNetMidBlock2D::new(vb, channels, None, cfg)
}

pub struct Vae {
    enc_conv_in: Conv2d,
    enc_down: Vec<DownEncoderBlock2D>,
    enc_mid: UNetMidBlock2D,
    enc_norm: GroupNorm,
    enc_conv_out: Conv2d,
    quant_conv: Option<Conv2d>,
    post_quant_conv: Option<Conv2d>,
    dec_conv_in: Conv2d,
    dec_mid: UNetMidBlock2D,
    dec_up: Vec<UpDecoderBlock2D>,
    dec_norm: GroupNorm,
    dec_conv_out: Conv2d,
    pub latent_channels: usize,
    pub scaling_factor: f64,
    /// Pixels per latent: 2^(blocks - 1), 8 for every released SD autoencoder.
    pub downscale: usize,
}

impl Vae {
    pub fn new(vb: &VarBuilder, c: &VaeConfig) -> CandleResult<Self> {
        let ch = &c.block_out_channels;
        let groups = c.norm_num_groups;
        let last = ch[ch.len() - 1];
        let lat = c.latent_channels;
        let e = vb.pp("encoder");
        let mut enc_down = Vec::with_capacity(ch.len());
        for (i, &out) in ch.iter().enumerate() {
            let cin = if i == 0 { ch[0] } else { ch[i - 1] };
            let cfg = DownEncoderBlock2DConfig {
                num_layers: c.layers_per_block,
                resnet_eps: 1e-6,
                resnet_groups: groups,
                add_downsample: i + 1 < ch.len(),
                downsample_padding: 0,
                ..Default::default()
            };
            enc_down.push(DownEncoderBlock2D::new(
                e.pp("down_blocks").pp(i.to_string()),
                cin,
                out,
                cfg,
            )?);
        }
        let d = vb.pp("decoder");
        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let mut dec_up = Vec::with_capacity(ch.len());
        for (i, &out) in rev.iter().enumerate() {
            let cin = if i == 0 { rev[0] } else { rev[i - 1] };
            let cfg = UpDecoderBlock2DConfig {
                num_layers: c.layers_per_block + 1,
                resnet_eps: 1e-6,
                resnet_groups: groups,
                add_upsample: i + 1 < ch.len(),
                ..Default::default()
            };
            dec_up.push(UpDecoderBlock2D::new(
                d.pp("up_blocks").pp(i.to_string()),
                cin,
                out,
                cfg,
            )?);
        }
        let one = Conv2dConfig::default();
        Ok(Self {
            enc_conv_in: conv3(e.pp("conv_in"), c.in_channels, ch[0])?,
            enc_down,
            enc_mid: mid_block(e.pp("mid_block"), last, groups)?,
            enc_norm: candle_nn::group_norm(groups, last, 1e-6, e.pp("conv_norm_out"))?,
            enc_conv_out: conv3(e.pp("conv_out"), last, 2 * lat)?,
            quant_conv: if c.use_quant_conv {
                Some(candle_nn::conv2d(
                    2 * lat,
                    2 * lat,
                    1,
                    one,
                    vb.pp("quant_conv"),
                )?)
            } else {
                None
            },
            post_quant_conv: if c.use_post_quant_conv {
                Some(candle_nn::conv2d(
                    lat,
                    lat,
                    1,
                    one,
                    vb.pp("post_quant_conv"),
                )?)
            } else {
                None
            },
            dec_conv_in: conv3(d.pp("conv_in"), lat, last)?,
            dec_mid: mid_block(d.pp("mid_block"), last, groups)?,
            dec_up,
            dec_norm: candle_nn::group_norm(groups, ch[0], 1e-6, d.pp("conv_norm_out"))?,
            dec_conv_out: conv3(d.pp("conv_out"), ch[0], c.out_channels)?,
            latent_channels: lat,
            scaling_factor: c.scaling_factor,
            downscale: 1 << (ch.len() - 1),
        })
    }

    /// Mean and log-variance of the latent distribution of `image` (`(b, 3, h, w)` in [-1, 1]).
    pub fn encode(&self, image: &Tensor) -> CandleResult<(Tensor, Tensor)> {
        let mut x = self.enc_conv_in.forward(image)?;
        for block in &self.enc_down {
            x = block.forward(&x)?;
        }
        let x = self.enc_mid.forward(&x, None)?;
        let x = candle_nn::ops::silu(&self.enc_norm.forward(&x)?)?;
        let mut x = self.enc_conv_out.forward(&x)?;
        if let Some(q) = &self.quant_conv {
            x = q.forward(&x)?;
        }
        let mean = x.narrow(1, 0, self.latent_channels)?;
        let logvar = x
            .narrow(1, self.latent_channels, self.latent_channels)?
            .clamp(-30.0, 20.0)?;
        Ok((mean, logvar))
    }

    /// Pixels in [-1, 1] from unscaled latents.
    pub fn decode(&self, latents: &Tensor) -> CandleResult<Tensor> {
        let x = match &self.post_quant_conv {
            Some(p) => p.forward(latents)?,
            None => latents.clone(),
        };
        let mut x = self.dec_mid.forward(&self.dec_conv_in.forward(&x)?, None)?;
        for block in &self.dec_up {
            x = block.forward(&x)?;
        }
        let x = candle_nn::ops::silu(&self.dec_norm.forward(&x)?)?;
        self.dec_conv_out.forward(&x)
    }
}

impl std::fmt::Debug for Vae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vae")
            .field("latent_channels", &self.latent_channels)
            .field("scaling_factor", &self.scaling_factor)
            .finish_non_exhaustive()
    }
}

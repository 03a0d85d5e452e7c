"""Noise-prediction networks eps_theta(s, a_t, t) of the diffusion policies
(:mod:`jaxrl_offline.generative.diffusion` trains and samples them).

``LNResNetDenoiser`` (IDQL's LN_Resnet with learnable Fourier time features) and ``ScoreUNet``
(SfBC's dense U-Net "ScoreNet" with fixed Gaussian Fourier time features). Both take
(obs [N, obs_dim], noisy_action [N, A], time [N, 1]) and return [N, A] noise predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class FourierFeatures(nn.Module):
    """[cos(2 pi t W^T), sin(2 pi t W^T)] with a learnable W of shape [size / 2, 1] ~ N(0, 0.2^2)
    (IDQL ``FourierFeatures(learnable=True)``), or SfBC's fixed Gaussian features
    [sin(2 pi t W), cos(2 pi t W)], W ~ N(0, scale^2), when ``learnable`` is False (the frequencies
    live in ``params`` but are not trained: gradients are stopped)."""

    size: int
    learnable: bool = True
    scale: float = 30.0

    @nn.compact
    def __call__(self, time: jax.Array) -> jax.Array:
        std = 0.2 if self.learnable else self.scale
        kernel = self.param("kernel", nn.initializers.normal(std), (self.size // 2, time.shape[-1]))
        if not self.learnable:
            kernel = jax.lax.stop_gradient(kernel)
        angle = 2.0 * jnp.pi * time @ kernel.T
        pair = ((jnp.cos(angle), jnp.sin(angle)) if self.learnable
                else (jnp.sin(angle), jnp.cos(angle)))
        return jnp.concatenate(pair, axis=-1)


class LNResNetDenoiser(nn.Module):
    """IDQL's LN_Resnet noise predictor eps_theta(s, a_t, t).

    time -> learnable Fourier features (``time_features``) -> MLP ``time_hidden_dims`` (swish, no
    final activation); input concat(a_t, s, time embedding) -> Dense(hidden_dims[0]) -> one residual
    block per entry of ``hidden_dims``: x + Dense_w(act(Dense_4w(LayerNorm(Dropout(x))))) (the skip
    projected by a Dense when widths differ) -> act -> Dense(action_dim). Defaults: 3 blocks of
    256, LayerNorm, dropout 0.1, swish (``ddpm_iql_simple``).
    """

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256, 256)
    time_features: int = 128
    time_hidden_dims: Sequence[int] = (256, 256)
    dropout_rate: float | None = 0.1
    layer_norm: bool = True
    activation: Callable[[jax.Array], jax.Array] = nn.swish

    @nn.compact
    def __call__(self, obs, noisy_action, time, training: bool = False) -> jax.Array:
        xavier = nn.initializers.xavier_uniform()
        cond = FourierFeatures(self.time_features)(time)
        for i, size in enumerate(self.time_hidden_dims):
            cond = nn.Dense(size, kernel_init=xavier)(cond)
            cond = self.activation(cond) if i + 1 < len(self.time_hidden_dims) else cond
        x = nn.Dense(self.hidden_dims[0], kernel_init=xavier)(
            jnp.concatenate([noisy_action, obs, cond], axis=-1))
        for width in self.hidden_dims:
            residual = x if x.shape[-1] == width else nn.Dense(width)(x)
            if self.dropout_rate:
                x = nn.Dropout(self.dropout_rate)(x, deterministic=not training)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = residual + nn.Dense(width)(self.activation(nn.Dense(4 * width)(x)))
        return nn.Dense(self.action_dim, kernel_init=xavier, name="output")(self.activation(x))


class ResidualBlock(nn.Module):
    """SfBC's Residual_Block: h = SiLU(Dense(x)) + Dense(SiLU(e)); SiLU(Dense(h)) + skip(x)."""

    width: int

    @nn.compact
    def __call__(self, x, embedding):
        h = nn.silu(nn.Dense(self.width)(x)) + nn.Dense(self.width)(nn.silu(embedding))
        h = nn.silu(nn.Dense(self.width)(h))
        return h + (x if x.shape[-1] == self.width else nn.Dense(self.width)(x))


class ScoreUNet(nn.Module):
    """SfBC's ScoreNet (dense U-Net), outputting eps = -sigma_t * score.

    Embedding e = Dense(cond) SiLU Dense(cond) of concat(SiLU(Dense_embed(s)), Dense_embed(
    GaussianFourier(t))). Down path: blocks of widths ``hidden_dims`` (512, 256, 128); middle block
    at the last width; up path: block i takes concat(down_i, previous) to width hidden_dims[i - 1];
    output Dense(action_dim) of concat(down_1, previous).
    """

    action_dim: int
    hidden_dims: Sequence[int] = (512, 256, 128)
    embed_dim: int = 32
    cond_dim: int = 128
    fourier_scale: float = 30.0

    @nn.compact
    def __call__(self, obs, noisy_action, time, training: bool = False) -> jax.Array:
        del training  # No dropout: same signature as LNResNetDenoiser.
        time_embedding = nn.Dense(self.embed_dim)(
            FourierFeatures(self.embed_dim, learnable=False, scale=self.fourier_scale)(time))
        obs_embedding = nn.silu(nn.Dense(self.embed_dim)(obs))
        embedding = jnp.concatenate([obs_embedding, time_embedding], axis=-1)
        embedding = nn.Dense(self.cond_dim)(nn.silu(nn.Dense(self.cond_dim)(embedding)))
        down, h = [], noisy_action
        for width in self.hidden_dims:
            h = ResidualBlock(width)(h, embedding)
            down.append(h)
        h = ResidualBlock(self.hidden_dims[-1])(h, embedding)
        for level in range(len(self.hidden_dims) - 1, 0, -1):
            h = ResidualBlock(self.hidden_dims[level - 1])(
                jnp.concatenate([down[level], h], axis=-1), embedding)
        return nn.Dense(self.action_dim, name="output")(jnp.concatenate([down[0], h], axis=-1))

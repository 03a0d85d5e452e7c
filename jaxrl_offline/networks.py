"""Network building blocks shared by every algorithm.

All actors output actions in [-1, 1] (the library's action convention, see ``types.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

Initializer = Callable[..., jax.Array]


def orthogonal_init(scale: float = 1.0) -> Initializer:
    """Orthogonal initializer built from random Householder reflections (no QR decomposition).

    Same role as ``flax.linen.initializers.orthogonal`` (IQL, CQL-CORL and most JAX RL code use
    orthogonal Dense kernels), but computed with matrix-vector products only: on XLA:CPU
    (jax 0.10) a jitted program holding many vmapped QR decompositions, as a vmapped
    multi-network ``init`` does, can deadlock the CPU thread pool. The result is an exactly
    orthogonal matrix (a product of ``n`` reflections with Gaussian directions) truncated to the
    kernel's shape and multiplied by ``scale``.
    """

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        if len(shape) != 2:
            raise ValueError(f"orthogonal_init expects a 2-D kernel shape, got {tuple(shape)}")
        size = max(shape)
        directions = jax.random.normal(key, (size, size), jnp.float32)

        def reflect(index, matrix):
            v = directions[index]
            return matrix - 2.0 * jnp.outer(matrix @ v, v) / jnp.dot(v, v)

        matrix = jax.lax.fori_loop(0, size, reflect, jnp.eye(size, dtype=jnp.float32))
        return (scale * matrix[: shape[0], : shape[1]]).astype(dtype)

    return init


def default_init(scale: float = math.sqrt(2.0)) -> Initializer:
    """Orthogonal initialization with gain ``scale`` (sqrt(2) for ReLU layers)."""
    return orthogonal_init(scale)


# The Dense initializations a network can be built with (``init_scheme``):
#   "orthogonal": orthogonal kernels (gain sqrt(2) in hidden layers, a small or unit gain in the
#                 output layer, see each module) and zero biases: the JAX RL convention (jaxrl,
#                 IQL, FQL, ReBRAC) and this library's default.
#   "pytorch":    ``torch.nn.Linear``'s default in every layer, output layers included: kernel and
#                 bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in)). What the PyTorch references
#                 (TD3+BC's official code, CORL) train with; hidden kernels have about 1/2.4 of
#                 the orthogonal scheme's scale and biases are not zero.
INIT_SCHEMES = ("orthogonal", "pytorch")


def check_init_scheme(init_scheme: str, owner: str) -> None:
    """``ValueError`` naming ``owner`` (e.g. "TD3+BC") unless ``init_scheme`` is in
    ``INIT_SCHEMES``; for a ``Config.__post_init__``, so a bad flag fails before any tracing."""
    if init_scheme not in INIT_SCHEMES:
        raise ValueError(f"{owner} init_scheme must be one of {INIT_SCHEMES}, got "
                         f"{init_scheme!r}")


def pytorch_uniform_init(fan_in: int) -> Initializer:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for any shape: ``torch.nn.Linear``'s default for both
    its weight (kaiming_uniform with a=sqrt(5) reduces to this bound) and its bias."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def dense(features: int, inputs: jax.Array, init_scheme: str = "orthogonal",
          orthogonal_gain: float = math.sqrt(2.0), name: str | None = None) -> jax.Array:
    """``nn.Dense(features)(inputs)`` initialized by ``init_scheme`` (see ``INIT_SCHEMES``);
    ``orthogonal_gain`` is the kernel's gain under "orthogonal" and unused under "pytorch".
    Call inside a compact module; parameter names are ``Dense_i`` under both schemes, so a
    checkpoint's tree does not depend on the scheme."""
    if init_scheme == "orthogonal":
        return nn.Dense(features, kernel_init=orthogonal_init(orthogonal_gain), name=name)(inputs)
    if init_scheme == "pytorch":
        uniform = pytorch_uniform_init(inputs.shape[-1])
        return nn.Dense(features, kernel_init=uniform, bias_init=uniform, name=name)(inputs)
    raise ValueError(f"init_scheme must be one of {INIT_SCHEMES}, got {init_scheme!r}")


class MLP(nn.Module):
    """A multilayer perceptron.

    Attributes:
      hidden_dims: sizes of the hidden layers (and of the output layer if ``activate_final``).
      activation: nonlinearity between layers.
      activate_final: apply activation (and LayerNorm/dropout) after the last layer too.
      layer_norm: LayerNorm after each hidden Dense (ReBRAC/IDQL-style critics).
      dropout_rate: dropout after each hidden activation; ``None`` disables it.
      kernel_init: the Dense kernels' initializer (biases zero), used when ``init_scheme`` is
        "orthogonal".
      init_scheme: "orthogonal" (``kernel_init``) or "pytorch" (``INIT_SCHEMES``).
    """

    hidden_dims: Sequence[int]
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    activate_final: bool = False
    layer_norm: bool = False
    dropout_rate: float | None = None
    kernel_init: Initializer = default_init()
    init_scheme: str = "orthogonal"

    @nn.compact
    def __call__(self, x: jax.Array, training: bool = False) -> jax.Array:
        for i, size in enumerate(self.hidden_dims):
            if self.init_scheme == "orthogonal":
                x = nn.Dense(size, kernel_init=self.kernel_init)(x)
            else:
                x = dense(size, x, self.init_scheme)
            if i + 1 < len(self.hidden_dims) or self.activate_final:
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
                x = self.activation(x)
                if self.dropout_rate is not None and self.dropout_rate > 0:
                    x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=not training)
        return x


class DeterministicActor(nn.Module):
    """a = tanh(MLP(s)): the TD3 / TD3+BC / BC actor.

    Returns:
      [..., action_dim] actions in [-1, 1].
    """

    hidden_dims: Sequence[int]
    action_dim: int
    layer_norm: bool = False
    init_scheme: str = "orthogonal"  # ``INIT_SCHEMES``; "orthogonal": output-layer gain 1e-2

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        features = MLP(self.hidden_dims, activate_final=True, layer_norm=self.layer_norm,
                       init_scheme=self.init_scheme)(obs)
        return nn.tanh(dense(self.action_dim, features, self.init_scheme, orthogonal_gain=1e-2))


class GaussianActor(nn.Module):
    """IQL's policy: N(tanh(mu(s)), exp(log_std)) with a state-independent log-std.

    The distribution itself is not squashed (IQL, ``policy.py``); only the mean goes through tanh.

    Attributes:
      log_std_min: lower clip of the log-std (IQL uses -5).
      log_std_max: upper clip of the log-std (IQL uses 2).
      dropout_rate: dropout in the trunk (IQL uses 0.1 on Kitchen/Adroit).
    """

    hidden_dims: Sequence[int]
    action_dim: int
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    dropout_rate: float | None = None

    init_scheme: str = "orthogonal"  # ``INIT_SCHEMES``; "orthogonal": mean-head gain 1e-2

    @nn.compact
    def __call__(self, obs: jax.Array, training: bool = False) -> distrax.Distribution:
        features = MLP(self.hidden_dims, activate_final=True, dropout_rate=self.dropout_rate,
                       init_scheme=self.init_scheme)(obs, training=training)
        mean = nn.tanh(dense(self.action_dim, features, self.init_scheme, orthogonal_gain=1e-2))
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        log_std = jnp.clip(log_std, self.log_std_min, self.log_std_max)
        return distrax.MultivariateNormalDiag(mean, jnp.broadcast_to(jnp.exp(log_std), mean.shape))


class TanhGaussianActor(nn.Module):
    """SAC/CQL policy: tanh(N(mu(s), sigma(s))) with the change-of-variables correction.

    Attributes:
      log_std_min: lower clip of the state-dependent log-std.
      log_std_max: upper clip of the state-dependent log-std.
      log_std_offset: added to the raw log-std before clipping (JaxCQL/MISA use -1).
      mean_clip: clip of the pre-tanh mean to +-mean_clip (JaxCQL/MISA use 9); ``None``: no clip.
      init_scheme: Dense initialization, ``INIT_SCHEMES``.
    """

    hidden_dims: Sequence[int]
    action_dim: int
    log_std_min: float = -20.0
    log_std_max: float = 2.0
    log_std_offset: float = 0.0
    mean_clip: float | None = None
    init_scheme: str = "orthogonal"  # ``INIT_SCHEMES``; "orthogonal": head gains 1e-2

    @nn.compact
    def __call__(self, obs: jax.Array) -> distrax.Distribution:
        features = MLP(self.hidden_dims, activate_final=True, init_scheme=self.init_scheme)(obs)
        mean = dense(self.action_dim, features, self.init_scheme, orthogonal_gain=1e-2)
        if self.mean_clip is not None:
            mean = jnp.clip(mean, -self.mean_clip, self.mean_clip)
        log_std = dense(self.action_dim, features, self.init_scheme, orthogonal_gain=1e-2)
        log_std = jnp.clip(log_std + self.log_std_offset, self.log_std_min, self.log_std_max)
        base = distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))
        return distrax.Transformed(base, distrax.Block(distrax.Tanh(), ndims=1))


def sample_and_log_prob(distribution: distrax.Distribution, key: jax.Array, sample_shape=()):
    """``distribution.sample_and_log_prob(seed=key, sample_shape=sample_shape)``.

    distrax's ``Normal`` adds its [*batch] parameters to [n, *batch] noise by implicit rank
    promotion, which raises under ``jax_numpy_rank_promotion="raise"`` (set in the tests to catch
    our own silent broadcasts); the promotion is allowed here, inside distrax only.
    """
    with jax.numpy_rank_promotion("allow"):
        return distribution.sample_and_log_prob(seed=key, sample_shape=sample_shape)


def log_prob_of_samples(distribution: distrax.Distribution, values: jax.Array) -> jax.Array:
    """log-densities [*sample, *batch] of ``values`` [*sample, *batch, A] under ``distribution``
    (batch shape [*batch]), broadcasting the distribution over the leading sample axes.

    Evaluating the network once per state and broadcasting its distribution is the same math as
    tiling the states ``num`` times and evaluating the network on every copy, at 1/num of the
    network's cost. Rank promotion is allowed inside distrax only, as in ``sample_and_log_prob``.
    """
    with jax.numpy_rank_promotion("allow"):
        return distribution.log_prob(values)


class StateActionValue(nn.Module):
    """Q(s, a) = MLP([s, a]) -> scalar."""

    hidden_dims: Sequence[int]
    layer_norm: bool = False
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    init_scheme: str = "orthogonal"  # ``INIT_SCHEMES``; "orthogonal": output-layer gain 1

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        inputs = jnp.concatenate([obs, action], axis=-1)
        hidden = MLP(self.hidden_dims, self.activation, activate_final=True,
                     layer_norm=self.layer_norm, init_scheme=self.init_scheme)(inputs)
        return dense(1, hidden, self.init_scheme, orthogonal_gain=1.0)[..., 0]


class EnsembleCritic(nn.Module):
    """``num_critics`` independent Q networks evaluated in one call.

    Returns:
      [num_critics, ...batch] Q-values.
    """

    hidden_dims: Sequence[int]
    num_critics: int = 2
    layer_norm: bool = False
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    init_scheme: str = "orthogonal"  # ``INIT_SCHEMES``

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            StateActionValue,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_critics,
        )
        return ensemble(self.hidden_dims, layer_norm=self.layer_norm, activation=self.activation,
                        init_scheme=self.init_scheme)(obs, action)


class StateValue(nn.Module):
    """V(s) = MLP(s) -> scalar."""

    hidden_dims: Sequence[int]
    layer_norm: bool = False
    init_scheme: str = "orthogonal"  # ``INIT_SCHEMES``; "orthogonal": output-layer gain 1

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        hidden = MLP(self.hidden_dims, activate_final=True, layer_norm=self.layer_norm,
                     init_scheme=self.init_scheme)(obs)
        return dense(1, hidden, self.init_scheme, orthogonal_gain=1.0)[..., 0]


class Temperature(nn.Module):
    """A learned positive scalar exp(log_value), e.g. SAC's entropy coefficient alpha."""

    initial_value: float = 1.0

    @nn.compact
    def __call__(self) -> jax.Array:
        log_value = self.param(
            "log_value", lambda _: jnp.log(jnp.asarray(self.initial_value, jnp.float32))
        )
        return jnp.exp(log_value)

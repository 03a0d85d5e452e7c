"""The update profiler's FLOP attribution (benchmarks/profile_updates.py), on a hand-counted net."""

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from benchmarks import profile_updates
from jaxrl_offline import state as state_lib


class Probe(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(5, use_bias=False)(x).sum()


def test_dot_flops_by_part_counts_forward_and_backward_by_module():
    model = Probe()
    x = jnp.ones((4, 3))
    params = model.init(jax.random.PRNGKey(0), x)
    grad = jax.jit(jax.grad(lambda p: model.apply(p, x)))
    parts = profile_updates.dot_flops_by_part(grad.lower(params).compile().as_text())
    # Forward [4, 3] x [3, 5]: 2 * 4 * 5 * 3 = 120. Backward dW = x^T g, [3, 5] contracting the
    # batch of 4: 2 * 3 * 5 * 4 = 120 (no dx: the input is not differentiated). The outermost
    # module names the part. XLA drops the forward product (the sum's gradient does not need it).
    assert parts["Probe backward"] == 120.0
    assert set(parts) <= {"Probe forward", "Probe backward"}


def test_dot_flops_count_loop_bodies_once_per_iteration():
    def unrolled_seven(x, w):
        def body(carry, _):
            return jnp.tanh(carry @ w), None
        return jax.lax.scan(body, x, None, length=7)[0].sum()

    grad = jax.jit(jax.grad(unrolled_seven, argnums=1))
    parts = profile_updates.dot_flops_by_part(
        grad.lower(jnp.ones((64, 32)), jnp.ones((32, 32))).compile().as_text())
    # Forward: 7 steps of [64, 32] x [32, 32], 2 * 64 * 32 * 32 = 131,072 each. Backward: per
    # step dW and d(carry), two products of the same size.
    assert parts == {"in-loop other forward": 7 * 131_072, "in-loop other backward": 14 * 131_072}


class Carry(struct.PyTreeNode):
    w: jax.Array
    key: jax.Array | None = None


def test_delayed_update_branch_counts_once_per_period():
    # A critic-like product on every update and a TD3-like delayed one (state.delayed_update,
    # period 4): [4, 5] x [5, 5] is 2 * 4 * 5 * 5 = 200 FLOPs, so 200 + 200 / 4 on average.
    def update(step, carry, m):
        carry = carry.replace(w=carry.w @ m)
        def heavy(c):
            return c.replace(w=jnp.tanh(c.w @ m)), {"loss": c.w.sum()}

        return state_lib.delayed_update(heavy, carry, step=step, period=4, phase=3)[0].w

    hlo = jax.jit(update).lower(jnp.int32(0), Carry(w=jnp.ones((4, 5))),
                                jnp.ones((5, 5))).compile().as_text()
    assert "delayed_every_4/cond" in hlo  # The scope the profiler reads.
    assert profile_updates.dot_flops_by_part(hlo) == {"other forward": 200.0 + 200.0 / 4}
    report = {"counting": profile_updates.COUNTING}
    assert "weighted 1/period" in profile_updates._cond_note(report)
    assert "predates" in profile_updates._cond_note({})  # Older reports counted both branches.


def test_parse_overrides():
    assert profile_updates.parse_overrides(["sfbc.num_value_samples=4",
                                            "sfbc.planning_backup=next_state"]) == {
        "sfbc": {"num_value_samples": 4, "planning_backup": "next_state"}}

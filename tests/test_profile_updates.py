"""The update profiler's FLOP attribution (benchmarks/profile_updates.py), on a hand-counted net."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from benchmarks import profile_updates


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


def test_parse_overrides():
    assert profile_updates.parse_overrides(["sfbc.num_value_samples=4",
                                            "sfbc.planning_backup=next_state"]) == {
        "sfbc": {"num_value_samples": 4, "planning_backup": "next_state"}}

"""All four baselines on the generated InvertedPendulum 'mixed' dataset (issue 2's acceptance run).

The data mix 90% weak-controller and 10% expert episodes, so plain BC fails; TD3+BC, IQL and CQL
should each beat it. 64 x 64 networks, 3 vmapped seeds, 20k updates (CQL dominates the time: its
critic loss evaluates 30 sampled actions per state).

    python -m experiments.run --sweep=baselines_invpend
"""

from jaxrl_offline.local_suite.synthetic import DEFAULT_DATASET

# The small-run protocol, also the default sweep's (``default.py``): 3 seeds, 20k updates,
# 64 x 64 networks.
SMALL_RUNS = dict(num_seeds=3, steps=20_000, eval_every=5_000, eval_episodes=5, chunk=1_000,
                  checkpoint_every=5)
SMALL_NETWORKS = {"actor_hidden_dims": (64, 64),
                  "td3_bc": {"critic_hidden_dims": (64, 64)},
                  "iql": {"critic_hidden_dims": (64, 64), "value_hidden_dims": (64, 64)}}

SWEEP = dict(
    algos=("bc", "td3_bc", "iql", "cql"),
    datasets=(DEFAULT_DATASET,),
    **SMALL_RUNS,
    # Records made before TD3+BC's default initialization became PyTorch's (2026-12-06): pinned
    # so the sweep re-plans its committed runs; drop the pin to run the current default.
    config={**SMALL_NETWORKS, "cql": {"critic_hidden_dims": (64, 64)},
            "td3_bc": {**SMALL_NETWORKS["td3_bc"], "init_scheme": "orthogonal"}},
)

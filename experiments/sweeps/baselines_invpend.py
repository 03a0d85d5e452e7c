"""All four baselines on the generated InvertedPendulum 'mixed' dataset (issue 2's acceptance run).

The data mix 90% weak-controller and 10% expert episodes, so plain BC fails; TD3+BC, IQL and CQL
should each beat it. 64 x 64 networks, 3 vmapped seeds, 20k updates (CQL dominates the time: its
critic loss evaluates 30 sampled actions per state).

    python -m experiments.run --sweep=baselines_invpend
"""

from jaxrl_offline.local_suite.synthetic import DEFAULT_DATASET

SWEEP = dict(
    algos=("bc", "td3_bc", "iql", "cql"),
    datasets=(DEFAULT_DATASET,),
    num_seeds=3,
    steps=20_000,
    eval_every=5_000,
    eval_episodes=5,
    chunk=1_000,
    checkpoint_every=5,
    config={"actor_hidden_dims": (64, 64),
            "td3_bc": {"critic_hidden_dims": (64, 64)},
            "iql": {"critic_hidden_dims": (64, 64), "value_hidden_dims": (64, 64)},
            "cql": {"critic_hidden_dims": (64, 64)}},
)

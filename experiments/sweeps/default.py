"""The embedded default sweep: BC, TD3+BC and IQL on a small generated hopper "medium" dataset.

``python -m experiments.run`` with no flags runs it (a few minutes on a 2-core CPU). The dataset,
``jaxrl_offline/hopper/medium-50k-v0`` (50k transitions of the shipped medium SAC policy on
Hopper-v5, D4RL reference scores), is generated locally on first use in seconds
(``jaxrl_offline/local_suite/suite.py``). Networks are 64 x 64 instead of the papers' 256 x 256 and
runs are 20k updates to keep it short; every other hyperparameter is the paper default. The previous
default, the InvertedPendulum "mixed" set, is ``--sweep=baselines_invpend``.
"""

DEFAULT_JOB_DATASET = "jaxrl_offline/hopper/medium-50k-v0"

SWEEP = dict(
    algos=("bc", "td3_bc", "iql"),
    datasets=(DEFAULT_JOB_DATASET,),
    num_seeds=3,
    steps=20_000,
    eval_every=5_000,
    eval_episodes=5,
    chunk=1_000,
    checkpoint_every=5,
    config={"actor_hidden_dims": (64, 64),
            "td3_bc": {"critic_hidden_dims": (64, 64)},
            "iql": {"critic_hidden_dims": (64, 64), "value_hidden_dims": (64, 64)}},
)

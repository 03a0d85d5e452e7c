"""The embedded default sweep: BC, TD3+BC and IQL on a small generated hopper "medium" dataset.

``python -m experiments.run`` with no flags runs it (a few minutes on a 2-core CPU). The dataset,
``jaxrl_offline/hopper/medium-50k-v0`` (50k transitions of the shipped medium SAC policy on
Hopper-v5, D4RL reference scores), is generated locally on first use in seconds
(``jaxrl_offline/local_suite/suite.py``). Networks are 64 x 64 instead of the papers' 256 x 256 and
runs are 20k updates to keep it short; every other hyperparameter is the paper default. The previous
default, the InvertedPendulum "mixed" set, is ``--sweep=baselines_invpend``.
"""

from experiments.sweeps.baselines_invpend import SMALL_NETWORKS, SMALL_RUNS

DEFAULT_JOB_DATASET = "jaxrl_offline/hopper/medium-50k-v0"

SWEEP = dict(
    algos=("bc", "td3_bc", "iql"),
    datasets=(DEFAULT_JOB_DATASET,),
    **SMALL_RUNS,
    config=SMALL_NETWORKS,
)

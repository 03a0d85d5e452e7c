"""The embedded default sweep: BC, TD3+BC and IQL on the generated InvertedPendulum 'mixed' data.

``python -m experiments.run`` with no flags runs it (about 2 min on a 2-core CPU; the dataset
is generated locally on first use). The data mix 90% weak-controller and 10% expert episodes,
chosen so that plain BC fails while value-based methods can pick out the expert actions
(``jaxrl_offline/synthetic.py``). Networks are 64 x 64 instead of the papers' 256 x 256 to keep it
short; every other hyperparameter is the paper default.
"""

from jaxrl_offline.synthetic import DEFAULT_DATASET

SWEEP = dict(
    algos=("bc", "td3_bc", "iql"),
    datasets=(DEFAULT_DATASET,),
    num_seeds=3,
    steps=20_000,
    eval_every=4_000,
    eval_episodes=5,
    chunk=1_000,
    checkpoint_every=5,
    config={"hidden_dims": (64, 64)},
)

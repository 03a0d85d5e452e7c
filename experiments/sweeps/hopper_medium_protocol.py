"""TD3+BC and IQL on ``jaxrl_offline/hopper/medium-v0`` with the papers' protocol.

10 seeds x 1M updates (paper hyperparameters, 256 x 256 networks), evaluated every 5k updates with
10 episodes per seed: the runs ``benchmarks/gpu_check.sh`` makes with the time a lent GPU has left
(on this project's 2-core CPU one such run would take days). Chunks of 5k updates (one jitted
scan between evaluations) and a checkpoint every 100k updates.
Published D4RL hopper-medium-v2 scores: TD3+BC 59.3, IQL 66.3 (IQL paper Table 1).

    python -m experiments.make_datasets --envs=hopper --kinds=medium   # or generated on first use
    python -m experiments.run --sweep=hopper_medium_protocol
"""

from experiments.sweeps import hopper_medium

# ``hopper_medium``'s runs (algorithms, dataset, 10 episodes per evaluation) at the papers' scale.
SWEEP = {**hopper_medium.SWEEP, "num_seeds": 10, "steps": 1_000_000, "eval_every": 5_000,
         "chunk": 5_000, "checkpoint_every": 20}

"""BC on every dataset of the local D4RL-style suite (issue 17's check of the suite's character).

On D4RL, BC lands near the behavior policy's level on single-policy data (random, medium, expert)
and between the levels on mixtures; this sweep checks that the generated suite behaves the same.
256 x 256 actor (BC's defaults, CORL's sizes), 3 vmapped seeds, 100k updates (10% of the papers'
1M), 10 evaluation episodes every 10k updates. About 20 min per dataset on one idle core.

Run one environment at a time, once its datasets exist from the current behavior policies (a
dataset generated from a superseded policy is refused with the command that regenerates it), in a
workdir outside the work tree, then copy the finished records into the repository:

    python -m experiments.run --sweep=bc_suite --workdir=$HOME/.jaxrl_offline/bc_suite \\
        --datasets=jaxrl_offline/hopper/random-v0,jaxrl_offline/hopper/medium-v0,...
    experiments/queue_bc_suite.sh hopper walker2d      # the same, resumable, per environment
"""

from experiments.sweeps import hopper_medium

SUITE_ENVS = ("halfcheetah", "hopper", "walker2d")
SUITE_KINDS = ("random", "medium", "medium-replay", "medium-expert", "expert")

# hopper_medium's evaluation protocol (10 episodes every 10k updates, 1k-update chunks).
SWEEP = {**hopper_medium.SWEEP, "algos": ("bc",), "num_seeds": 3, "steps": 100_000,
         "checkpoint_every": 10,
         "datasets": tuple(f"jaxrl_offline/{env}/{kind}-v0" for env in SUITE_ENVS
                           for kind in SUITE_KINDS)}

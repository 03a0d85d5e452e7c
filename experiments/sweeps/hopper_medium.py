"""TD3+BC and IQL on the generated D4RL-style ``jaxrl_offline/hopper/medium-v0`` (1M transitions).

Issue 4's acceptance run: paper hyperparameters and 256 x 256 networks, 2 seeds, 50k updates (a
quarter of an hour on an idle 2-core CPU; the papers use 1M updates and 5-10 seeds), evaluated
every 10k updates with 10 episodes per seed.
Published D4RL hopper-medium-v2 scores are about 55-70 (TD3+BC 59.3, IQL 66.3; IQL paper Table 1).

    python -m experiments.make_datasets --envs=hopper --kinds=medium   # or generated on first use
    python -m experiments.run --sweep=hopper_medium
"""

SWEEP = dict(
    algos=("td3_bc", "iql"),
    datasets=("jaxrl_offline/hopper/medium-v0",),
    num_seeds=2,
    steps=50_000,
    eval_every=10_000,
    eval_episodes=10,
    chunk=1_000,
    checkpoint_every=5,
    # Records made before TD3+BC's default initialization became PyTorch's (2026-12-06): pinned
    # so the sweep re-plans its committed runs; drop the pin to run the current default.
    config=dict(td3_bc=dict(init_scheme="orthogonal")),
)

"""Issue 6's comparison: IQL, IDQL and SfBC on the same local datasets, steps and seeds.

The datasets of ``td3_family.py`` (generated hopper medium and a random + expert mixture). The
diffusion methods cost far more per update and per action than IQL (IDQL: 64 candidates x 5
denoising steps of a 3-block residual MLP per action; SfBC: a U-Net evaluated for 16 value
samples x 15 solver steps per critic row), so on a 2-core CPU this is a smoke-scale run with
reductions, each recorded in the run's ``overrides``:

* all methods: 2 seeds, 2k updates, batch 256, one final evaluation of 5 episodes per seed;
* IDQL: 32 action candidates (paper 64), a critic step every update (the code's 1:1 schedule; the
  paper's 2:1 would give the critic 1k steps); the EMA of the sampling weights warms up
  (``actor_ema_warmup``, the default), so they are not still 13.5% initialization after 2k;
* SfBC: U-Net widths (256, 128, 64) (paper 512-256-128), 12 DPM-Solver steps (15; the fewest that
  ``sfbc.Config`` accepts at order 3: 5 gave raw samples out to +-69, hidden by the clip), 4
  value samples per state (16) on 128 critic rows.

The IDQL and SfBC records of the first version of this sweep (5 solver steps; EMA without
warm-up) were removed; rerunning them did not fit the shared 2-core CPU at the time.

Paper settings (1M updates, full sizes) are one ``--config`` away, for a GPU.

    python -m experiments.run --sweep=diffusion
"""

SWEEP = dict(
    algos=("iql", "idql", "sfbc"),
    datasets=("jaxrl_offline/hopper/medium-v0",
              "jaxrl_offline/hopper/random-100k-v0+jaxrl_offline/hopper/expert-100k-v0"),
    num_seeds=2,
    steps=2_000,
    eval_every=0,
    eval_episodes=5,
    chunk=500,
    checkpoint_every=1,
    config=dict(
        batch_size=256,
        idql=dict(num_candidates=32, critic_every=1),
        sfbc=dict(score_unet_hidden_dims=(256, 128, 64), sampling_steps=12, num_value_samples=4,
                  critic_batch_size=128),
    ),
)

"""Issue 5's comparison: TD3+BC, TD3-RKL, ReBRAC and MISA on the same local datasets.

Generated hopper data (``jaxrl_offline/hopper/...``, made on first use from the shipped behavior
policies): medium, and the random + expert mixture of the kind TD3-RKL's paper studies. Paper
networks and hyperparameters (ReBRAC's per-dataset coefficients from ``experiments/overrides.py``),
the same 2 seeds and 5k updates for every method, one final evaluation of 10 episodes per seed:
what a 2-core CPU shared with other jobs afforded (papers: 1M updates).

One CPU reduction, stated in every record's ``overrides``: MISA's unbiased-gradient MCMC draws 10
samples after 2 burn-in steps instead of 50 after 5 (at the paper's setting MISA runs ~3 updates/s
on a CPU core).

    python -m experiments.run --sweep=td3_family
"""

SWEEP = dict(
    algos=("td3_bc", "td3_rkl", "rebrac", "misa"),
    datasets=("jaxrl_offline/hopper/medium-v0",
              "jaxrl_offline/hopper/random-100k-v0+jaxrl_offline/hopper/expert-100k-v0"),
    num_seeds=2,
    steps=5_000,
    eval_every=0,
    eval_episodes=10,
    chunk=1_000,
    checkpoint_every=2,
    config=dict(mcmc_num_samples=10, mcmc_burnin_steps=2),
)

"""Offline -> online fine-tuning on the local hopper and halfcheetah medium datasets (issue 7).

ACA (``aca``: SAC+ML offline, then the aligned critic log pi_0 + Z fine-tuned with SAC), the same
without alignment (``sac_ml``: online SAC from the offline critic), and naive fine-tuning of IQL
and TD3+BC (their own updates continue online on a buffer that starts with the offline data).
Each run: 5k offline updates, then 5k env steps in the dataset's eval env with one update per
env step (learning calls of 10 updates, so the acting policy is at most 10 updates old),
evaluated every 1k env steps with 5 episodes per seed; 2 vmapped seeds, 64 x 64 networks (the
papers use 256 x 256, 0.5-1M offline updates and 0.25-1M online steps: this is the CPU-sized
version that a shared 2-core machine afforded; scale ``steps``/``online_steps`` up on a GPU).

    python -m experiments.run --sweep=offline_to_online
    # tiny end-to-end check (minutes): add --steps=200 --chunk=100 --eval_every=100
    #   --online_steps=100 --online_eval_every=50 --eval_episodes=1 --max_episode_steps=50
    #   --num_seeds=1 --workdir=/tmp/o2o

Tables: ``workdir/offline_to_online/tables/online.md`` (offline -> online scores, cumulative
regret); curves: ``plots/<dataset>_online.png``.
"""

SWEEP = dict(
    algos=("aca", "sac_ml", "iql", "td3_bc"),
    datasets=("jaxrl_offline/hopper/medium-50k-v0", "jaxrl_offline/halfcheetah/medium-50k-v0"),
    num_seeds=2,
    steps=5_000,
    eval_every=0,
    eval_episodes=5,
    chunk=1_000,
    checkpoint_every=5,
    online_steps=5_000,
    online_eval_every=1_000,
    online_update_every=10,
    # Records made before TD3+BC's default initialization became PyTorch's (2026-12-06): pinned
    # so the sweep re-plans its committed runs; drop the pin to run the current default.
    config={"actor_hidden_dims": (64, 64), "critic_hidden_dims": (64, 64),
            "iql": {"value_hidden_dims": (64, 64)}, "td3_bc": {"init_scheme": "orthogonal"}},
)

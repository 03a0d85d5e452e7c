"""TD3-RKL paper: TD3-RKL and TD3+BC on D4RL locomotion and on mixed datasets.

The paper's tables, its mixed-dataset definitions and its numbers were not recovered (spec §3.4,
``experiments/published_tables/td3_rkl_paper.json``), so this sweep runs the spec's
reconstruction: the five standard kinds per env and the natural mixtures of them (random+expert,
random+medium, random+medium+expert; medium+expert is D4RL's medium-expert), with TD3+BC's
protocol (5 seeds, 1M updates, 10 episodes every 5k). TD3+BC's own v2 numbers are the published
column where they exist. Data source and workdir: see ``iql_table1.py`` (``JAXRL_OFFLINE_DATA``).

    python -m experiments.run --sweep=td3_rkl_table
    python -m experiments.tables --sweep=td3_rkl_table
"""

from experiments import tasks

TASKS = tasks.locomotion_tasks(
    ("random", "medium", "medium-replay", "medium-expert", "expert", "random+expert",
     "random+medium", "random+medium+expert"))
PUBLISHED = ("td3_bc_paper_v2", "td3_rkl_paper")

SWEEP = tasks.paper_sweep("td3_rkl_table", TASKS, algos=("td3_rkl", "td3_bc"), num_seeds=5,
                          steps=1_000_000, eval_every=5_000)

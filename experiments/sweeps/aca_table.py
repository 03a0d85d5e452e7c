"""ACA paper: the datasets of its offline-to-online experiments (the paper reports learning
curves, not a score table; ``experiments/published_tables/aca_paper.json``).

Offline stage: 500k SAC+ML updates on halfcheetah / hopper / walker2d x random, medium,
medium-replay, medium-expert (and AntMaze off the local suite); the online stage (100k
environment steps, one update each, evaluation every 1000 steps with 10 episodes) is added by the
runner's online fine-tuning flags. This file only lists the datasets and the offline stage; it
needs the ``aca`` algorithm to be registered. Data source and workdir: see ``iql_table1.py``
(``JAXRL_OFFLINE_DATA``).

    python -m experiments.run --sweep=aca_table
"""

from experiments import tasks

TASKS = tasks.locomotion_tasks(("random", "medium", "medium-replay", "medium-expert")) + [
    f"antmaze-{maze}" for maze in tasks.ANTMAZE_MAZES]
PUBLISHED = ("aca_paper",)

SWEEP = tasks.paper_sweep("aca_table", TASKS, algos=("aca",), num_seeds=5,
                          steps=500_000, eval_every=50_000)

"""IDQL paper, Table 1: IDQL, IQL and CQL on D4RL locomotion, plus AntMaze off the local suite.

The paper's protocol: 10 seeds; IDQL-1 trains the critic 1M and the actor 2M steps (``idql``'s
default schedule: two actor steps per critic step inside one update, so 1M updates), IDQL-A
1.5M / 3M. Published columns: "-A" (any tuning, each method's own paper) and "-1" (one setting
per domain, the IDQL authors' reruns). Data source and workdir: see ``iql_table1.py``
(``JAXRL_OFFLINE_DATA``). Published numbers beside ours: ``python -m experiments.tables
--sweep=idql_table1``.

    python -m experiments.run --sweep=idql_table1
"""

from experiments import tasks

TASKS = tasks.locomotion_tasks(("medium", "medium-replay", "medium-expert")) + [
    f"antmaze-{maze}" for maze in tasks.ANTMAZE_MAZES]
PUBLISHED = ("idql_paper_table1_one_setting", "idql_paper_table1_tuned")

SWEEP = tasks.paper_sweep("idql_table1", TASKS, algos=("idql", "iql", "cql"), num_seeds=10,
                          steps=1_000_000, eval_every=250_000)

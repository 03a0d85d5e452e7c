"""IQL paper, Table 1: BC, TD3+BC, CQL and IQL on D4RL locomotion (and AntMaze off the local suite).

The paper's protocol: 1M updates, 10 seeds, 10 evaluation episodes (the IQL code uses 100 on
AntMaze), final score. On the local suite (default) the nine locomotion tasks are the regenerated
``jaxrl_offline/<env>/<kind>-v0`` datasets (generated on first use); with
``JAXRL_OFFLINE_DATA=minari`` or ``=d4rl:<dir>`` the same tasks run on Minari's or D4RL's data
(AntMaze included; Minari has no medium-replay) in ``workdir/iql_table1-<source>``. Published
numbers beside ours: ``python -m experiments.tables --sweep=iql_table1``.

    python -m experiments.run --sweep=iql_table1                              # the paper's protocol
    python -m experiments.run --sweep=iql_table1 --steps=20000 --num_seeds=3  # a CPU-sized version
"""

from experiments import tasks

TASKS = tasks.locomotion_tasks(("medium", "medium-replay", "medium-expert")) + [
    f"antmaze-{maze}" for maze in tasks.ANTMAZE_MAZES]
PUBLISHED = ("iql_paper_table1", "corl_last")

SWEEP = tasks.paper_sweep("iql_table1", TASKS, algos=("bc", "td3_bc", "cql", "iql"), num_seeds=10,
                          steps=1_000_000, eval_every=5_000)

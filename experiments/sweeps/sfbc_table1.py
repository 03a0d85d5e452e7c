"""SfBC paper, Table 1: SfBC (and IQL, the baseline column we have) on D4RL locomotion, in the
paper's row order (medium-expert, medium, medium-replay), plus AntMaze off the local suite.

The paper's protocol: 4 seeds, 20 evaluation episodes (100 on AntMaze). The official pipeline is
staged (behavior model, then K planning rounds); here the K rounds are phases of ``--steps``
updates (``sfbc`` module docstring), 1M by default. SfBC is slow on a CPU (see the speed table):
``--config.planning_backup=next_state --config.num_value_samples=4`` is ~7x cheaper. Data source
and workdir: see ``iql_table1.py`` (``JAXRL_OFFLINE_DATA``). Published numbers beside ours:
``python -m experiments.tables --sweep=sfbc_table1``.

    python -m experiments.run --sweep=sfbc_table1
"""

from experiments import tasks

TASKS = tasks.locomotion_tasks(("medium-expert", "medium", "medium-replay")) + [
    f"antmaze-{maze}" for maze in tasks.ANTMAZE_MAZES]
PUBLISHED = ("sfbc_paper_table1",)

SWEEP = tasks.paper_sweep("sfbc_table1", TASKS, algos=("sfbc", "iql"), num_seeds=4,
                          steps=1_000_000, eval_every=50_000, eval_episodes=20)

"""MISA paper, gym-locomotion results: MISA, and CQL and TD3+BC (the algorithms MISA reduces to),
on the nine D4RL locomotion tasks.

The official code trains 1.2M updates and evaluates 10 deterministic episodes every 10k; the
paper's seed count is not known (5 here, the spec's default). The published MISA means are
recalled, not read from the paper (their sum matches the abstract's 742.9; see
``experiments/published_tables/misa_paper.json``). Data source and workdir: see ``iql_table1.py``
(``JAXRL_OFFLINE_DATA``). Published numbers beside ours: ``python -m experiments.tables
--sweep=misa_table``.

    python -m experiments.run --sweep=misa_table
"""

from experiments import tasks

TASKS = tasks.locomotion_tasks(("medium", "medium-replay", "medium-expert"))
PUBLISHED = ("misa_paper", "corl_last")

SWEEP = tasks.paper_sweep("misa_table", TASKS, algos=("misa", "cql", "td3_bc"), num_seeds=5,
                          steps=1_200_000, eval_every=10_000)

"""Each founding paper's claim, shown on data built to show it (issue 15).

    python -m benchmarks.claims --claim=bimodal
    python -m benchmarks.claims --claim=mixed [--part=locomotion]
    python -m benchmarks.claims --claim=aca

One module per claim (``bimodal``: SfBC / IDQL, expressive behavior models; ``mixed``: TD3-RKL on
mixed data, its locomotion part in ``mixed_locomotion``; ``aca``: ACA's offline -> online
fine-tuning against SAC+ML and naive IQL / TD3+BC), each writing a
record, a table and a plot under ``benchmarks/results/claims/<claim>/``; ``metrics`` holds the
offline -> online measures (initial drop, time to recover, cumulative regret) for the ACA claim.
The README's "Claims" section is generated from the records by ``python -m benchmarks.readme``.
"""

from benchmarks.claims import bimodal, mixed_report  # noqa: E402  (after the docstring)


def _locomotion_table(record: dict) -> str:
    """``mixed_locomotion.table_markdown``, imported on use (it pulls in the runner)."""
    from benchmarks.claims import mixed_locomotion

    return mixed_locomotion.table_markdown(record)


def _aca_table(record: dict) -> str:
    """``aca.table_markdown``, imported on use (its module imports the runner's callers)."""
    from benchmarks.claims import aca

    return aca.table_markdown(record)


TITLES = {"bimodal": "SfBC and IDQL: expressive behavior models pick a mode, a Gaussian averages",
          "mixed": "TD3-RKL: a per-state, mode-seeking BC weight on mixed data (low-dimensional)",
          "mixed_locomotion": "TD3-RKL against TD3+BC on hopper mixtures",
          "aca": "ACA offline -> online: initial drop, recovery and regret against SAC+ML and "
                 "naive fine-tuning"}
TABLES = {"bimodal": bimodal.table_markdown,  # Claim -> its record's markdown table.
          "mixed": mixed_report.table_markdown, "mixed_locomotion": _locomotion_table,
          "aca": _aca_table}
PENDING = ("ACA offline-to-online (pending: not run yet; implemented: `python -m "
           "benchmarks.claims --claim=aca`, hopper medium, ACA / SAC+ML / IQL / TD3+BC, 500k "
           "offline updates then 100k online env steps, 5 seeds: about 20 hours on the 2-core "
           "CPU, estimated), a locomotion "
           "mixture for the bimodal claim, TD3-RKL's locomotion part (implemented, not run: "
           "`python -m benchmarks.claims --claim=mixed --part=locomotion`, about a day and a "
           "half on the 2-core CPU), and the other founding papers' claims of issue 15.")

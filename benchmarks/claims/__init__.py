"""Each founding paper's claim, shown on data built to show it (issue 15).

    python -m benchmarks.claims --claim=bimodal
    python -m benchmarks.claims --claim=mixed [--part=locomotion]
    python -m benchmarks.claims --claim=misa_cql

One module per claim (``bimodal``: SfBC / IDQL, expressive behavior models; ``mixed``: TD3-RKL on
mixed data, its locomotion part in ``mixed_locomotion``; ``misa_cql``: MISA against CQL, score
and Q overestimation, with ``locomotion`` holding what the locomotion claims share), each writing a
record, a table and a plot under ``benchmarks/results/claims/<claim>/``; ``metrics`` holds the
offline -> online measures (initial drop, time to recover, cumulative regret) for the ACA claim.
The README's "Claims" section is generated from the records by ``python -m benchmarks.readme``.
"""

import importlib

from benchmarks.claims import bimodal, mixed_report  # noqa: E402  (after the docstring)


def _table_on_use(module: str):
    """``benchmarks.claims.<module>.table_markdown``, imported on use (the locomotion claims'
    modules pull in the runner)."""
    def table_markdown(record: dict) -> str:
        return importlib.import_module(f"benchmarks.claims.{module}").table_markdown(record)

    return table_markdown


TITLES = {"bimodal": "SfBC and IDQL: expressive behavior models pick a mode, a Gaussian averages",
          "mixed": "TD3-RKL: a per-state, mode-seeking BC weight on mixed data (low-dimensional)",
          "mixed_locomotion": "TD3-RKL against TD3+BC on hopper mixtures",
          "misa_cql": "MISA against CQL: score and Q overestimation at equal data, updates and "
                      "critic"}
TABLES = {"bimodal": bimodal.table_markdown,  # Claim -> its record's markdown table.
          "mixed": mixed_report.table_markdown, "mixed_locomotion": _table_on_use("mixed_locomotion"),
          "misa_cql": _table_on_use("misa_cql")}
PENDING = ("ACA offline-to-online (the drop / recovery / regret metric is "
           "`benchmarks.claims.metrics.drop_and_recovery`; no benchmark run yet), a locomotion "
           "mixture for the bimodal claim, TD3-RKL's locomotion part (implemented, not run: "
           "`python -m benchmarks.claims --claim=mixed --part=locomotion`, about a day and a "
           "half on the 2-core CPU), MISA against CQL (pending: not run yet; implemented: "
           "`python -m benchmarks.claims --claim=misa_cql`, 1.2M updates x 5 seeds on "
           "hopper-medium, about 6 weeks on the 2-core CPU, a GPU's work), and the other "
           "founding papers' claims of issue 15.")

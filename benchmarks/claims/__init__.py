"""Each founding paper's claim, shown on data built to show it (issue 15).

    python -m benchmarks.claims --claim=bimodal

One module per claim (``bimodal``: SfBC / IDQL, expressive behavior models), each writing a
record, a table and a plot under ``benchmarks/results/claims/<claim>/``; ``metrics`` holds the
offline -> online measures (initial drop, time to recover, cumulative regret) for the ACA claim.
The README's "Claims" section is generated from the records by ``python -m benchmarks.readme``.
"""

from benchmarks.claims import bimodal  # noqa: E402  (after the docstring)

TITLES = {"bimodal": "SfBC and IDQL: expressive behavior models pick a mode, a Gaussian averages"}
TABLES = {"bimodal": bimodal.table_markdown}  # Claim -> its record's markdown table.
PENDING = ("ACA offline-to-online (the drop / recovery / regret metric is "
           "`benchmarks.claims.metrics.drop_and_recovery`; no benchmark run yet), a locomotion "
           "mixture for the bimodal claim, and the other founding papers' claims of issue 15.")

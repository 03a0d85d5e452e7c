"""Each founding paper's claim, shown on data built to show it (issue 15).

    python -m benchmarks.claims --claim=bimodal
    python -m benchmarks.claims --claim=mixed [--part=locomotion]
    python -m benchmarks.claims --claim=misa_cql
    python -m benchmarks.claims --claim=aca

One module per claim (``bimodal``: SfBC / IDQL, expressive behavior models; ``mixed``: TD3-RKL on
mixed data, its locomotion part in ``mixed_locomotion``; ``misa_cql``: MISA against CQL, score
and Q overestimation, with ``locomotion`` holding what the locomotion claims share; ``aca``: ACA's
offline -> online fine-tuning against SAC+ML and naive IQL / TD3+BC), each writing a
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
                      "critic",
          "aca": "ACA offline -> online: initial drop, recovery and regret against SAC+ML and "
                 "naive fine-tuning"}
TABLES = {"bimodal": bimodal.table_markdown,  # Claim -> its record's markdown table.
          "mixed": mixed_report.table_markdown, "mixed_locomotion": _table_on_use("mixed_locomotion"),
          "misa_cql": _table_on_use("misa_cql"), "aca": _table_on_use("aca")}
# Claim parts with no committed record yet -> what is implemented and its estimated full cost.
# The README lists those whose record (``benchmarks/results/claims/<key>/record.json``) is absent.
PENDING = {
    "aca": "ACA offline-to-online (implemented: `python -m benchmarks.claims --claim=aca`, hopper "
           "medium, ACA / SAC+ML / IQL / TD3+BC, 500k offline updates then 100k online env "
           "steps, 5 seeds: about 20 hours on the 2-core CPU, estimated)",
    "bimodal_locomotion": "a locomotion mixture for the bimodal claim (not implemented)",
    "mixed_locomotion": "TD3-RKL's locomotion part (implemented: `python -m benchmarks.claims "
                        "--claim=mixed --part=locomotion`, about a day and a half on the 2-core "
                        "CPU)",
    "misa_cql": "MISA against CQL (implemented: `python -m benchmarks.claims --claim=misa_cql`, "
                "1.2M updates x 5 seeds on hopper-medium, about 6 weeks on the 2-core CPU, a "
                "GPU's work)",
}


def pending_text(recorded: set[str]) -> str:
    """The README's "no benchmark yet" sentence for the ``PENDING`` parts not in ``recorded``."""
    missing = [text for key, text in PENDING.items() if key not in recorded]
    if not missing:
        return "none."
    return "; ".join(missing) + "."

"""Each founding paper's claim, shown on data built to show it (issue 15).

    python -m benchmarks.claims --claim=bimodal [--part=locomotion]
    python -m benchmarks.claims --claim=mixed [--part=locomotion]
    python -m benchmarks.claims --claim=misa_cql
    python -m benchmarks.claims --claim=aca

One module per claim (``bimodal``: SfBC / IDQL, expressive behavior models, its locomotion part
(behavior models on a hopper mixture with known modes) in ``bimodal_locomotion``; ``mixed``: TD3-RKL
on mixed data, its locomotion part in ``mixed_locomotion``; ``misa_cql``: MISA against CQL, score
and Q overestimation, with ``locomotion`` holding what the locomotion claims share; ``aca``: ACA's
offline -> online fine-tuning against SAC+ML and naive IQL / TD3+BC), each writing a
record, a table and a plot under ``benchmarks/results/claims/<claim>/``; ``metrics`` holds the
offline -> online measures (initial drop, time to recover, cumulative regret) for the ACA claim.
The README's "Claims" section is generated from the records by ``python -m benchmarks.readme``.
"""

import importlib

from benchmarks.claims import bimodal, mixed_report  # noqa: E402  (after the docstring)


def _on_use(module: str, function: str = "table_markdown"):
    """``benchmarks.claims.<module>.<function>``, imported on use (the locomotion claims'
    modules pull in the runner)."""
    def call(record: dict):
        return getattr(importlib.import_module(f"benchmarks.claims.{module}"), function)(record)

    return call


TITLES = {"bimodal": "SfBC and IDQL: expressive behavior models pick a mode, a Gaussian averages",
          "bimodal_locomotion": "SfBC and IDQL on hopper: diffusion behavior models keep two "
                                "known modes, a Gaussian fit averages them",
          "mixed": "TD3-RKL: a per-state, mode-seeking BC weight on mixed data (low-dimensional)",
          "mixed_locomotion": "TD3-RKL against TD3+BC on hopper mixtures",
          "misa_cql": "MISA against CQL: score and Q overestimation at equal data, updates and "
                      "critic",
          "aca": "ACA offline -> online: initial drop, recovery and regret against SAC+ML and "
                 "naive fine-tuning"}
TABLES = {"bimodal": bimodal.table_markdown,  # Claim -> its record's markdown table.
          "bimodal_locomotion": _on_use("bimodal_locomotion"),
          "mixed": mixed_report.table_markdown, "mixed_locomotion": _on_use("mixed_locomotion"),
          "misa_cql": _on_use("misa_cql"), "aca": _on_use("aca")}
# Claims whose budget can be cut to fit the CPU -> whether a record's run was reduced.
REDUCED = {"misa_cql": _on_use("misa_cql", "is_reduced"), "aca": _on_use("aca", "is_reduced"),
           "bimodal_locomotion": _on_use("bimodal_locomotion", "is_reduced"),
           "mixed_locomotion": _on_use("mixed_locomotion", "is_reduced")}
# Claim parts with no committed record yet -> what is implemented and its estimated full cost.
# The README lists those whose record (``benchmarks/results/claims/<key>/record.json``) is absent
# or was made at a reduced budget (then as "at the full protocol").
PENDING = {
    "aca": "ACA offline-to-online (implemented: `python -m benchmarks.claims --claim=aca`, hopper "
           "medium, ACA / SAC+ML / IQL / TD3+BC, 500k offline updates then 100k online env "
           "steps, 5 seeds: about 20 hours on the 2-core CPU, estimated)",
    "bimodal_locomotion": "the bimodal claim's hopper part (implemented: `python -m "
                          "benchmarks.claims --claim=bimodal --part=locomotion`, behavior models "
                          "only; its default reduced run, 10k updates of batch 256 per model "
                          "and seed, 3 seeds, took 45 minutes of one core beside another job; "
                          "the papers' behavior-model budgets, millions of updates of batch "
                          "1024-4096, are days)",
    "mixed_locomotion": "TD3-RKL's locomotion part (implemented: `python -m benchmarks.claims "
                        "--claim=mixed --part=locomotion`, about a day and a half on the 2-core "
                        "CPU)",
    "misa_cql": "MISA against CQL (implemented: `python -m benchmarks.claims --claim=misa_cql`, "
                "1.2M updates x 5 seeds on hopper-medium, about 6 weeks on the 2-core CPU, a "
                "GPU's work)",
}


def pending_text(recorded: dict[str, dict]) -> str:
    """The README's closing sentences on the ``PENDING`` parts: those with no record in
    ``recorded`` (claim -> its record), then those whose record ran at a reduced budget (the full
    protocol is implemented and estimated, not run)."""
    missing = [text for key, text in PENDING.items() if key not in recorded]
    reduced = [text for key, text in PENDING.items()
               if key in recorded and key in REDUCED and REDUCED[key](recorded[key])]
    sentences = [f"Claims with no record yet: {'; '.join(missing) or 'none'}."]
    if reduced:
        sentences.append("Claims recorded only at a reduced budget (the full protocol is "
                         f"implemented, not run): {'; '.join(reduced)}.")
    return " ".join(sentences)

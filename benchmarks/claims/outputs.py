"""The files every claim benchmark ends with: ``record.json``, ``table.md`` and the plot."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from jaxrl_offline.reporting import results


def write_outputs(record: dict, out: pathlib.Path, plot: Callable[[dict, pathlib.Path], None],
                  table_markdown: Callable[[dict], str], *, announce: bool = True) -> None:
    """Writes ``<out>/{record.json, table.md, <record["plot"]>}``, all from ``record``, and
    prints the table; with ``announce``, then the files written and the record's wall time
    (``--render`` regenerates from a record and says so itself)."""
    plot(record, out / record["plot"])
    results.dump_json(out / "record.json", record)
    table = table_markdown(record)
    results.dump_text(out / "table.md", table)
    print(table)
    if announce:
        wall = "" if record.get("wall_s") is None else f" ({record['wall_s']:.0f} s)"
        print(f"{out}: record.json, table.md, {record['plot']}{wall}")

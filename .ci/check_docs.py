"""After the Sphinx build: every field of every algorithm's ``Config`` has its own entry.

tests/test_algorithms.py checks that each field is named in the ``Attributes:`` docstring; this
checks that napoleon turned each one into a documented attribute of the built reference (a
mis-indented entry silently becomes text of the previous one). Usage:
``python .ci/check_docs.py docs/_build/html``.
"""

import dataclasses
import pathlib
import sys

from jaxrl_offline.algorithms import ALGORITHMS


def main(html_dir: str) -> int:
    page = (pathlib.Path(html_dir) / "algorithms.html").read_text()
    missing = [f"{module.__name__}.Config.{field.name}"
               for module in ALGORITHMS.values() for field in dataclasses.fields(module.Config)
               if f'id="{module.__name__}.Config.{field.name}"' not in page]
    count = sum(len(dataclasses.fields(module.Config)) for module in ALGORITHMS.values())
    if missing:
        print(f"Config fields without an entry in the API reference: {missing}")
        return 1
    print(f"API reference: all {count} Config fields of {len(ALGORITHMS)} algorithms documented.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

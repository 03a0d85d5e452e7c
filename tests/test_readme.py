"""The README's code runs as written."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    block = re.search(
        r"<!-- readme-example:begin -->\s*```python\n(.*?)```\s*<!-- readme-example:end -->",
        text,
        re.S,
    )
    assert block, "README lost its marked example"
    return block.group(1)


def test_readme_component_example_runs(minari_root, capsys):
    namespace: dict = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)
    assert "critic loss:" in capsys.readouterr().out
    actions = np.asarray(namespace["actions"])
    assert actions.shape == (5, namespace["info"].action_dim)
    assert np.all(np.abs(actions) <= 1.0)


def test_readme_opens_with_install_and_test_commands():
    first_block = README.read_text().split("```")[1]
    assert 'pip install -e ".[test]"' in first_block and "python -m experiments.run" in first_block
    assert "python -m pytest -n 2" in first_block

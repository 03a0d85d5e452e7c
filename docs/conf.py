"""Sphinx configuration of the API reference (``docs/``).

Build: ``pip install -e ".[docs]"`` then
``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (warnings are errors in CI).
"""

import pathlib
import re
import sys

# The checkout's packages, ahead of any installed copy: the reference documents this tree.
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jaxrl_offline  # noqa: E402

project = "jaxrl_offline"
author = "jaxrl_offline developers"
copyright = "jaxrl_offline developers"  # noqa: A001 (Sphinx's name)
release = version = jaxrl_offline.__version__

extensions = [
    "sphinx.ext.autodoc",  # The reference is the docstrings...
    "sphinx.ext.napoleon",  # ...written Google style (Args:, Returns:, Attributes:).
    "sphinx.ext.viewcode",
    "myst_parser",  # Markdown pages, and the record schema included from experiments/README.md.
]
exclude_patterns = ["_build"]

# Every public member in source order; a class's own docstring only (an undocumented
# AgentState must not show flax's PyTreeNode text as if it were ours).
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_inherit_docstrings = False
autodoc_typehints = "signature"

# Config fields are documented in each dataclass's ``Attributes:`` section: one entry per field,
# typed from the class annotation.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = False
napoleon_attr_annotations = True

html_theme = "alabaster"
html_title = f"jaxrl_offline {release} API reference"


# --- Plain-text docstrings as reStructuredText ---
# The docstrings are written to be read in the source: ``|A|`` is a cardinality, ``[n, *batch]`` a
# shape and ``Transition``s a plural. reStructuredText reads the first as a substitution, the
# second as the start of emphasis and the third as a broken literal. The library never uses
# substitutions, nor emphasis inside brackets, so these are escaped here, outside inline literals
# and literal blocks, instead of bending every docstring to the markup.

INLINE_LITERAL = re.compile(r"(``.+?``)")
BRACKETS = re.compile(r"\[[^\]\n]*\]")


def _escape_plain_text(text: str) -> str:
    parts = INLINE_LITERAL.split(text)
    for i in range(0, len(parts), 2):  # Even parts lie outside inline literals.
        part = parts[i].replace("|", r"\|")
        part = BRACKETS.sub(lambda m: m.group(0).replace("*", r"\*"), part)
        parts[i] = part
    for i in range(1, len(parts), 2):  # A literal followed by a letter (``Transition``s).
        if i + 1 < len(parts) and parts[i + 1][:1].isalnum():
            parts[i] += "\\ "
    return "".join(parts)


def escape_docstring(app, what, name, obj, options, lines):
    """autodoc-process-docstring: escapes outside literal blocks (``::``) and doctests."""
    block_indent = None  # Indentation of the paragraph that opened a literal block.
    for index, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if stripped.startswith((">>>", "...")):
            continue
        lines[index] = _escape_plain_text(line)
        if stripped.endswith("::"):
            block_indent = indent


def skip_foreign_member(app, what, name, obj, skip, options):
    """autodoc-skip-member: a class's fields are documented by its ``Attributes:`` section, so the
    members standing for them are skipped: NamedTuple field accessors ("Alias for field number
    0") and attributes whose value comes from another library (``MLP.activation = nn.relu``)."""
    if what != "class":
        return None
    if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    module = getattr(obj, "__module__", None)
    if isinstance(module, str) and not module.startswith(("jaxrl_offline", "experiments")):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", escape_docstring)
    app.connect("autodoc-skip-member", skip_foreign_member)

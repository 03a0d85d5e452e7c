"""Numbers for people: rates, times and scores with the digits that carry information.

``significant(0.304) == "0.30"``, ``significant(2.43) == "2.4"``, ``significant(241.3) == "241"``:
at least ``digits`` significant digits, but never fewer than the integer part (no ``2.4e+02``).
"""

from __future__ import annotations

import math
import re


def significant(value: float | None, digits: int = 2, min_decimals: int = 0,
                missing: str = "nan") -> str:
    """``value`` with ``digits`` significant digits (more if its integer part is longer).

    Args:
      value: the number (``None`` or non-finite gives ``missing``).
      digits: significant digits to keep.
      min_decimals: never fewer decimals than this (scores keep one: ``45.3``, ``0.031``).
      missing: text for ``None``, NaN and infinities.
    """
    if value is None or not math.isfinite(value):
        return missing
    if value == 0:
        return f"{0:.{min_decimals}f}"
    decimals = max(min_decimals, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    # Rounding can add a digit (9.96 -> "10.0"); drop the decimal it made superfluous.
    if decimals > min_decimals and abs(float(text)) >= 10 ** (digits - decimals):
        text = f"{value:.{decimals - 1}f}"
    return text


def rate(updates_per_s: float | None, digits: int = 2) -> str:
    """Updates per second with ``digits`` significant digits: ``0.30``, ``2.4``, ``241`` (speed
    tables comparing two implementations use 3: MISA's 2.91 against 1.32)."""
    return significant(updates_per_s, digits)


def duration(seconds: float | None) -> str:
    """A duration in the largest unit that keeps it above 1: ``42 s``, ``3.5 min``, ``2.1 h``,
    ``5.0 days`` (two significant digits, seconds below a minute)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    if seconds < 0.01:
        return "0 s"
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            decimals = 1 if seconds < 10 * size else 0
            return f"{significant(seconds / size, 2, min_decimals=decimals)} {unit}"
    return f"{significant(seconds, 2)} s"


def file_slug(text: str) -> str:
    """``text`` as one file-name component: each run of characters other than letters, digits and
    ``._-`` becomes one ``_``, and none is left at either end (``jaxrl_offline/hopper/medium-v0``
    -> ``jaxrl_offline_hopper_medium-v0``). Run names, record names and plot names all use it, so
    a record's name can be rebuilt from its dataset id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")

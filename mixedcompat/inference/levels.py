"""Confidence levels: their check and R's column labels (``"2.5 %"``, ``"97.5 %"``), shared by
``confint`` (:mod:`mixedcompat.inference.intervals`) and profile intervals
(:mod:`mixedcompat.inference.profile`)."""
from __future__ import annotations

import math

__all__ = ["check_level", "percent_labels"]


def check_level(level: float) -> None:
    """A confidence level must lie strictly between 0 and 1.

    Examples
    --------
    >>> check_level(0.95)
    >>> check_level(95)
    Traceback (most recent call last):
    ...
    ValueError: level must be a number strictly between 0 and 1, not 95
    """
    try:
        ok = 0 < float(level) < 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"level must be a number strictly between 0 and 1, not {level!r}")


def percent_labels(level: float) -> list[str]:
    """R's column labels ``stats:::format.perc(c(a, 1 - a), 3)``: ``"2.5 %"``, ``"97.5 %"``.

    Examples
    --------
    >>> percent_labels(0.95), percent_labels(0.9), percent_labels(0.999)
    (['2.5 %', '97.5 %'], ['5 %', '95 %'], ['0.05 %', '99.95 %'])
    """
    a = (1.0 - level) / 2.0
    vals = [100.0 * a, 100.0 * (1.0 - a)]
    # format(x, digits = 3, scientific = FALSE): the fewest decimals that show every element with
    # 3 significant digits (trailing zeros dropped), common to all elements
    decimals = 0
    for v in vals:
        if v == 0:
            continue
        d = max(0, 3 - 1 - int(math.floor(math.log10(abs(v)))))
        txt = f"{v:.{d}f}".rstrip("0") if d > 0 else f"{v:.0f}"
        decimals = max(decimals, len(txt.split(".")[1]) if "." in txt and not txt.endswith(".") else 0)
    return [f"{v:.{decimals}f} %" for v in vals]

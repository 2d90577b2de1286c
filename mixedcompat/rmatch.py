"""R's partial matching of a name against its choices (``pmatch`` / ``match.arg``): one home, for
optimizer controls, ``getKR`` / ``getSAT`` names and nlme's diagnostic options."""
from __future__ import annotations

from typing import Sequence

__all__ = ["pmatch"]


def pmatch(name: str, choices: Sequence[str]) -> str | None:
    """The choice ``name`` selects: itself when it is one, else the one choice it is a prefix of.

    R equivalent: ``choices[pmatch(name, choices)]`` (``NA`` -> ``None``: no match, an ambiguous
    prefix, or the empty string).

    Parameters
    ----------
    name : str
        The name as given.
    choices : sequence of str
        The full names.

    Returns
    -------
    str or None

    Examples
    --------
    >>> pmatch("eval", ("eval.max", "iter.max")), pmatch("x", ("x.tol", "xf.tol")), pmatch("", ("a",))
    ('eval.max', None, None)
    """
    if name in choices:
        return name
    hits = [c for c in choices if c.startswith(name)] if name else []
    return hits[0] if len(hits) == 1 else None

"""The test objectives of tests/fixtures/gen_optimizers.R, computed with the same floating-point operations
in the same order as R's loops there, so that an optimiser following R's path sees R's very values.

A fixture's ``"objective"`` entry (``{"name": ..., parameters}``) is turned into a Python function by
:func:`objective`.  Also home of :func:`num`, which reads the fixtures' exact number text.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np


def num(v) -> np.ndarray | float:
    """The fixtures' number text (``"%.17g"``, ``"Inf"``, ``"-Inf"``, ``"NaN"``) as floats; lists stay arrays."""
    if isinstance(v, list):
        return np.array([num(e) for e in v], dtype=float)
    if v is None or v == "NA":
        return math.nan
    return float(v)


def _vec(spec: dict, key: str) -> list[float]:
    v = spec[key]
    return [float(e) for e in (v if isinstance(v, list) else [v])]


def objective(spec: dict) -> Callable[[np.ndarray], float]:
    """The function named by a fixture's ``objective`` entry."""
    name = spec["name"]
    if name == "quad":
        a, c, b = _vec(spec, "a"), _vec(spec, "c"), _vec(spec, "b")

        def quad(x):
            x = [float(e) for e in x]
            s = 0.0
            for i in range(len(x)):
                d = x[i] - c[i]
                s = s + a[i] * d * d
            for i in range(len(x) - 1):
                s = s + b[i] * (x[i] - c[i]) * (x[i + 1] - c[i + 1])
            return s
        return quad
    if name == "rosen":
        return _rosen
    if name == "rosen_region":
        k, w, fill = int(spec["k"]) - 1, float(spec["w"]), float(spec["fill"])

        def region(x):
            if x[k] > w:
                return fill
            return _rosen(x)
        return region
    if name == "abs1":
        c = _vec(spec, "c")

        def abs1(x):
            s = 0.0
            for i in range(len(x)):
                s = s + abs(float(x[i]) - c[i])
            return s
        return abs1
    if name == "wavy":
        c, amp, freq = _vec(spec, "c"), float(spec["amp"]), float(spec["freq"])

        def wavy(x):
            s = 0.0
            for i in range(len(x)):
                d = float(x[i]) - c[i]
                s = s + d * d + amp * math.sin(freq * float(x[i]))
            return s
        return wavy
    if name == "steps":
        c, m = _vec(spec, "c"), float(spec["m"])

        def steps(x):
            s = 0.0
            for i in range(len(x)):
                d = math.floor(float(x[i]) * m) / m - c[i]
                s = s + d * d
            return s
        return steps
    if name == "const":
        value = float(spec["value"])
        return lambda x: value
    raise ValueError(f"unknown objective {name!r}")


def _rosen(x) -> float:
    x = [float(e) for e in x]
    s = 0.0
    for i in range(len(x) - 1):
        t1 = x[i + 1] - x[i] * x[i]
        t2 = 1 - x[i]
        s = s + 100 * t1 * t1 + t2 * t2
    return s

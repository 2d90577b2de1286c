"""Gauss-Hermite quadrature rules with the standard-normal kernel, as lme4's ``GHrule(k)`` gives them
for glmer's adaptive quadrature (nAGQ = k).

A rule of order k has nodes ``z`` and weights ``w`` with ``sum(w f(z))`` ~ ``E f(Z)``, Z ~ N(0, 1)
(exact for polynomials of degree < 2k; the weights sum to 1), and ``ldnorm = log dnorm(z)``.

Computed here from numpy's ``hermgauss`` (physicists' kernel ``exp(-x^2)``), rescaled:
``z = sqrt(2) x``, ``w = w_x / sqrt(pi)``. lme4 reads its rules from a stored table; the two agree
to 7e-15 in z and 1e-14 relative in w for k = 1..25 (2.2e-13 for the outermost weights of k = 100) (tests/test_glm_family.py, against R's
``GHrule(k)``), except that the middle node of an odd rule is exactly 0 here and a rounding residue
(|z| < 2e-15, e.g. -1.3e-16 for k = 3) in lme4's table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["GHRule", "GHrule", "MAX_ORDER"]

MAX_ORDER = 100        # lme4's GHrule takes 0 <= ord < 101
LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class GHRule:
    """A Gauss-Hermite rule for the standard-normal kernel (lme4's ``GHrule(k)`` matrix columns).

    Attributes
    ----------
    z : ndarray
        Nodes, increasing.
    w : ndarray
        Weights (summing to 1).
    ldnorm : ndarray
        ``log dnorm(z)``.
    """
    z: np.ndarray
    w: np.ndarray
    ldnorm: np.ndarray

    def as_matrix(self) -> np.ndarray:
        """The k x 3 matrix with columns z, w, ldnorm (lme4's ``GHrule(k)``).

        Examples
        --------
        >>> GHrule(2).as_matrix()[:, :2].tolist()
        [[-1.0, 0.5], [1.0, 0.5]]
        """
        return np.column_stack([self.z, self.w, self.ldnorm])


def GHrule(k: int) -> GHRule:  # noqa: N802 (lme4's name)
    """lme4's ``GHrule(k)``: the k-point Gauss-Hermite rule with the standard-normal kernel.

    Parameters
    ----------
    k : int
        The number of nodes, 0 <= k <= 100 (0: an empty rule).

    Examples
    --------
    >>> r = GHrule(3)
    >>> np.round(r.z, 6).tolist(), np.round(r.w, 6).tolist()
    ([-1.732051, 0.0, 1.732051], [0.166667, 0.666667, 0.166667])
    >>> round(float(np.sum(r.w * r.z ** 4)), 12)   # E Z^4 = 3
    3.0
    """
    if isinstance(k, bool) or int(k) != k or not 0 <= int(k) <= MAX_ORDER:
        raise ValueError(f"the order of a Gauss-Hermite rule is an integer in 0..{MAX_ORDER}, not {k!r}")
    k = int(k)
    if k == 0:
        empty = np.zeros(0)
        return GHRule(empty, empty.copy(), empty.copy())
    x, wx = np.polynomial.hermite.hermgauss(k)
    z = x * math.sqrt(2.0)
    w = wx / math.sqrt(math.pi)
    ldnorm = -(LN_SQRT_2PI + 0.5 * z * z)
    return GHRule(z, w, ldnorm)

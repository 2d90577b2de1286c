"""The response as lme4's profiled criterion is built from it: reduced by its least-squares fit on X.

The criterion is invariant under ``y -> y - X c`` for any ``c`` (beta shifts by ``c``), so the
criterion objects of :mod:`mixedcompat.lme4.pls` (and the fast kernels) work on the weighted
response minus its least-squares fit: rounding relative to the residual sum of squares, not to
``y'y``.
"""
from __future__ import annotations

import numpy as np


class ResponseReduction:
    """The response as the criterion is built from it: ``sqrt(w) (y - offset - X c)`` with ``c`` the
    weighted least-squares coefficients of ``y - offset`` on ``X``, and ``c`` itself.

    The profiled (RE)ML criterion, ``u``, the fitted values and the residuals are invariant under
    ``y -> y - X c`` for any ``c`` (beta becomes ``beta - c``).  Cross-products of the raw response
    carry rounding relative to ``y'y``, which for a large mean or a steep trend is many orders above
    the residual sum of squares the criterion depends on (``y = 1e6 + noise``: 12 digits lost); after
    the reduction they carry rounding relative to the least-squares residual.

    ``c`` comes from the QR factorisation of ``sqrt(w) X`` (column-scale invariant); the residual
    ``y - offset - X c`` is formed in extended precision (``np.longdouble`` where the platform has
    it) and rounded once, so the reduced response is exactly (to that precision) ``y - X c`` for the
    ``c`` returned, and the reduction perturbs the data by less than their own rounding.  A response that ``X`` fits exactly (a residual at the rounding level of the
    response, e.g. a constant) is kept as given: its criterion is unbounded below and any value of
    it is rounding noise, as in lme4.

    Parameters
    ----------
    X : ndarray
        Fixed-effects model matrix (n x p), full column rank (kept by reference, not copied).
    weights, offset : ndarray or None
        Prior weights and offset.
    extended : bool
        Use extended precision where the platform has it (up to ``EXTENDED_MAX_N`` rows); False for
        a working response that changes every iteration (PIRLS), whose own precision is far coarser.
    reduce : bool
        False: no reduction at all (``r`` is the weighted response, ``c = 0``), as lme4's PIRLS.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> red = ResponseReduction(X, None, None)
    >>> r, shift = red.reduce(1e6 + 2.0 * np.arange(4.0) + np.array([0.1, -0.1, -0.1, 0.1]))
    >>> np.round(r, 6).tolist(), np.round(shift, 6).tolist()
    ([0.1, -0.1, -0.1, 0.1], [1000000.0, 2.0])
    """

    EXACT_FIT_RTOL = 64 * np.finfo(float).eps   # |residual| / |response| at or below: an exact fit
    EXTENDED_MAX_N = 100_000   # extended precision (residual, cross-products) up to this many rows: beyond,
    #                            numpy's long double (~10 ns per operation) would cost ~40% of a fit, for
    #                            a fixed bias of a few units in the last place of the criterion

    def __init__(self, X: np.ndarray, weights: np.ndarray | None, offset: np.ndarray | None,
                 extended: bool = True, reduce: bool = True):
        X = np.asarray(X, dtype=float)
        self.n, self.p = X.shape
        self.sqrtw = np.sqrt(np.asarray(weights, dtype=float)) if weights is not None else None
        self.offset = np.asarray(offset, dtype=float) if offset is not None else None
        self.X = X
        self.Xs = X if self.sqrtw is None else X * self.sqrtw[:, None]      # sqrt(W) X
        self.active = False
        self.extended = bool(extended) and self.n <= self.EXTENDED_MAX_N
        if self.p > 0 and reduce:
            Q, R = np.linalg.qr(self.Xs)
            if np.all(np.isfinite(R)) and np.all(np.abs(np.diagonal(R)) > 0):
                # R^{-1} Q': the least-squares coefficients of a weighted vector in one product
                self.P = np.linalg.inv(R) @ Q.T     # (p x p inverse: scipy's trtrs call costs more)
                if self.extended:
                    ext = np.longdouble
                    self._X_ext = X.T.astype(ext)         # p x n, rows contiguous
                    self._offset_ext = self.offset.astype(ext) if self.offset is not None else None
                    self._sqrtw_ext = self.sqrtw.astype(ext) if self.sqrtw is not None else None
                self.active = bool(np.all(np.isfinite(self.P)))

    def weighted(self, y: np.ndarray) -> np.ndarray:
        """``sqrt(w) (y - offset)`` (the unreduced response)."""
        ys = np.asarray(y, dtype=float)
        if self.offset is not None:
            ys = ys - self.offset
        return ys * self.sqrtw if self.sqrtw is not None else ys

    def _residual(self, y: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``sqrt(w) (y - offset - X c)`` in extended precision (``c`` extended too)."""
        if not self.extended:
            return self.weighted(y) - self.Xs @ np.asarray(c, dtype=float)
        r = np.asarray(y, dtype=np.longdouble)
        if self._offset_ext is not None:
            r -= self._offset_ext
        for j in range(self.p):
            r -= self._X_ext[j] * c[j]
        if self._sqrtw_ext is not None:
            r *= self._sqrtw_ext
        return r

    def reduce(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(r, c)``: ``sqrt(w) (y - offset - X c)`` and ``c`` (beta of ``y`` is beta of ``r``
        plus ``c``).

        Examples
        --------
        >>> red = ResponseReduction(np.column_stack([np.ones(3), np.arange(3.0)]), None, None)
        >>> r, c = red.reduce(np.array([6.0, 7.0, 11.0]))
        >>> np.round(c, 6).tolist(), np.round(r, 6).tolist()
        ([5.5, 2.5], [0.5, -1.0, 0.5])
        """
        ys = self.weighted(y)
        if not self.active:
            return np.array(ys, dtype=float, copy=True), np.zeros(self.p)
        with np.errstate(all="ignore"):
            c = self.P @ ys
            # one refinement step (c to least-squares accuracy also when sqrt(W) X is ill-conditioned)
            c = c.astype(np.longdouble) + self.P @ (ys - self.Xs @ c)
            # the residual of this c, exact to extended precision (the criterion is invariant for
            # any c; c only needs to be near the least-squares solution for the residual to be small)
            r = self._residual(y, c).astype(float)
            shift = c.astype(float)
            rr = float(r @ r)
        if not (np.isfinite(rr) and np.isfinite(float(np.sum(shift)))) or \
                rr <= self.EXACT_FIT_RTOL ** 2 * float(ys @ ys):
            return np.array(ys, dtype=float, copy=True), np.zeros(self.p)
        return r, shift

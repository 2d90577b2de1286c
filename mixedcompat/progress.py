"""Progress bars for long operations (bootstrap, profile, allFit, cross-validation): one home.

A bar is shown when the user can see it: in a terminal (stderr is a tty) or in a Jupyter kernel, where
``tqdm.auto`` draws a notebook widget (or tqdm's text bar when ipywidgets is not installed).  In scripts
whose stderr is a file or a pipe, and in the test suite, there is no bar, so logs stay clean.
"""
from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["progress_bar", "NoBar", "in_notebook"]


class NoBar:
    """The bar that is not shown: ``update`` and ``close`` do nothing.

    Examples
    --------
    >>> bar = NoBar()
    >>> bar.update(3); bar.close()
    """

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` (nothing to show)."""

    def close(self) -> None:
        """Finish (nothing to show)."""

    def __enter__(self) -> "NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def in_notebook() -> bool:
    """Are we running inside a Jupyter (IPython) kernel?

    Examples
    --------
    >>> in_notebook()
    False
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:        # noqa: BLE001 - an IPython too old or half-initialised: no kernel
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:        # a closed stream
        return False


def progress_bar(total: int, enabled: bool = True, desc: str | None = None, leave: bool = True) -> Any:
    """A tqdm progress bar of ``total`` steps, or a :class:`NoBar` when none should be shown.

    ``tqdm.auto`` chooses the notebook widget inside Jupyter and the text bar in a terminal; a kernel
    without ipywidgets gets the text bar (tqdm's widget would fail there).

    Parameters
    ----------
    total : int
        Number of steps.
    enabled : bool
        The caller's ``progress=`` argument; False gives no bar.
    desc : str, optional
        The bar's label (e.g. ``"bootMer"``).
    leave : bool
        Keep the finished bar on screen.

    Returns
    -------
    tqdm.tqdm or NoBar
        An object with ``update(n)`` and ``close()``.

    Examples
    --------
    >>> bar = progress_bar(10, enabled=False)
    >>> type(bar).__name__
    'NoBar'
    """
    if not enabled:
        return NoBar()
    notebook = in_notebook()
    if not (notebook or _stderr_is_terminal()):
        return NoBar()
    if notebook and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=leave)

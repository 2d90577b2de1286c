"""Randomized lmer designs (issue 9, section 3) against live lme4: property tests.

The design space, the R-side fit and the comparison are tests/random_designs.py's (shared with
tests/survey_agreement.py, which measures the agreement rate over hundreds of designs).  Here
hypothesis draws designs of at most ``MAX_ROWS`` rows, derandomized and bounded so that the file
runs in well under a minute; a failing example prints as ``Design(...)`` and reproduces with
``random_designs.compare(Design(...)).report()``.  The ``@example`` designs are the survey's
reproductions of each class of disagreement found (``draw_design(seed)``).

Two properties, on different examples:

* :func:`test_agrees_with_lme4` -- no crash (class e), an error exactly where lme4 stops (c), our
  criterion at most lme4's + 1e-8 relative (a), and every table of our model at R's theta within
  helpers' TOL (b) unless the table is not determined there (it moves as much when theta changes
  by 1e-9 relative: an ill-conditioned point where both sides' numbers are rounding);
* :func:`test_warning_classes_as_lme4` -- singular / convergence / rescale signalled as lme4 does
  where both fits stop at the same theta (lme4's checks describe the point where it stopped; at
  another optimum other warnings are expected, see random_designs.compare).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import note
from hypothesis import strategies as st

import random_designs as rd

pytestmark = pytest.mark.r

MAX_ROWS = 200
_COMMON = dict(deadline=None, derandomize=True, database=None, print_blob=False,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

_CACHE: dict[rd.Design, rd.Outcome] = {}


@st.composite
def designs(draw, max_rows: int = MAX_ROWS) -> rd.Design:
    """A random :class:`random_designs.Design` of at most ``max_rows`` rows."""
    seed = draw(st.integers(0, 2**31 - 1))
    return rd.build_design(lambda name, options: draw(st.sampled_from(list(options))), seed, max_rows=max_rows)


def outcome(design: rd.Design) -> rd.Outcome:
    """The comparison of ``design`` with lme4 (cached: hypothesis replays failing examples)."""
    if design not in _CACHE:
        _CACHE[design] = rd.compare(design, time_limit=60)
    o = _CACHE[design]
    note(o.report())
    return o


def _findings(o: rd.Outcome, classes: str) -> list[str]:
    return [f"[{c}] {text}" for c, text in o.details if c in classes]


@settings(max_examples=20, **_COMMON)
@given(designs())
# the survey's reproductions of lme4's optimum missed (class a) before the optimiser's fixes:
# random slopes on covariates scaled by 1e5 / responses by 1e-3 (REML gap up to 8e-3 relative)
@example(rd.draw_design(130))
@example(rd.draw_design(51))
@example(rd.draw_design(9))
def test_agrees_with_lme4(design):
    o = outcome(design)
    bad = _findings(o, "ace") + ([] if o.undetermined else _findings(o, "b"))
    assert not bad, f"{o.formula}: " + "\n".join(bad)


@settings(max_examples=12, **_COMMON)
@given(designs())
def test_warning_classes_as_lme4(design):
    o = outcome(design)
    assume(o.our_error is None and o.r_error is None and not o.parted)
    assert o.r_warning_classes == o.our_warning_classes, (
        f"{o.formula}: lme4 signals {sorted(o.r_warning_classes)} ({o.r_warnings}), "
        f"we warn {sorted(o.our_warning_classes)} ({[m for _, m in o.our_warnings]})")


def test_designs_reproduce_from_their_seed():
    """The survey's reproductions rest on this: a design and its data come back from the seed."""
    a, b = rd.draw_design(12345), rd.draw_design(12345)
    assert a == b
    assert a.data().equals(b.data())
    assert rd.draw_design(12346) != a

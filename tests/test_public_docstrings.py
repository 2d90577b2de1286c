"""Every public name of mixedcompat (``mixedcompat.__all__``) carries a full numpy-style docstring.

The conventions checked, for each name (one small parser of numpydoc's section grammar below: a
heading line underlined by dashes; numpydoc itself is a ``docs`` extra, not a test dependency):

* a **summary line** (the docstring's first line is not empty);
* a ``Parameters`` section naming every parameter of the signature (``self`` / ``cls`` excepted) for
  functions, and for classes built by their constructor (``pdDiag(form)``, ``corAR1(value, form,
  fixed)``...); ``*args`` / ``**kwargs`` are described either by an entry ``*args`` / ``**kwargs``
  or by entries for the names they accept (the generics: ``REML``, ``type``, ``newdata``... of the
  lmer / glmer / lme / gls methods they call). Fit classes built by a fitting function
  (``CONSTRUCTED_BY``) name that function instead;
* a ``Returns`` section for functions (not for classes, exceptions or warnings);
* **the R equivalent named**: a paragraph of the description that starts ``R equivalent:`` and
  names the R call(s) in double back-quotes (``R equivalent: ``lme4::fixef(m)``, ``nlme::fixef(m)``.``,
  ``R equivalent: lme4's warning ``Model failed to converge ...``.``), or ``R equivalent: none``
  and why, for Python-only names;
* an **Examples** section (numpy's spelling, ``EXAMPLES_HEADINGS``) with at least one ``>>>`` line not
  marked ``+SKIP``:
  the examples are run by tests/test_docstring_examples.py.

Modules in ``__all__`` (``datasets``, ``family``) need a module docstring that names each callable
they export (and, for ``datasets``, each data set it holds); the functions of ``MEMBERS_OF``
(``mc.family.poisson``...) are checked as the names of ``__all__``.
"""
from __future__ import annotations

import inspect
import re
import textwrap
import types
from pathlib import Path

import pytest

import mixedcompat as mc

# The spelling of the examples' heading: numpydoc's "Examples".
EXAMPLES_HEADINGS = ("Examples",)

# Fit classes users obtain from a fitting function, not from their constructor: their docstring
# names that function rather than documenting the constructor's internal arguments.
CONSTRUCTED_BY = {"LmerMod": "lmer", "GlmerMod": "glmer", "MixedModel": "lmer"}

# "R equivalent:" at the start of a line, then (in its paragraph) an R call in double back-quotes, or "none"
R_LINE = re.compile(r"^R equivalent:\s+(none\b|(?:(?!\n\s*\n)[\s\S])*?``[^`]+``)", re.MULTILINE)
_HEADING = re.compile(r"^(?P<name>[A-Z][A-Za-z ]*)\n(?P<rule>-{3,})[ \t]*$", re.MULTILINE)


# ------------------------------------------------------------------------------------------------
# the parser


def split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(description, {section heading: section text}) of a numpy-style docstring.

    >>> desc, secs = split_docstring("Sum.\\n\\nParameters\\n----------\\nx : int\\n    A number.\\n")
    >>> desc, sorted(secs)
    ('Sum.', ['Parameters'])
    """
    text = inspect.cleandoc(doc)
    heads = [m for m in _HEADING.finditer(text) if len(m.group("rule")) >= len(m.group("name")) - 1]
    description = text[: heads[0].start()] if heads else text
    sections: dict[str, str] = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        sections[m.group("name").strip()] = text[m.end():end].strip("\n")
    return description.strip(), sections


def parameter_names(section: str) -> set[str]:
    """The names an entries section (``Parameters``) describes: the entry lines at the section's
    least indentation, ``name : type`` or ``name``, several names separated by commas.

    >>> sorted(parameter_names("x, y : float\\n    Coordinates.\\n**kwargs\\n    Passed on."))
    ['**kwargs', 'x', 'y']
    """
    lines = [ln for ln in textwrap.dedent(section).splitlines() if ln.strip()]
    names: set[str] = set()
    for ln in lines:
        if ln[0].isspace():
            continue
        head = ln.split(" : ", 1)[0].strip()
        for part in head.split(","):
            part = part.strip()
            if part:
                names.add(part)
    return names


# ------------------------------------------------------------------------------------------------
# what is checked


def _kind(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    return "function"


def _signature_parameters(obj) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters.values() if p.name not in ("self", "cls")]


def docstring_problems(name: str, obj) -> list[str]:
    """What the docstring of public name ``name`` lacks (empty: it is complete)."""
    doc = obj.__doc__ if _kind(obj) != "class" or "__doc__" in vars(obj) else None
    if not doc or not doc.strip():
        return ["no docstring"]
    kind = _kind(obj)
    if kind == "module":
        return _module_problems(name, obj, doc)
    problems = []
    description, sections = split_docstring(doc)
    if not description or not description.splitlines()[0].strip():
        problems.append("no summary line")
    if not R_LINE.search(description):
        problems.append("no 'R equivalent: ``...``' line in the description")
    heading = next((h for h in EXAMPLES_HEADINGS if h in sections), None)
    if heading is None:
        problems.append(f"no {' / '.join(EXAMPLES_HEADINGS)} section")
    elif not any(ln.lstrip().startswith(">>> ") and "+SKIP" not in ln for ln in sections[heading].splitlines()):
        problems.append(f"the {heading} section has no '>>>' example that runs (all lines +SKIP)")
    if kind == "function" and "Returns" not in sections:
        problems.append("no Returns section")
    if kind == "class" and name in CONSTRUCTED_BY:
        if CONSTRUCTED_BY[name] not in description:
            problems.append(f"does not name {CONSTRUCTED_BY[name]}(), the function that builds it")
        return problems
    if kind in ("function", "class"):
        params = _signature_parameters(obj)
        if params:
            if "Parameters" not in sections:
                return problems + ["no Parameters section"]
            described = parameter_names(sections["Parameters"])
            plain = {n.lstrip("*") for n in described}
            named = {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            missing = sorted(n for n in named if n not in plain)
            if missing:
                problems.append(f"Parameters does not describe {missing}")
            variadic = [p for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if variadic and not (any(p.name in plain for p in variadic) or plain - named):
                problems.append(f"Parameters describes neither {[p.name for p in variadic]} nor what they accept")
    return problems


def _module_problems(name: str, module, doc: str) -> list[str]:
    exported = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
    held = [n for n in exported if callable(getattr(module, n, None))
            and getattr(getattr(module, n), "__module__", module.__name__) == module.__name__]
    if hasattr(module, "list_datasets"):
        held += list(module.list_datasets())
    missing = [n for n in held if not re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", doc)]
    return [f"module docstring does not name {missing}"] if missing else []


PUBLIC = sorted(mc.__all__)
# modules of __all__ whose exported functions are public API in their own right (``mc.family.poisson()``)
MEMBERS_OF = ("family",)
MEMBERS = sorted(f"{mod}.{n}" for mod in MEMBERS_OF for n in getattr(mc, mod).__all__
                 if inspect.isfunction(getattr(getattr(mc, mod), n)))


def test_public_names_are_listed():
    """__all__ holds the package's public API (each name resolves, none twice)."""
    assert len(PUBLIC) == len(set(PUBLIC))
    for name in PUBLIC:
        assert hasattr(mc, name), name


@pytest.mark.parametrize("name", PUBLIC)
def test_public_docstring_complete(name: str) -> None:
    problems = docstring_problems(name, getattr(mc, name))
    assert not problems, f"mixedcompat.{name}: " + "; ".join(problems)


@pytest.mark.parametrize("name", MEMBERS)
def test_module_member_docstring_complete(name: str) -> None:
    mod, member = name.split(".")
    problems = docstring_problems(member, getattr(getattr(mc, mod), member))
    assert not problems, f"mixedcompat.{name}: " + "; ".join(problems)


def test_checker_finds_what_is_missing():
    """The checker fails an incomplete docstring (it is not vacuous)."""
    def f(x, y, *args, **kwargs):
        """Do it.

        Parameters
        ----------
        x : int
            First.
        """
    problems = docstring_problems("f", f)
    assert any("['y']" in p for p in problems)
    assert any("R equivalent" in p for p in problems)
    assert any("Returns" in p for p in problems)
    assert any("Example" in p for p in problems)
    assert docstring_problems("g", lambda: None) == ["no docstring"]

    def h():
        """Do it.

        R equivalent: ``h()``.

        Returns
        -------
        int

        Examples
        --------
        >>> h()  # doctest: +SKIP
        1
        """
    assert [p for p in docstring_problems("h", h)] == [
        "the Examples section has no '>>>' example that runs (all lines +SKIP)"]


def test_checker_passes_a_complete_docstring():
    def f(x, **kwargs):
        """Do it.

        R equivalent: ``stats::f(x)``.

        Parameters
        ----------
        x : int
            First.
        REML : bool
            Accepted through ``**kwargs``.

        Returns
        -------
        int

        Examples
        --------
        >>> 1
        1
        """
    assert docstring_problems("f", f) == []


def test_generics_examples_are_run():
    """tests/test_docstring_examples.py collects an example of every generic of mixedcompat.generics
    (the generics built by its ``_method`` included), so their examples are executed."""
    import doctest
    import mixedcompat.generics as generics
    found = {t.name.rsplit(".", 1)[-1] for t in doctest.DocTestFinder(exclude_empty=True).find(generics)
             if t.examples and t.filename == generics.__file__}
    assert sorted({getattr(generics, n).__name__ for n in generics.__all__} - found) == []   # resid is residuals


def test_every_public_name_has_a_heading_in_the_api_reference():
    """docs/api_pages.py's GROUPS place every public name under a heading (none falls to "Other")."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("api_pages", Path(__file__).resolve().parent.parent / "docs" /
                                                  "api_pages.py")
    pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pages)
    assert pages.ungrouped(list(mc.__all__)) == []

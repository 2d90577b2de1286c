"""Load the nlme golden-master fixtures (tests/fixtures/nlme/*.json) and fit their models with mixedcompat."""
from __future__ import annotations

import json
import pathlib

from helpers import FIXTURES, load_fixture_data

NLME_DIR = FIXTURES / "nlme"
_CACHE: dict = {}


def nlme_fixture_paths(prefix_exclude: str = "lrt_") -> list[pathlib.Path]:
    return sorted(p for p in NLME_DIR.glob("*.json") if not p.name.startswith(prefix_exclude))


def lrt_fixture_paths() -> list[pathlib.Path]:
    return sorted(NLME_DIR.glob("lrt_*.json"))


def load(path: pathlib.Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def _namespace() -> dict:
    import mixedcompat as mc
    import mixedcompat.nlme.corstruct as corstruct
    import mixedcompat.nlme.pdmat as pdmat
    import mixedcompat.nlme.varfunc as varfunc
    ns = {"mc": mc}
    for mod in (corstruct, varfunc, pdmat):
        ns.update({k: v for k, v in vars(mod).items() if k.startswith(("cor", "var", "pd"))})
    return ns


def _eval(text, ns):
    if text is None:
        return None
    if isinstance(text, dict):
        return {k: _eval(v, ns) for k, v in text.items()}
    return eval(text, ns)  # noqa: S307 - fixture files are ours


def spec_kwargs(spec: dict) -> dict:
    """Keyword arguments of mc.lme / mc.gls from a fixture's "python" block."""
    ns = _namespace()
    kw = {"correlation": _eval(spec.get("correlation"), ns), "weights": _eval(spec.get("weights"), ns)}
    rnd = spec.get("random")
    if isinstance(rnd, dict):
        kw["random"] = {g: (_eval(v, ns) if isinstance(v, str) and v.startswith("pd") else v) for g, v in rnd.items()}
    elif rnd is not None:
        kw["random"] = _eval(rnd, ns) if rnd.startswith("pd") else rnd
    return kw


def fit_input(inp: dict):
    """Fit the model of a fixture's "input" block (cached by its R call)."""
    import mixedcompat as mc
    key = (inp["r_call"], inp["data"])
    if key not in _CACHE:
        data = load_fixture_data(inp["data"])
        spec = inp["python"]
        kw = spec_kwargs(spec)
        method = inp.get("method", "REML")
        if inp["function"] == "gls":
            kw.pop("random", None)
            _CACHE[key] = mc.gls(spec["fixed"], data, method=method, **kw)
        else:
            _CACHE[key] = mc.lme(spec["fixed"], data, method=method, **kw)
    return _CACHE[key]

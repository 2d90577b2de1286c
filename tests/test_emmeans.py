"""emmeans' estimated marginal means and contrasts against the R package emmeans (tests/fixtures/emmeans,
written by tests/fixtures/gen_emmeans.R): every step of each fixture is replayed (emmeans, contrast, pairs,
confint), its table compared number by number, its printed text line by line and emmeans' messages word
for word.  lmer / glmer fits are compared at R's parameters; lme fits at nlme's optimum (ours).
Bad input: unknown factor, a covariate as specs, unknown method / adjust / ddf, unsupported models.
"""
from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import FIXTURES, TOL, assert_close, assert_same_printout, fit_at_r_optimum, json_fixture, load_fixture_data  # noqa: E402

import mixedcompat as mc  # noqa: E402
from mixedcompat.inference.emm_summary import EmmeansMessage, label_of, p_adjust  # noqa: E402
from mixedcompat.inference.emm_contrasts import poly_coefficients  # noqa: E402

CASES = sorted(p.stem for p in (FIXTURES / "emmeans").glob("*.json"))
_MODELS: dict = {}


def _model(name: str):
    if name not in _MODELS:
        fx = json_fixture("emmeans", name)
        inp = fx["input"]
        root = FIXTURES / inp["data_dir"] if inp.get("data_dir") else FIXTURES
        data = load_fixture_data(inp["data"], root=root)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if inp["kind"] == "lmer":
                m = fit_at_r_optimum(inp, data, fx["theta"])
            elif inp["kind"] == "glmer":
                family = inp["family"] if not inp.get("link") else getattr(mc.family, inp["family"])(link=inp["link"])
                m = mc.glmer(inp["formula"], data, family=family, control={"optimizer": None},
                             start={"theta": fx["theta"], "fixef": fx["beta"]})
            else:
                m = mc.lme(inp["formula"], data, random=inp["random"], method=inp.get("method") or "REML")
        _MODELS[name] = m
    return _MODELS[name]


def _call(step: dict, m, objs: dict):
    f = step["fun"]
    if f == "emmeans":
        specs = step.get("formula") or step["specs"]
        kw = {k: step[k] for k in ("by", "ddf", "type", "at", "level", "weights") if step.get(k) is not None}
        return mc.emmeans(m, specs, **kw)
    e = objs[step["of"]]
    if f == "contrast":
        kw = {k: step[k] for k in ("adjust", "by", "ref", "type") if step.get(k) is not None}
        if step.get("no_by"):
            kw["by"] = None
        return mc.contrast(e, step["method"], **kw)
    if f == "pairs":
        kw = {k: step[k] for k in ("adjust", "reverse") if step.get(k) is not None}
        return mc.pairs(e, **kw)
    if f == "confint":
        return mc.confint(e, **({"adjust": step["adjust"]} if step.get("adjust") else {}))
    if f == "summary":
        return e.summary(infer=tuple(step["infer"]))
    if f == "test":
        return e.test()
    raise AssertionError(f"unknown step {f}")


def _replay(name: str):
    fx = json_fixture("emmeans", name)
    m = _model(name)
    objs: dict = {}
    for step in fx["steps"]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obj = _call(step, m, objs)
            text = str(obj)
            table = None if isinstance(obj, dict) else (obj.to_frame() if hasattr(obj, "to_frame") else obj)
        objs[step["id"]] = obj
        msgs = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, EmmeansMessage)))
        yield step, table, text, msgs


def _compare_table(ours: pd.DataFrame, theirs: dict, what: str, kind: str) -> None:
    assert list(ours.columns) == theirs["columns"], f"{what}: columns {list(ours.columns)} vs R {theirs['columns']}"
    for c in theirs["columns"]:
        r = theirs["data"][c]
        o = ours[c]
        if r and all(isinstance(v, str) for v in r) and not all(v in ("Inf", "-Inf", "NA", "NaN") for v in r):
            assert [label_of(v) for v in o] == r, f"{what}: {c} {list(o)} vs R {r}"
            continue
        rv = np.array([np.nan if v in (None, "NA") else float(v) for v in r], dtype=float)
        ov = o.to_numpy(dtype=float)
        if np.all(np.isinf(rv) | np.isnan(rv)):
            assert np.array_equal(np.isinf(ov), np.isinf(rv)) and np.array_equal(np.isnan(ov), np.isnan(rv)), \
                f"{what}: {c} {ov} vs R {rv}"
            continue
        tol = TOL["emmeans_lme"] if kind == "lme" else TOL["emmeans_df"] if c == "df" else \
            TOL["emmeans_p"] if c == "p.value" else TOL["emmeans_estimate"] if c not in ("lower.CL", "upper.CL") \
            else TOL["emmeans_df"]
        if kind == "glmer":    # lme4's vcov from its finite-difference Hessian: SE-derived numbers as glmer_se
            tol = TOL["emmeans_glmer_p" if c == "p.value" else "glmer_se"]
        assert_close(ov, rv, f"{what}: {c}", **tol)


@pytest.mark.parametrize("name", CASES)
def test_emmeans_fixture(name):
    """Numbers, printed text and messages of every step, as emmeans gives them."""
    kind = json_fixture("emmeans", name)["input"]["kind"]
    rel = TOL[{"lme": "emmeans_lme", "glmer": "glmer_text"}.get(kind, "emmeans_text")]["rtol"]
    for step, table, text, msgs in _replay(name):
        what = f"{name}/{step['id']}"
        if "error" in step:
            continue
        if step.get("table") is not None:
            _compare_table(table, step["table"], what, kind)
        assert_same_printout(text, step["text"], what, rel=rel)
        assert msgs == step["messages"], f"{what}: messages {msgs} vs R {step['messages']}"


def test_fixtures_cover_the_issue():
    """The fixtures hold lmer (KR and Satterthwaite), glmer (link and response) and lme grids, and pairwise,
    trt.vs.ctrl and poly contrasts with every adjustment we implement."""
    steps = [s for n in CASES for s in json_fixture("emmeans", n)["steps"]]
    assert {json_fixture("emmeans", n)["input"]["kind"] for n in CASES} == {"lmer", "glmer", "lme"}
    assert {s.get("ddf") for s in steps if s["fun"] == "emmeans"} >= {None, "satterthwaite", "asymptotic"}
    assert {s.get("method") for s in steps if isinstance(s.get("method"), str)} >= {"trt.vs.ctrl", "poly", "eff",
                                                                                     "consec"}
    assert {s.get("adjust") for s in steps} >= {"holm", "bonferroni", "sidak", "none", "scheffe", "fdr", "tukey"}
    assert not any("error" in s for s in steps)


# ------------------------------------------------------------------------------------------------
# pieces against R's definitions (values from the fixtures' R printouts where R gives them)


def test_numerics():
    """p.adjust, ptukey (scipy's studentized range against R's ptukey: non-integer k, infinite df), emmeans'
    .pdunnx and poly.emmc, against R's values (tests/fixtures/emmeans/numerics/numerics.json)."""
    from scipy import stats
    from mixedcompat.inference.emm_summary import _pdunnx, _qdunnx
    from mixedcompat.numerics.tukey import qtukey
    fx = json_fixture("emmeans/numerics", "numerics")
    p = np.array(fx["p"])
    for meth, expected in fx["p_adjust"].items():
        assert_close(p_adjust(p, meth), np.array(expected), f"p.adjust {meth}", rtol=1e-12)
    for meth, expected in fx["p_adjust_n10"].items():
        assert_close(p_adjust(p, meth, n=10), np.array(expected), f"p.adjust {meth} n=10", rtol=1e-12)
    t = fx["ptukey"]
    df = np.array([float(v) for v in t["df"]])
    ours = np.array([stats.studentized_range.sf(q, k, d) for q, k, d in zip(t["q"], t["nmeans"], df)])
    assert_close(ours, np.array(t["upper"]), "ptukey upper tail", **TOL["emmeans_ptukey"])
    d = fx["pdunnx"]
    ours = np.array([_pdunnx(np.array([x]), k, np.array([float(dd)]))[0] for x, k, dd in zip(d["x"], d["k"], d["df"])])
    assert_close(ours, np.array(d["p"]), ".pdunnx", **TOL["emmeans_ptukey"])
    for key, fun in (("qtukey", lambda p_, k, d: qtukey(p_, k, d)),
                     ("qdunnx", lambda p_, k, d: float(_qdunnx(p_, k, np.array([d]))[0]))):
        t = fx[key]
        df = np.array([float(d) for d in t["df"]])
        ours = np.array([fun(p_, k, d) for p_, k, d in zip(t["p"], t.get("nmeans", t.get("k")), df)])
        small = df < 5     # R's coarser ptukey moves the search (see TOL)
        assert_close(ours[~small], np.array(t["q"])[~small], key, **TOL["emmeans_qtukey"])
        assert_close(ours[small], np.array(t["q"])[small], key + " (df < 5)", **TOL["emmeans_qtukey_small_df"])
    for k, cols in zip(range(2, 9), fx["poly"]):
        assert [c.tolist() for c in poly_coefficients(k)] == [[float(v) for v in c] for c in cols.values()], \
            f"poly.emmc({k})"


# ------------------------------------------------------------------------------------------------
# bad input


@pytest.fixture(scope="module")
def machines():
    return _model("machines")


def test_unknown_factor(machines):
    with pytest.raises(mc.DataError, match="No variable named Machin in the reference grid"):
        mc.emmeans(machines, "Machin")
    with pytest.raises(mc.DataError, match="No variable named Worker"):
        mc.emmeans(machines, "~ Machine | Worker")


def test_covariate_as_specs():
    m = _model("cake")
    with pytest.raises(mc.DataError, match="'temp' is a covariate"):
        mc.emmeans(m, "temp")


def test_unknown_method_adjust_ddf(machines):
    e = mc.emmeans(machines, "Machine")
    with pytest.raises(mc.DataError, match="Contrast function 'pairwis.emmc' not found"):
        mc.contrast(e, "pairwis")
    with pytest.raises(mc.DataError, match="Adjust method 'tuky' is not recognized"):
        str(mc.pairs(e, adjust="tuky"))
    with pytest.raises(NotImplementedError, match="adjust='mvt'"):
        str(mc.contrast(e, "consec"))
    with pytest.raises(mc.DataError, match="unknown ddf 'Kenward'"):
        mc.emmeans(machines, "Machine", ddf="Kenward")
    with pytest.raises(mc.DataError, match="type must be 'link' or 'response'"):
        mc.emmeans(machines, "Machine", type="resp")
    with pytest.raises(mc.DataError, match="3 coefficients for 3 means|Nonconforming"):
        mc.contrast(e, {"x": [1, -1]})
    with pytest.raises(NotImplementedError, match="interaction"):
        mc.contrast(e, "pairwise", interaction=True)
    with pytest.raises(mc.DataError, match="'ref' levels are out of range"):
        mc.contrast(e, "trt.vs.ctrl", ref=4)
    with pytest.raises(NotImplementedError, match="adjust='mvt'"):
        mc.contrast(e, "trt.vs.ctrl").confint(adjust="mvt")


def test_unsupported_models_and_modes():
    m = _model("orthodont_lme")
    with pytest.raises(NotImplementedError, match="containment"):
        mc.emmeans(m, "Sex", ddf="satterthwaite")
    with pytest.raises(mc.DataError, match="unknown ddf"):
        mc.emmeans(m, "Sex", ddf="kr2")
    g = mc.gls("distance ~ Sex", mc.datasets.load("Orthodont"))
    with pytest.raises(TypeError, match="not to a gls fit"):
        mc.emmeans(g, "Sex")
    with pytest.raises(TypeError, match="takes the result of mc.emmeans"):
        mc.contrast(m, "pairwise")


def test_at_bad_values(machines):
    with pytest.raises(mc.DataError, match="not levels of the factor"):
        mc.emmeans(machines, "Machine", at={"Machine": ["Z"]})
    with pytest.raises(mc.DataError, match="not a variable of the fixed effects"):
        mc.emmeans(machines, "Machine", at={"age": 3})


def test_large_data_messages():
    """Above 3000 observations emmeans turns KR into Satterthwaite and then asymptotic, with its notes."""
    rng = np.random.default_rng(1)
    n = 3200
    d = pd.DataFrame({"g": [f"g{i % 40}" for i in range(n)], "f": [["a", "b", "c"][i % 3] for i in range(n)]})
    d["y"] = rng.normal(size=n) + (d["f"] == "b") + rng.normal(size=40)[np.arange(n) % 40]
    m = mc.lmer("y ~ f + (1 | g)", d)
    with warnings.catch_warnings(record=True) as caught:     # (nested pytest.warns re-emits only on pytest >= 8)
        warnings.simplefilter("always")
        e = mc.emmeans(m, "f")
    texts = [str(w.message) for w in caught if issubclass(w.category, EmmeansMessage)]
    assert any("pbkrtest.limit = 3200" in t for t in texts), texts
    assert any("lmerTest.limit = 3200" in t for t in texts), texts
    assert e.df_method == "asymptotic" and np.all(np.isinf(e.df))
    assert not math.isnan(float(e.to_frame()["asymp.LCL"].iloc[0]))


@pytest.mark.parametrize("name,specs,ddf", [("machines", "pairwise ~ Machine", None),
                                            ("machines", "Machine", "satterthwaite"),
                                            ("cbpp", "period", None), ("orthodont_lme", "Sex", None)])
def test_grids_pickle(name, specs, ddf):
    """Grids and contrasts pickle (joblib, process pools) and print the same after the round trip."""
    import pickle
    m = _model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {"ddf": ddf} if ddf else {}
        e = mc.emmeans(m, specs, **kw)
        objs = [e] if isinstance(e, dict) else [e, mc.pairs(e)]
        for obj in objs:
            assert str(pickle.loads(pickle.dumps(obj))) == str(obj)


def test_partitioned_fit_is_refused():
    """A fit on a Dask DataFrame holds no rows: the reference grid's covariate means and counts need them."""
    dd = pytest.importorskip("dask.dataframe")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer("score ~ Machine + (1 | Worker)", dd.from_pandas(mc.datasets.load("Machines"), npartitions=2))
    with pytest.raises(mc.DataError, match="emmeans"):
        mc.emmeans(m, "Machine", ddf="Satterthwaite")


def test_single_infer_applies_to_intervals_and_tests():
    """emmeans: ``summary(e, infer = TRUE)`` is ``infer = c(TRUE, TRUE)``; a non-bool is a clear error."""
    m = mc.lmer("yield ~ Variety + (1 | Block)", mc.datasets.load("Oats"))
    e = mc.emmeans(m, "Variety")
    assert str(mc.summary(e, infer=True)) == str(mc.summary(e, infer=(True, True)))
    assert str(mc.summary(e, infer=False)) == str(mc.summary(e, infer=(False, False)))
    with pytest.raises(mc.DataError, match="infer must be a bool"):
        mc.summary(e, infer="yes")

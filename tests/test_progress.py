"""Progress bars (issue 15): every long operation shows a tqdm bar in a terminal or a notebook, none in logs."""
import sys
import types

import pytest

import mixedcompat as mc
from mixedcompat import progress


@pytest.fixture
def terminal(monkeypatch):
    """Pretend stderr is a terminal (tqdm then writes its bar to the captured stderr)."""
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)


@pytest.fixture(scope="module")
def dyestuff_fit():
    return mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))


def _final_count(err: str, desc: str) -> str:
    lines = [s for s in err.replace("\r", "\n").splitlines() if s.startswith(desc + ":")]
    assert lines, f"no {desc} bar in {err!r}"
    return lines[-1]


def test_no_bar_when_stderr_is_not_a_terminal(capsys, dyestuff_fit):
    mc.bootMer(dyestuff_fit, mc.fixef, nsim=5, seed=1)
    mc.profile(dyestuff_fit, which=".sig01")
    assert capsys.readouterr().err == ""
    assert isinstance(progress.progress_bar(3), progress.NoBar)


def test_bootmer_bar(terminal, capsys, dyestuff_fit):
    mc.bootMer(dyestuff_fit, mc.fixef, nsim=7, seed=1)
    assert "7/7" in _final_count(capsys.readouterr().err, "bootMer")


def test_confint_boot_bar(terminal, capsys, dyestuff_fit):
    mc.confint(dyestuff_fit, method="boot", nsim=6, seed=1)
    assert "6/6" in _final_count(capsys.readouterr().err, "bootMer")


def test_profile_and_confint_profile_bar(terminal, capsys, dyestuff_fit):
    mc.profile(dyestuff_fit)
    assert "3/3" in _final_count(capsys.readouterr().err, "profile")
    mc.confint(dyestuff_fit, parm=[".sig01", ".sigma"])
    assert "2/2" in _final_count(capsys.readouterr().err, "profile")
    mc.confint(dyestuff_fit, parm=".sig01", progress=False)
    assert capsys.readouterr().err == ""


def test_cross_validate_bar(terminal, capsys, dyestuff_fit):
    mc.cross_validate(dyestuff_fit, folds=3, seed=1)
    assert "3/3" in _final_count(capsys.readouterr().err, "cross_validate")


def test_allfit_bar(terminal, capsys, dyestuff_fit):
    mc.allFit(dyestuff_fit, meth_tab=[("bobyqa", ""), ("Nelder_Mead", "")])
    assert "allFit" in capsys.readouterr().err


def test_progress_false_gives_no_bar(terminal, capsys, dyestuff_fit):
    mc.bootMer(dyestuff_fit, mc.fixef, nsim=3, seed=1, progress=False)
    mc.cross_validate(dyestuff_fit, folds=2, seed=1, progress=False)
    mc.allFit(dyestuff_fit, meth_tab=[("bobyqa", "")], progress=False)
    assert capsys.readouterr().err == ""


def test_in_notebook_detects_a_kernel(monkeypatch):
    class Shell:
        config = {"IPKernelApp": {}}
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: Shell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert progress.in_notebook()
    Shell.config = {}
    assert not progress.in_notebook()
    monkeypatch.delitem(sys.modules, "IPython")
    assert not progress.in_notebook()


def test_notebook_without_ipywidgets_gets_the_text_bar(monkeypatch, capsys):
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress.importlib.util, "find_spec", lambda name: None)
    bar = progress.progress_bar(2, desc="x")
    bar.update(2)
    bar.close()
    assert type(bar).__module__ == "tqdm.std"
    assert "2/2" in _final_count(capsys.readouterr().err, "x")

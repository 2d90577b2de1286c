"""Render the figures under docs/ (run from the repository root: python docs/make_figures.py)."""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")

import mixedcompat as mc  # noqa: E402
from mixedcompat.present.plots import caterpillar  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def main() -> None:
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    out = HERE / "caterpillar_sleepstudy.png"
    caterpillar(m).savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

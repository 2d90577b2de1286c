"""Measure the package's import structure: cycles, private cross-module imports, function-local imports.

Run ``python tools/archcheck.py`` for a report; ``tests/test_architecture.py`` asserts the limits.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = "mixedcompat"


@dataclass
class ImportFact:
    source: str
    target: str
    names: tuple[str, ...]
    local: bool
    lineno: int


@dataclass
class Graph:
    modules: dict[str, Path]
    facts: list[ImportFact] = field(default_factory=list)


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(mod: str, is_pkg: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([target] if target else []))


def collect(root: Path = ROOT) -> Graph:
    modules = {module_name(p, root): p for p in sorted((root / PKG).rglob("*.py"))}
    graph = Graph(modules)
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_pkg = path.name == "__init__.py"
        _walk(tree, mod, is_pkg, graph, modules, depth=0)
    return graph


def _walk(node: ast.AST, mod: str, is_pkg: bool, graph: Graph, modules: dict, depth: int) -> None:
    for child in ast.iter_child_nodes(node):
        inner = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, ast.ImportFrom):
            base = _resolve(mod, is_pkg, child.level, child.module)
            if base.split(".")[0] != PKG:
                continue
            plain = []
            for alias in child.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    graph.facts.append(ImportFact(mod, sub, (), depth > 0, child.lineno))
                else:
                    plain.append(alias.name)
            if plain and base in modules:
                graph.facts.append(ImportFact(mod, base, tuple(plain), depth > 0, child.lineno))
        elif isinstance(child, ast.Import):
            for alias in child.names:
                if alias.name.split(".")[0] == PKG and alias.name in modules:
                    graph.facts.append(ImportFact(mod, alias.name, (), depth > 0, child.lineno))
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            continue
        _walk(child, mod, is_pkg, graph, modules, inner)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_package_parent(a: str, b: str) -> bool:
    return b.startswith(a + ".")


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components (size > 1) of the module import graph.

    A package ``__init__`` importing its own submodules, and a submodule importing its parent package's
    ``__init__`` for re-exported names, are not counted as edges (Python's package mechanics).
    """
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for f in graph.facts:
        if f.source == f.target or _is_package_parent(f.source, f.target):
            continue
        if _is_package_parent(f.target, f.source):
            continue
        edges[f.source].add(f.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            strong(v)
    return out


def private_imports(graph: Graph) -> list[ImportFact]:
    """Imports of ``_private`` names from another module (``__init__`` re-exports excluded)."""
    out = []
    for f in graph.facts:
        priv = tuple(n for n in f.names if n.startswith("_") and not n.startswith("__"))
        if priv and f.source != f.target:
            out.append(ImportFact(f.source, f.target, priv, f.local, f.lineno))
    return out


def local_imports(graph: Graph) -> list[ImportFact]:
    return [f for f in graph.facts if f.local]


BLOCK_START = "# --- delegating methods"
BLOCK_END = "# --- end of the delegating methods"
OPTIONAL_START = "# --- optional-extra imports"
OPTIONAL_END = "# --- end of the optional-extra imports"


def marked_lines(path: Path, start: str = BLOCK_START, end: str = BLOCK_END) -> set[int]:
    """Line numbers inside the blocks of ``path`` marked by ``start`` / ``end`` comments."""
    inside, out = False, set()
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(start):
            inside = True
        elif stripped.startswith(end):
            inside = False
        elif inside:
            out.add(i)
    return out


def delegating_lines(path: Path) -> set[int]:
    """Line numbers inside a fit class's marked block of delegating methods (the one allowed cycle)."""
    return marked_lines(path)


def local_imports_outside_blocks(graph: Graph) -> list[ImportFact]:
    """Function-local imports of package modules outside the marked delegating blocks and the marked
    optional-extra blocks (a module that needs an optional dependency, imported when it is used: such
    an import stays in the graph, so a cycle through it is still reported)."""
    optional = {m: marked_lines(p, OPTIONAL_START, OPTIONAL_END) for m, p in graph.modules.items()}
    return [f for f in local_imports(without_delegating_blocks(graph)) if f.lineno not in optional[f.source]]


def without_delegating_blocks(graph: Graph) -> Graph:
    """The graph without the function-local imports of the marked delegating blocks."""
    blocks = {m: delegating_lines(p) for m, p in graph.modules.items()}
    kept = [f for f in graph.facts if not (f.local and f.lineno in blocks[f.source])]
    return Graph(graph.modules, kept)


def main() -> int:
    g = collect()
    cyc = cycles(g)
    priv = private_imports(g)
    loc = local_imports(g)
    print(f"import cycles: {len(cyc)}")
    for c in cyc:
        print("  ", " <-> ".join(c))
    print(f"private names imported across modules: {sum(len(f.names) for f in priv)} ({len(priv)} statements)")
    for f in priv:
        print(f"   {f.source}:{f.lineno} <- {f.target}: {', '.join(f.names)}")
    rest = cycles(without_delegating_blocks(g))
    print(f"import cycles without the marked delegating blocks: {len(rest)}")
    outside = local_imports_outside_blocks(g)
    print(f"function-local imports of package modules: {len(loc)} ({len(outside)} outside the delegating and "
          "optional-extra blocks)")
    if "-v" in sys.argv:
        for f in outside:
            print(f"   {f.source}:{f.lineno} <- {f.target} {f.names}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The flow reads one way: data, magnify -> models -> eval -> papers (-> notebooks). Parsed imports (ast) of
every module under merlib/ must not point upward, and merlib's modules must not import each other in a circle.

The layers, listed once (a higher number may import a lower or equal one, never a higher one):
  0 shared utilities any stage may use: merlib.env, merlib.paths, merlib.results, merlib.configs,
    merlib.run_size, merlib._version (they import no stage);
  1 merlib.data, merlib.magnify;  2 merlib.models;  3 merlib.eval;  4 merlib.papers;
  3 also merlib.viz: plots of datasets and results, beside eval (eval.compare draws with it); it may not
    import papers;
  5 front ends that may reach everything: merlib.cli, merlib.reproduce, merlib.__main__, merlib (the
    package __init__).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "merlib"
LAYERS = {"merlib.env": 0, "merlib.paths": 0, "merlib.results": 0, "merlib.configs": 0, "merlib.run_size": 0,
          "merlib._version": 0, "merlib.data": 1, "merlib.magnify": 1, "merlib.models": 2, "merlib.eval": 3,
          "merlib.papers": 4, "merlib.viz": 3, "merlib.cli": 5, "merlib.reproduce": 5, "merlib.__main__": 5,
          "merlib": 5}


def layer_of(module: str) -> int:
    parts = module.split(".")
    if module == "merlib":
        return LAYERS["merlib"]
    for k in range(len(parts), 1, -1):
        if ".".join(parts[:k]) in LAYERS:
            return LAYERS[".".join(parts[:k])]
    raise KeyError(f"{module} is in no layer: add its package to LAYERS in tests/test_layering.py")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """merlib modules imported by ``path`` (absolute and relative imports, anywhere in the file)."""
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "merlib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "merlib":
                if name != "merlib":  # `from merlib import eval` imports merlib.eval, not the front package
                    out.add(name)
                out |= {f"{name}.{a.name}" for a in node.names}
    return out


def graph() -> dict[str, set[str]]:
    mods = {module_name(p): p for p in ROOT.rglob("*.py")}
    g = {}
    for m, p in mods.items():
        g[m] = {t for t in imports_of(p) if t in mods and t != m}
    return g


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
                  for a, ts in g.items() for b in ts if layer_of(b) > layer_of(a))


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
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

    for v in list(g):
        if v not in index:
            visit(v)
    return sorted(out)


def _package_inits_only(g):  # a package __init__ re-exporting its own submodules is not a circle of the code
    return {a: {b for b in ts if not (a.startswith(b + ".") and b in g)} for a, ts in g.items()}


def test_every_module_has_a_layer():
    for m in graph():
        layer_of(m)


def test_no_upward_import():
    bad = upward_imports(graph())
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycle():
    found = cycles(_package_inits_only(graph()))
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_checks_catch_a_planted_upward_import_and_a_cycle():
    g = {"merlib.models.x": {"merlib.eval.runner"}, "merlib.eval.runner": {"merlib.models.backbones"},
         "merlib.models.backbones": set(), "merlib.data.a": {"merlib.data.b"}, "merlib.data.b": {"merlib.data.a"}}
    assert upward_imports(g) == ["merlib.models.x (layer 2) imports merlib.eval.runner (layer 3)"]
    assert cycles(g) == [["merlib.data.a", "merlib.data.b"]]
    assert upward_imports({"merlib.papers.p": {"merlib.eval.task"}, "merlib.eval.task": set()}) == []


def test_relative_imports_are_resolved(tmp_path):
    f = ROOT / "papers" / "bai2021" / "pipeline.py"
    assert "merlib.papers.bai2021.model" in imports_of(f)
    with pytest.raises(KeyError, match="no layer"):
        layer_of("merlib.unknown_stage.x")

"""``workbench/llm/`` has no import circle: every import statement of every module (function-level ones included,
which is how a circle hides) is read from the source, and the graph of imports between the package's modules
must be acyclic."""

import ast
from pathlib import Path

import workbench.llm

PKG = "workbench.llm"
ROOT = Path(workbench.llm.__file__).parent


def module_names() -> set[str]:
    return {PKG if p.stem == "__init__" else f"{PKG}.{p.stem}" for p in ROOT.glob("*.py")}


def imports(source: str, modules: set[str]) -> set[str]:
    """The package's modules that ``source`` imports anywhere (``from workbench.llm import x`` counts as
    ``workbench.llm.x`` when ``x`` is a module, else as the package itself)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PKG:
                out |= {f"{PKG}.{a.name}" if f"{PKG}.{a.name}" in modules else PKG for a in node.names}
            elif node.module in modules:
                out.add(node.module)
    return out


def graph() -> dict[str, set[str]]:
    mods = module_names()
    files = {m: ROOT / ("__init__.py" if m == PKG else f"{m.rsplit('.', 1)[1]}.py") for m in mods}
    return {m: imports(f.read_text(), mods) - {m} for m, f in files.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``g`` as a path ``[a, b, ..., a]``, or ``None`` (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = "done"
        return None

    for n in sorted(g):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_the_cycle_finder_finds_a_planted_circle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(g) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    src = "def f():\n    from workbench.llm.models import load_policy\nimport workbench.llm.task\n"
    assert imports(src, {f"{PKG}.models", f"{PKG}.task"}) == {f"{PKG}.models", f"{PKG}.task"}  # lazy ones count


def test_workbench_llm_has_no_import_circle():
    g = graph()
    assert f"{PKG}.policy" in g and f"{PKG}.models" in g[PKG]  # the package and its modules are all read
    cycle = find_cycle(g)
    assert cycle is None, "import circle: " + " -> ".join(cycle)

"""The package's shape: no import cycles, one definition per type name, no private names across modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "confusion_report"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"))
    return out


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)
    return node.module or ""


def _imports(modules: dict[str, ast.Module]) -> dict[str, set[tuple[str, str]]]:
    """Module-level imports (the ones that run at import time): module -> {(target module, imported name)}."""
    packages = {m for m in modules if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()}
    graph: dict[str, set[tuple[str, str]]] = {m: set() for m in modules}
    for name, tree in modules.items():
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                target = _resolve(name, node, name in packages)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    graph[name].add((sub if sub in modules else target, alias.name))
            elif isinstance(node, ast.Import):
                graph[name].update((a.name, a.name) for a in node.names)
    return graph


def test_the_package_has_no_import_cycles() -> None:
    """Following module-level imports inside the package never comes back to where it started."""
    modules = _modules()
    graph = {m: {t for t, _ in targets if t in modules and t != m} for m, targets in _imports(modules).items()}
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_every_class_name_is_defined_once_in_the_package() -> None:
    """Two classes with one name would mean two things under one word (as PairOverlap once did)."""
    seen: dict[str, list[str]] = {}
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                seen.setdefault(node.name, []).append(module)
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}


def test_no_module_imports_a_private_name_of_another() -> None:
    """What crosses a module boundary is public (``engine._logits_of`` used to)."""
    crossing = sorted(
        f"{module} imports {name} from {target}"
        for module, targets in _imports(_modules()).items()
        for target, name in targets
        if name.startswith("_") and not name.startswith("__") and target.startswith("confusion_report")
    )
    assert crossing == []


def test_rendering_and_results_never_import_torch() -> None:
    """render/, results/ and the analyses are numpy only: a report re-renders where torch is absent."""
    offenders = sorted(
        module
        for module, targets in _imports(_modules()).items()
        if module.startswith(("confusion_report.render", "confusion_report.results", "confusion_report.analyses"))
        and any(t == "torch" or t.startswith("torch.") for t, _ in targets)
    )
    assert offenders == []

"""The package layout keeps its promises: few top-level modules, no import circle, small files."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "nlpkit"
MAX_TOP_LEVEL_MODULES = 8
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_IMPORT_CHAIN = 8  # modules in the longest chain of import-time (top-of-file) imports (was 9)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Lines under `if TYPE_CHECKING:`: annotations only, never run."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path, modules: set[str], top_only: bool = False) -> set[str]:
    """nlpkit modules that ``path`` imports, at the top or (unless ``top_only``) in functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    found: set[str] = set()
    for node in tree.body if top_only else ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules} - {module_name(path)}


def import_graph(top_only: bool = False) -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in files}
    # `import nlpkit.x` runs nlpkit/__init__.py, whose public API is lazy: not an edge
    return {module_name(p): imports_of(p, modules, top_only) - {"nlpkit"} for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def depth(graph: dict[str, set[str]]) -> int:
    """Length of the longest import chain (the graph has no circle)."""
    memo: dict[str, int] = {}

    def longest(node: str) -> int:
        if node not in memo:
            memo[node] = 1 + max((longest(t) for t in graph.get(node, ())), default=0)
        return memo[node]

    return max(longest(node) for node in graph)


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_import_chains_stay_short():
    assert depth(import_graph(top_only=True)) <= MAX_IMPORT_CHAIN


def test_few_modules_at_the_top_of_the_package():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_modules_stay_small():
    big = {
        str(path.relative_to(ROOT)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert big == {}


def test_functions_stay_short():
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert depth({"a": {"b"}, "b": {"c"}, "c": set()}) == 3


def test_the_library_never_renders():
    """Only nlpkit/cli draws: the library returns data and reports progress through
    callbacks, so no module outside cli/ imports rich or calls print()."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name == "rich" or name.startswith("rich.") for name in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports rich")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: print()")
    assert found == []


def task_name_strings() -> list[str]:
    """Each place outside the task table and the tasks' own packages where a string
    constant is a task's name or command: the layers around a task must ask it instead."""
    from nlpkit.tasks.table import TASKS

    names = {task.name for task in TASKS} | {task.command for task in TASKS}
    own = {PACKAGE / "tasks" / "table.py", *(PACKAGE / "tasks" / t.module for t in TASKS)}
    own |= {PACKAGE / "models" / "builtin" / "__init__.py"}  # the built-in models' table
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path == place or path.is_relative_to(place) for place in own):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings
        ]
    return found


def test_no_layer_names_a_task():
    """training/, batch/, serve/, cli/, models/ and recipe/ ask the task (its pieces) and
    never compare its name; adding a task is one table entry and one package."""
    assert task_name_strings() == []

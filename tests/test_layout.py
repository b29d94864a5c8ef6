"""The shape of the code, checked: layers, import cycles, private names, sizes (issue 11).

- channels/, router/ and storage/ never import ingest/ (data flows one way: ingest/ assembles them);
- no import cycle between the project's modules, counting imports inside functions too;
- no module imports another module's private (underscore) name;
- no function over 60 lines and no module over 500 (parsers may argue for an exception here);
- at most a dozen modules directly under ingest/: the rest lives in its domain folders.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ingest", "channels", "router", "storage")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500
MAX_TOP_LEVEL_INGEST_MODULES = 12


@dataclass(frozen=True)
class Import:
    importer: str
    module: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def imports_of(path: Path) -> Iterator[Import]:
    importer = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Imports for the type checker only never run: they cannot close a cycle.
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(importer, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = importer.split(".") if is_package else importer.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield Import(importer, base, tuple(a.name for a in node.names), node.lineno)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sources()}


def target(imp: Import, modules: dict[str, Path]) -> list[str]:
    """The project modules an import statement loads (``from pkg import mod`` loads ``pkg.mod``)."""
    found = [imp.module] if imp.module in modules else []
    found += [f"{imp.module}.{name}" for name in imp.names if f"{imp.module}.{name}" in modules]
    return found


def test_the_lower_layers_never_import_ingest() -> None:
    wrong = [
        f"{imp.importer}:{imp.line} imports {imp.module}"
        for path in sources()
        if not module_name(path).startswith("ingest")
        for imp in imports_of(path)
        if imp.module == "ingest" or imp.module.startswith("ingest.")
    ]
    assert wrong == []


def test_no_import_cycle_between_modules() -> None:
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imp in imports_of(path):
            graph[name].update(t for t in target(imp, modules) if t != name)
    # A package's __init__ importing its own submodules is how a package is assembled, not a cycle.
    for name, edges in graph.items():
        graph[name] = {e for e in edges if not (e.startswith(name + ".") and modules[name].name == "__init__.py")}
    cycles = _cycles(graph)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_private_name_is_imported_across_modules() -> None:
    modules = project_modules()
    wrong = [
        f"{imp.importer}:{imp.line} imports {name} from {imp.module}"
        for path in sources()
        for imp in imports_of(path)
        if imp.module in modules
        for name in imp.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert wrong == []


def test_functions_and_modules_are_small() -> None:
    too_long: list[str] = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []


def test_ingest_keeps_its_modules_in_domain_folders() -> None:
    top = sorted(p.name for p in (ROOT / "ingest").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_INGEST_MODULES, top

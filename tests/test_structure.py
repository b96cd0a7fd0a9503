"""The shape of the package: one-way imports between layers, small modules, a light import.

Every import between spladekit's modules (function-level imports and ``TYPE_CHECKING`` ones
included) must go from a higher layer to a lower one. A unit is a top-level module or a
subpackage; a subpackage whose modules sit at different layers names them (``onnx.layout`` is
low, the rest of ``onnx`` high). Inside a package, imports between its modules must not form a
cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import spladekit

PACKAGE = Path(spladekit.__file__).resolve().parent

# Lower layers never import higher ones; units in one layer never import each other.
LAYERS = [
    {"_version", "errors", "reference_base", "lazy", "heap"},
    {"files"},
    {"validation"},
    {"options"},
    {"checkpoint", "tokenize", "vectors", "corpus"},
    {"profiles"},
    {"pooling"},
    {"backends", "onnx"},
    {"routes", "inference_free"},
    {"encoding"},
    {"encoder", "store"},
    {"embedding_function", "retrieval"},
    {"evaluation"},
    {"client", "serve", "distributed", "finetune"},
    {"cli", "integrations"},
]
LAYER_OF = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
MAX_LINES = 450

# Import cycles inside a package that test_no_cycles_inside_packages tolerates: none today. A
# cycle that cannot be broken at once would be listed here (its modules as a set) with the
# reason, and removed with it.
KNOWN_CYCLES: list[set[str]] = []  # none: every package imports one way


def module_of(path: Path) -> str:
    """``corpus.records`` for corpus/records.py, ``store`` for store/__init__.py."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The layer of a module: its own entry, else its package's."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in LAYER_OF:
            return LAYER_OF[name]
    return None


def unit_of(module: str) -> str:
    """The layered unit a module belongs to: the longest prefix named in LAYERS."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in LAYER_OF:
            return name
    return parts[0]


def existing(parts: list[str]) -> str | None:
    """The spladekit module that ``parts`` names (a module file or a package), if any."""
    if not parts:
        return ""
    target = PACKAGE.joinpath(*parts)
    if target.with_suffix(".py").is_file() or (target / "__init__.py").is_file():
        return ".".join(parts)
    return None


def imports_of(path: Path) -> set[str]:
    """spladekit modules a module imports, at any depth, ``TYPE_CHECKING`` blocks included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = list(path.relative_to(PACKAGE).parent.parts)
    found: set[str] = set()

    def add(parts: list[str], names: list[str]) -> None:
        # "from .x import y": y may be a module of package x, else a name x defines.
        for name in names:
            module = existing([*parts, name])
            if module or ((module := existing(parts)) is not None and module):
                found.add(module)

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                parts = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and (node.module + ".").startswith("spladekit."):
                parts = node.module.split(".")[1:]
            else:
                continue
            add(parts, [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("spladekit."):
                    add(alias.name.split(".")[1:-1], [alias.name.split(".")[-1]])
    return found


def modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.parent != PACKAGE or p.stem != "__init__"]


def test_every_unit_has_a_layer() -> None:
    unplaced = {module_of(p) for p in modules() if layer_of(module_of(p)) is None}
    assert not unplaced, f"place these in LAYERS: {sorted(unplaced)}"


def test_imports_flow_one_way() -> None:
    wrong = []
    for path in modules():
        source = module_of(path)
        for target in sorted(imports_of(path)):
            if unit_of(target) == unit_of(source):
                continue  # inside one unit: test_no_cycles_inside_packages
            low, high = layer_of(target), layer_of(source)
            if low is not None and high is not None and low >= high:
                wrong.append(f"{source} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_cycles_inside_packages() -> None:
    graph = {module_of(p): imports_of(p) for p in modules()}
    cycles = []
    for start in graph:
        # Depth-first search for a path from start back to start inside start's package.
        package = start.rsplit(".", 1)[0] if "." in start else None
        if package is None:
            continue
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, set()):
                if not nxt.startswith(package + ".") and nxt != package:
                    continue
                if nxt == start:
                    cycle = set(trail)
                    if cycle not in cycles and cycle not in KNOWN_CYCLES:
                        cycles.append(cycle)
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert not cycles, f"import cycles inside packages: {[sorted(c) for c in cycles]}"


def test_the_onnx_package_imports_nothing_when_loaded() -> None:
    # Exporting is the only reason to load it; what loading an export needs is in checkpoint.
    assert not imports_of(PACKAGE / "onnx" / "__init__.py")


def package_of(module: str) -> str:
    """The top-level package (or root module) a module belongs to."""
    return module.split(".")[0]


def test_no_two_packages_import_each_other() -> None:
    # Stricter than the layers for subpackages that span several: seen from outside, every
    # package imports one way.
    edges = {
        (package_of(module_of(path)), package_of(target))
        for path in modules()
        for target in imports_of(path)
        if package_of(target) and package_of(module_of(path)) != package_of(target)
    }
    both = sorted({tuple(sorted(e)) for e in edges if (e[1], e[0]) in edges})
    assert not both, f"packages that import each other: {both}"


def test_no_module_is_a_god_file() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these by responsibility: {long}"


def module_imports(path: Path) -> set[str]:
    """Modules of the same package that a module imports, type-only imports included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    siblings = {p.stem for p in path.parent.glob("*.py")}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found & siblings - {path.stem}


def test_store_modules_import_one_way_even_for_types() -> None:
    # No store module is a private half of another: imports between them, TYPE_CHECKING ones
    # included, form no cycle (a module may import its package's __init__ never).
    folder = PACKAGE / "store"
    graph = {p.stem: module_imports(p) for p in folder.glob("*.py") if p.stem != "__init__"}
    assert all("__init__" not in targets for targets in graph.values())
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, "store modules import in a circle: " + " -> ".join(
            [*path[path.index(module):], module]
        )
        if module in done:
            return
        for target in sorted(graph.get(module, set())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_the_architecture_page_shows_these_layers() -> None:
    # docs/ARCHITECTURE.md's table is read by people adding to the code; it must be LAYERS.
    page = (PACKAGE.parents[1] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = [line.split("|") for line in page.splitlines() if line.startswith("| ")]
    shown = [
        {unit.strip(" `") for unit in cells[2].split(",")}
        for cells in rows if cells[1].strip().isdigit()
    ]
    assert shown == LAYERS

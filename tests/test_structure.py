"""The shape of the package: one-way imports between layers, small modules, a light import.

Every runtime import between spladekit's top-level modules and subpackages (function-level
imports included, type-only imports excluded) must go from a higher layer to a lower one, so no
unit imports another that imports it back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import spladekit

PACKAGE = Path(spladekit.__file__).resolve().parent

# Lower layers never import higher ones; units in one layer never import each other.
LAYERS = [
    {"_version", "errors", "reference_base"},
    {"validation"},
    {"options", "onnx_layout", "known", "fingerprint"},
    {"models", "tokenize", "vectors", "corpus", "layout"},
    {"description"},
    {"pooling", "sources"},
    {"backends", "onnx"},
    {"routes", "inference_free"},
    {"encoder", "store"},
    {"compat", "retrieval"},
    {"evaluate"},
    {"client", "serve", "distributed"},
    {"cli", "integrations"},
]
LAYER_OF = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
MAX_LINES = 450


def unit_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def runtime_imports(path: Path) -> set[str]:
    """spladekit units imported by a module, at any depth, outside `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = path.relative_to(PACKAGE).parent.parts
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - (node.level - 1)])
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target] if target else [[alias.name] for alias in node.names]
                for parts in names:
                    found.add(parts[0].removesuffix(".py"))
            elif node.module and node.module.startswith("spladekit."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("spladekit."):
                    found.add(alias.name.split(".")[1])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.parent != PACKAGE or p.stem != "__init__"]


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(p) for p in modules()}
    assert units <= set(LAYER_OF), f"place these in LAYERS: {sorted(units - set(LAYER_OF))}"


def test_imports_flow_one_way() -> None:
    wrong = []
    for path in modules():
        unit = unit_of(path)
        for target in runtime_imports(path) - {unit}:
            if target in LAYER_OF and LAYER_OF[target] >= LAYER_OF[unit]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


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

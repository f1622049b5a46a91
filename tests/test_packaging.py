"""The declared dependencies: every package the code imports is declared, and every floor is
the version the nixpkgs dependency set tests (tests/constraints-nixpkgs.txt)."""

import ast
import importlib.util
import re
import sys
import tomllib
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import jupyter_mcp

ROOT = Path(__file__).parent.parent
# The package as installed: the Nix check runs the suite without the source tree's copy.
PACKAGE = Path(jupyter_mcp.__file__).parent
# Distributions that hold a module but are declared through a metapackage: `fastmcp` (3.4 and
# 4.x) installs fastmcp-slim, which holds the `fastmcp` module, with its server extras.
DECLARED_AS = {"fastmcp-slim": "fastmcp"}


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = (Requirement(line) for line in project["dependencies"])
    return {canonicalize_name(r.name): r for r in requirements}


def constrained() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "tests" / "constraints-nixpkgs.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line).groups()
            pins[canonicalize_name(name)] = version
    return pins


def imported_modules(*, optional: bool = False) -> set[str]:
    """Every module the package imports from outside itself and the standard library: the
    required ones, or (`optional`) those imported under `try: ... except ImportError`."""
    names: dict[bool, set[str]] = {False: set(), True: set()}

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            names[guarded] |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names[guarded].add(node.module)
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers
        ):
            for child in node.body:
                visit(child, True)
            rest: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
        else:
            rest = list(ast.iter_child_nodes(node))
        for child in rest:
            visit(child, guarded)

    for source in PACKAGE.rglob("*.py"):
        visit(ast.parse(source.read_text()), False)
    local = sys.stdlib_module_names | {"jupyter_mcp"}
    return {n for n in names[optional] if n.split(".")[0] not in local}


def owner(module: str, files: dict[Path, str]) -> str:
    """The distribution whose files hold `module`."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not installed"
    return files[Path(spec.origin).resolve()]


def test_every_imported_package_is_declared() -> None:
    files = {
        Path(dist.locate_file(f)).resolve(): canonicalize_name(dist.metadata["Name"])
        for dist in distributions()
        for f in dist.files or []
        if f.suffix in (".py", ".so")
    }
    needed = {owner(module, files) for module in imported_modules()}
    needed = {DECLARED_AS.get(name, name) for name in needed}
    assert "pycrdt-websocket" in needed  # pycrdt.websocket is a distribution of its own
    assert needed - declared().keys() == set()


def test_every_optional_import_is_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {
        canonicalize_name(Requirement(line).name).replace("-", "_")
        for lines in project["optional-dependencies"].values()
        for line in lines
    }
    optional = {module.split(".")[0] for module in imported_modules(optional=True)}
    assert optional == {"fastmcp_tasks"}
    assert optional <= extras


def test_every_floor_is_the_version_the_nixpkgs_set_tests() -> None:
    pins = constrained()
    for name, requirement in declared().items():
        (specifier,) = requirement.specifier
        assert specifier.operator == ">=", f"{requirement}: a floor only, no cap"
        assert pins.get(name) == specifier.version, (
            f"{name}: pyproject.toml's floor is {specifier.version}, "
            f"tests/constraints-nixpkgs.txt tests {pins.get(name)}"
        )

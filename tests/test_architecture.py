"""The shape of the code: who may import whom (STYLE.md rules 1 and 4, issue 15).

The control plane is a stack of layers (`LAYERS`, top to bottom). A module imports modules of
its own domain and of the layers below its own, never above; the siblings of a layer marked
independent know nothing of each other. Across domains a module goes through the other domain's
service (or the upcalls it declares): never its `models`, never a query on its rows (a service
names its rows for annotations only), never a router (routes are composed by the top floor
only). The imports have no cycles. The agent and the technicians' CLI import only `shared/`,
which imports neither FastAPI nor SQLAlchemy nor any of the three.

The checks read the source (every import statement, those inside functions too), so they take
a fraction of a second; each is tried below on a small tree made in `tmp_path`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "control_plane"
ROUTES = "<routes>"  # every module that makes an APIRouter (router.py, webhooks.py, hooks.py)
DEPENDENCIES = "<dependencies>"  # every dependencies.py (FastAPI's load-or-404 and auth)


@dataclass(frozen=True)
class Layer:
    """Names under control_plane/ (a domain's folder, or a top-level module) on one floor."""

    names: tuple[str, ...]
    independent: bool = True  # siblings may not import each other


def layer(names: str, *, independent: bool = True) -> Layer:
    return Layer(tuple(names.split()), independent)


# Top to bottom. The top floor wires and starts everything and may import anything. Routes
# compose any domain's services (and dependencies) for HTTP; only the top floor imports them.
# Reporting judges proof of play by the scheduler's rules, and moderation's queue is what the
# scheduler would play, so both sit above scheduling, which is told what campaigns delivered and
# what manual venues exclude through upcalls it declares (`control_plane/upcalls.py`); devices
# hand proof of play that came over MQTT to reporting the same way. Venues hold house content,
# which is media, so media asks an upcall of its own for the screens' sizes.
LAYERS: tuple[Layer, ...] = (
    layer("app cli demo demo_run subscribers docs middleware query migrate models",
          independent=False),
    layer(ROUTES),
    layer("dashboard"),  # what the dashboard's pages share: sessions, rendering
    layer(DEPENDENCIES, independent=False),
    layer("notifications"),
    layer("engagement billing"),  # engagement: scans, attributed by reporting's impressions
    layer("reporting moderation"),
    layer("scheduling revenue"),
    layer("campaigns venues devices"),
    layer("media"),
    layer("auth taxonomy"),
    layer("orgs"),
    layer("events"),  # identity records events too (signed up, invited): so it sits under it
    layer("jobs"),
    layer("storage payments"),
    layer(". errors db settings ports upcalls"),  # ".": control_plane/__init__.py (its version)
)
EXEMPT = ("control_plane.migrations",)  # Alembic's scripts see every table as it was

# Departures known and not yet mended, each with what would mend it. Once mended, its entry
# goes too (a test says so), so that it cannot come back unseen.
KNOWN: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


@dataclass
class Tree:
    """The modules of some packages, the imports each makes, and which make routes."""

    files: dict[str, Path]
    imports: list[Import]
    routes: frozenset[str]

    def internal(self, package: str) -> list[Import]:
        """The imports from this package's modules of its own modules."""
        return [i for i in self.imports if _within(i.source, package)
                and i.target in self.files and _within(i.target, package)]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def read_tree(root: Path, packages: Iterable[str]) -> Tree:
    """Parse every module of these packages under `root`."""
    files: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    imports: list[Import] = []
    routes = set()
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imports += [Import(module, a.name, node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node.level, node.module)
                # `from pkg import mod` imports the module; `from mod import name`, the module
                targets = {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names}
                imports += [Import(module, t, node.lineno) for t in sorted(targets)]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "APIRouter":
                routes.add(module)
    return Tree(files, imports, frozenset(routes))


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    parts = module.split(".")
    if not is_package:
        parts.pop()
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([name] if name else []))


# --- the checks: each returns what it finds wrong, one sentence each ------------------------


def cycles(imports: Iterable[Import]) -> list[str]:
    """Every ring of modules that import one another (Tarjan's strongly connected components),
    as "a <-> b <-> c"."""
    edges: dict[str, set[str]] = {}
    for i in imports:
        edges.setdefault(i.target, set())
        if i.source != i.target:
            edges.setdefault(i.source, set()).add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    rings: list[str] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            ring = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                ring.append(w)
                if w == v:
                    break
            if len(ring) > 1:
                rings.append(" <-> ".join(sorted(ring)))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges) + 100))
    try:
        for v in sorted(edges):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(rings)


def _name(module: str) -> str:
    """The module's name in LAYERS: its domain's folder, or the top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "."


def _key(module: str, tree: Tree, layers: tuple[Layer, ...]) -> str:
    """What places the module in the layers: routes, dependencies, or its name."""
    name = _name(module)
    if name in layers[0].names:
        return name
    if module in tree.routes:
        return ROUTES
    if module.endswith(".dependencies"):
        return DEPENDENCIES
    return name


def _floor(key: str, layers: tuple[Layer, ...]) -> int | None:
    return next((i for i, each in enumerate(layers) if key in each.names), None)


def layering(tree: Tree, layers: tuple[Layer, ...] = LAYERS, package: str = PACKAGE,
             known: dict[tuple[str, str], str] | None = None,
             exempt: tuple[str, ...] = EXEMPT) -> list[str]:
    """Every import that goes up the layers, sideways between independent siblings, into
    another domain's tables, or into routes from below the top floor; and every module the
    layering does not place."""
    known = KNOWN if known is None else known
    keys = {m: _key(m, tree, layers) for m in tree.files
            if _within(m, package) and not m.startswith(exempt)}
    unplaced = sorted({_name(m) for m, key in keys.items() if _floor(key, layers) is None})
    problems = [f"{package}/{name}: not in the layering (add it to LAYERS)" for name in unplaced]
    for i in tree.internal(package):
        if i.source not in keys or i.target not in keys or (i.source, i.target) in known:
            continue
        src, dst = _floor(keys[i.source], layers), _floor(keys[i.target], layers)
        if src is None or dst is None or src == 0 or i.source == i.target:
            continue  # unplaced (said above), or the top floor, which may import anything
        if i.target in tree.routes:
            problems.append(f"{i}: routes (only the top floor composes them)")
        elif i.target.endswith(".models") and _name(i.target) != _name(i.source):
            problems.append(f"{i}: another domain's tables (ask its service)")
        elif dst < src:
            problems.append(f"{i}: upward ({keys[i.target]} is above {keys[i.source]})")
        elif dst == src and keys[i.target] != keys[i.source] and layers[src].independent:
            problems.append(f"{i}: {keys[i.source]} and {keys[i.target]} are independent")
    return problems


QUERIES = frozenset({"select", "update", "delete", "insert", "aliased"})
LOOKUPS = frozenset({"get", "query", "merge"})  # session.get(Row, id), session.query(Row)


def _foreign(expr: ast.expr, aliases: set[str], classes: set[str]) -> bool:
    """Whether `expr` is another domain's class or one of its columns: `Row`, `Row.column`,
    `service.Row` or `service.Row.column` (`aliases`: names of its modules)."""
    while isinstance(expr, ast.Attribute):
        if isinstance(expr.value, ast.Name) and expr.value.id in aliases:
            return expr.attr[:1].isupper()
        expr = expr.value
    return isinstance(expr, ast.Name) and expr.id in classes


def foreign_queries(tree: Tree, layers: tuple[Layer, ...] = LAYERS, package: str = PACKAGE,
                    known: dict[tuple[str, str], str] | None = None,
                    exempt: tuple[str, ...] = EXEMPT) -> list[str]:
    """Every query built on another domain's row class, however it was imported (a service
    names its rows for others' annotations, never for their queries)."""
    known_sources = {source for source, _ in (KNOWN if known is None else known)}
    problems = []
    for module, path in tree.files.items():
        if not _within(module, package) or module.startswith(exempt) \
                or module in known_sources or _name(module) in layers[0].names:
            continue
        nodes = list(ast.walk(ast.parse(path.read_text(), filename=str(path))))
        aliases: set[str] = set()
        classes: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and _within(node.module, package) and _name(node.module) != _name(module):
                for a in node.names:
                    if f"{node.module}.{a.name}" in tree.files:
                        aliases.add(a.asname or a.name)
                    elif a.name[:1].isupper() and not a.name.isupper():  # a class, not a
                        classes.add(a.asname or a.name)  # CONSTANT
        for node in nodes:
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in QUERIES:
                args = node.args
            elif isinstance(func, ast.Attribute) and func.attr in LOOKUPS:
                args = node.args[:1]
            else:
                continue
            problems += [f"{module}:{node.lineno} queries {ast.unparse(arg)}, another "
                         f"domain's rows (ask its service)" for arg in args
                         if _foreign(arg, aliases, classes)]
    return sorted(problems)


# What each package may not import: the sides of the device protocol, and frameworks.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "shared": ("control_plane", "player_agent", "provisioning", "fastapi", "starlette",
               "sqlalchemy", "alembic"),
    "player_agent": ("control_plane", "provisioning"),
    "provisioning": ("control_plane", "player_agent"),
    "control_plane": ("player_agent", "provisioning"),  # but its top floor: the CLI runs them
}


def sides(tree: Tree, forbidden: dict[str, tuple[str, ...]] = FORBIDDEN,
          package: str = PACKAGE, top: Iterable[str] = LAYERS[0].names) -> list[str]:
    """Every import of what `forbidden` keeps from a package."""
    top_modules = {f"{package}.{name}" for name in top}
    problems = []
    for i in tree.imports:
        for owner, banned in forbidden.items():
            if _within(i.source, owner) and i.source not in top_modules and any(
                    _within(i.target, b) for b in banned):
                problems.append(f"{i}: {owner} may not import {i.target.split('.')[0]}")
    return problems


# --- the project as it is ---------------------------------------------------------------


@pytest.fixture(scope="module")
def project() -> Tree:
    return read_tree(ROOT, [PACKAGE, "shared", "player_agent", "provisioning"])


def test_no_import_cycles(project: Tree) -> None:
    assert cycles(i for i in project.internal(PACKAGE) if not i.source.startswith(EXEMPT)) == []


def test_domains_import_downward_through_services(project: Tree) -> None:
    assert layering(project) == []


def test_no_domain_queries_another_domains_rows(project: Tree) -> None:
    assert foreign_queries(project) == []


def test_each_side_imports_only_what_it_may(project: Tree) -> None:
    assert sides(project) == []


def test_known_departures_still_occur(project: Tree) -> None:
    made = {(i.source, i.target) for i in project.imports}
    assert [pair for pair in KNOWN if pair not in made] == [], "mended: take it off KNOWN"


# --- the checks on small trees ----------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Tree:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in {p.parent for p in root.rglob("*.py")} - {root}:
        (directory / "__init__.py").touch()
    return read_tree(root, sorted({name.split("/")[0] for name in files}))


FAKE_LAYERS = (layer("app", independent=False), layer(ROUTES),
               layer(DEPENDENCIES, independent=False), layer("scheduling"),
               layer("venues campaigns"), layer("media"), layer(". db"))
FAKE = {
    "cp/app.py": "from cp.venues import router\nfrom cp.venues.models import Screen\n",
    "cp/db.py": "",
    "cp/media/service.py": "from cp import db\n",
    "cp/venues/models.py": "from cp.db import Base\n",
    "cp/venues/service.py": "from cp.venues.models import Screen\nfrom cp.media import service\n",
    "cp/venues/dependencies.py": "from cp.venues import service\n",
    "cp/venues/router.py": "from fastapi import APIRouter\nfrom cp.venues import service\n"
                           "from cp.scheduling import service as scheduling_service\n"
                           "from cp.venues.dependencies import CurrentVenue\n"
                           "router = APIRouter()\n",
    "cp/campaigns/service.py": "from cp.media.service import Media\n",
    "cp/scheduling/service.py": "from cp.venues import service as venues_service\n"
                                "from cp.campaigns.service import Campaign\n",
}


def _check(tmp_path: Path, **changes: str) -> list[str]:
    """The layering's complaints about FAKE with these modules added (cp__x__y: cp/x/y.py)."""
    files = {**FAKE, **{name.replace("__", "/") + ".py": text for name, text in changes.items()}}
    return layering(_write(tmp_path, files), FAKE_LAYERS, "cp", known={}, exempt=())


def test_a_tree_that_keeps_the_rules_passes(tmp_path: Path) -> None:
    assert _check(tmp_path) == []
    assert cycles(_write(tmp_path, FAKE).internal("cp")) == []


def test_reading_another_domains_tables_fails(tmp_path: Path) -> None:
    assert _check(tmp_path, cp__scheduling__rows="from cp.venues.models import Screen\n") == [
        "cp.scheduling.rows:1 imports cp.venues.models: another domain's tables (ask its "
        "service)"]


def test_an_upward_import_fails_even_inside_a_function(tmp_path: Path) -> None:
    assert _check(tmp_path, cp__media__targets="def f():\n    from cp.venues import service\n"
                  ) == ["cp.media.targets:2 imports cp.venues.service: upward (venues is above "
                        "media)"]


def test_independent_siblings_fail(tmp_path: Path) -> None:
    assert _check(tmp_path, cp__campaigns__rules="import cp.venues.service\n") == [
        "cp.campaigns.rules:1 imports cp.venues.service: campaigns and venues are independent"]


def test_routes_are_imported_by_the_top_floor_only(tmp_path: Path) -> None:
    assert _check(tmp_path, cp__scheduling__device_router="from cp.venues.router import x\n"
                  ) == ["cp.scheduling.device_router:1 imports cp.venues.router: routes (only "
                        "the top floor composes them)"]


def test_a_service_knows_nothing_of_http(tmp_path: Path) -> None:
    assert _check(tmp_path, cp__venues__service="from cp.venues.dependencies import d\n") == [
        "cp.venues.service:1 imports cp.venues.dependencies: upward (<dependencies> is above "
        "venues)"]


def test_querying_rows_named_through_a_service_fails(tmp_path: Path) -> None:
    tree = _write(tmp_path, {**FAKE, "cp/scheduling/rows.py": (
        "from cp.venues import service as venues_service\n"
        "from cp.venues.service import Screen\n"
        "def screens(session, media: Screen) -> list[Screen]:\n"  # naming them is fine
        "    session.get(venues_service.Venue, 1)\n"
        "    return select(Screen).where(Screen.id == 1), select(venues_service.Screen.id)\n")})
    assert foreign_queries(tree, FAKE_LAYERS, "cp", known={}, exempt=()) == [
        "cp.scheduling.rows:4 queries venues_service.Venue, another domain's rows (ask its "
        "service)",
        "cp.scheduling.rows:5 queries Screen, another domain's rows (ask its service)",
        "cp.scheduling.rows:5 queries venues_service.Screen.id, another domain's rows (ask its "
        "service)"]


def test_a_module_nobody_placed_fails(tmp_path: Path) -> None:
    assert _check(tmp_path, cp__billing__service="") == [
        "cp/billing: not in the layering (add it to LAYERS)"]


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    assert _check(tmp_path, cp__scheduling__rows="from ..venues.models import Screen\n") == [
        "cp.scheduling.rows:1 imports cp.venues.models: another domain's tables (ask its "
        "service)"]


def test_a_cycle_is_named(tmp_path: Path) -> None:
    tree = _write(tmp_path, {**FAKE,
                             "cp/media/hosted.py": "from cp.media.processing import mark_ready\n",
                             "cp/media/processing.py": "def f():\n    from cp.media import "
                                                       "hosted\n"})
    assert cycles(tree.internal("cp")) == ["cp.media.hosted <-> cp.media.processing"]


def test_the_sides_of_the_protocol(tmp_path: Path) -> None:
    tree = _write(tmp_path, {
        "shared/wire.py": "import pydantic\nfrom sqlalchemy import select\n",
        "agent/run.py": "from shared import wire\nfrom cp.venues import service\n",
        "cp/cli.py": "from agent import run\n",
        "cp/venues/service.py": "import agent.run\n",
    })
    rules = {"shared": ("cp", "agent", "sqlalchemy"), "agent": ("cp",), "cp": ("agent",)}
    assert sides(tree, rules, package="cp", top=("cli",)) == [
        "agent.run:2 imports cp.venues.service: agent may not import cp",
        "cp.venues.service:1 imports agent.run: cp may not import agent",
        "shared.wire:2 imports sqlalchemy: shared may not import sqlalchemy"]

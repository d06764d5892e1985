"""The layering rules of STYLE.md, checked on the source's syntax trees (``ast``).

1. SQL constructs (``select``/``insert``/``update``/``delete``/``text`` from SQLAlchemy, the
   dialect inserts and ``core.db.upsert_insert``) appear only in ``*repository*.py`` modules,
   ``core/db.py``, ``core/jobs.py`` and the Alembic migrations; models modules may use ``text``
   for schema (a partial index's ``WHERE``). Methods such as ``Table.insert()`` are not seen:
   they cannot be told from ``dict.update()`` without types.
2. ``.commit()`` appears only in ``core`` (the request dependency and the job runner own the
   transaction).
3. ``core`` imports no domain package.
4. A domain does not import another domain's repository or models (it uses its service, or
   for a join in SQL the columns the other domain publishes, as ``contextual.published``); a
   type named under ``if TYPE_CHECKING:`` (what a service returns) reads no data and is allowed.
5. HTTP handlers (``*router*.py`` modules and the console's pages) import no repository: they
   parse, call a service and shape the response.
6. No import cycle between beacon modules, nor between the domain packages. Imports inside
   functions count (deferring an import hides a cycle, it does not break it); imports under
   ``if TYPE_CHECKING:`` do not, since they never run.

The allow-lists below held the offenders issue 18 found; all are empty now. A new offender
fails the test, and so does an entry that no longer offends, so the lists only shrink (never
add an entry to make the test pass).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "beacon"
CORE = "core"
NOT_DOMAINS = {CORE, "migrations"}
SQL_FUNCTIONS = {"select", "insert", "update", "delete", "text"}
SQL_HELPERS = {"upsert_insert"}  # core.db's dialect switch builds an INSERT too
SQL_EXEMPT = {"core/db.py", "core/jobs.py"}

# Rule 1: modules outside repositories that build SQL (none; paths relative to src/beacon).
SQL_OUTSIDE_REPOSITORIES: set[str] = set()

# Rule 2: modules outside core that commit a session themselves today (none since the job
# runner owns every job transaction).
COMMITS_OUTSIDE_CORE: set[str] = set()

# Rule 3: core modules that import domains (none: the composition root, beacon/app.py, lists
# the domains and hands their descriptions to core).
CORE_IMPORTS_DOMAIN: set[str] = set()

# Rule 4: (domain module, other domain's repository or models module it imports) today (none:
# the inventory joins ``contextual.published``, the store's published columns).
CROSS_DOMAIN_DATA_IMPORTS: set[tuple[str, str]] = set()


# Rule 5: handler modules that import a repository today (none).
HANDLERS_IMPORTING_REPOSITORIES: set[str] = set()


@dataclass(frozen=True)
class Module:
    path: str  # relative to src/beacon, with forward slashes
    name: str  # dotted, e.g. beacon.messaging.oauth.service
    tree: ast.Module

    @property
    def package(self) -> str | None:
        """The top-level package under beacon (``core``, ``pixel``, ...); None for beacon/*.py."""
        parts = self.path.split("/")
        return parts[0] if len(parts) > 1 else None


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for file in sorted(PACKAGE.rglob("*.py")):
        relative = file.relative_to(PACKAGE).as_posix()
        dotted = "beacon." + relative.removesuffix(".py").replace("/", ".")
        dotted = dotted.removesuffix(".__init__")
        found.append(Module(relative, dotted, ast.parse(file.read_text(), filename=str(file))))
    return tuple(found)


def imported_modules(module: Module) -> Iterator[str]:
    """Every module ``module`` imports, anywhere in it: ``from a import b`` is ``a.b`` when that
    is a module of beacon, else ``a``."""
    package = module.name if module.path.endswith("__init__.py") else module.name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            yield from (_known_module(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield from (_known_module(f"{base}.{alias.name}") for alias in node.names)


def runtime_imports(module: Module) -> Iterator[str]:
    """What ``imported_modules`` finds, less the imports under ``if TYPE_CHECKING:``."""
    checked_only = {
        id(inner)
        for node in ast.walk(module.tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    runtime = ast.Module(
        body=[
            node
            for node in ast.walk(module.tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in checked_only
        ],
        type_ignores=[],
    )
    yield from imported_modules(Module(module.path, module.name, runtime))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for following in sorted(graph.get(node, ())):
            cycle = visit(following, [*path, node])
            if cycle is not None:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle is not None:
            return cycle
    return None


def module_graph() -> dict[str, set[str]]:
    """Each beacon module -> the beacon modules it imports (at run time)."""
    known = {m.name for m in modules()}
    return {
        m.name: {name for name in runtime_imports(m) if name in known and name != m.name}
        for m in modules()
    }


def package_graph() -> dict[str, set[str]]:
    """Each top-level package under beacon -> the other ones it imports (at run time)."""
    graph: dict[str, set[str]] = {}
    for m in modules():
        if m.package is None:
            continue
        imported = {name.split(".")[1] for name in runtime_imports(m) if name.count(".") >= 1}
        packages = {p for p in imported if (PACKAGE / p).is_dir() and p != m.package}
        graph.setdefault(m.package, set()).update(packages)
    return graph


def sql_calls(module: Module) -> list[int]:
    """Line numbers of SQLAlchemy statement constructors called in ``module`` (``text`` in a
    models module declares schema, not a query)."""
    names: dict[str, str] = {}  # local name -> the SQL constructor it is bound to
    aliases: set[str] = set()  # local names bound to sqlalchemy (sub)modules
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in SQL_FUNCTIONS:
                    names[alias.asname or alias.name] = alias.name
                elif alias.name in {"postgresql", "sqlite"}:
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module == "beacon.core.db":
            names.update((a.asname or a.name, a.name) for a in node.names if a.name in SQL_HELPERS)
        elif isinstance(node, ast.Import):
            aliases.update(
                a.asname or a.name for a in node.names if a.name.startswith("sqlalchemy")
            )
    lines = []
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = names.get(func.id, "") if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if called == "text" and is_data_module(module.name):
            continue
        if (isinstance(func, ast.Name) and func.id in names) or (
            isinstance(func, ast.Attribute)
            and func.attr in SQL_FUNCTIONS
            and isinstance(func.value, ast.Name | ast.Attribute)
            and ast.unparse(func.value) in aliases
        ):
            lines.append(node.lineno)
    return lines


def commit_calls(module: Module) -> list[int]:
    """Line numbers of ``<anything>.commit()`` calls."""
    return [
        node.lineno
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]


def is_repository(path: str) -> bool:
    return "repository" in path.rsplit("/", 1)[-1]


def is_data_module(name: str) -> bool:
    """A repository or models module (``models``, ``viewability_models``, ``*repository*``)."""
    leaf = name.rsplit(".", 1)[-1]
    return "repository" in leaf or leaf == "models" or leaf.endswith("_models")


def domain_of(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "beacon":
        return None
    package = parts[1]
    is_package = (PACKAGE / package).is_dir()
    return package if is_package and package not in NOT_DOMAINS else None


def sql_offenders() -> set[str]:
    return {
        m.path
        for m in modules()
        if not is_repository(m.path)
        and m.path not in SQL_EXEMPT
        and m.package != "migrations"
        and sql_calls(m)
    }


def commit_offenders() -> set[str]:
    return {m.path for m in modules() if m.package != CORE and commit_calls(m)}


def core_domain_imports() -> set[str]:
    return {
        m.path
        for m in modules()
        if m.package == CORE and any(domain_of(name) for name in imported_modules(m))
    }


def cross_domain_data_imports() -> set[tuple[str, str]]:
    found = set()
    for m in modules():
        own = m.package
        if own is None or own in NOT_DOMAINS:
            continue
        for name in runtime_imports(m):
            other = domain_of(name)
            if other and other != own and is_data_module(name):
                found.add((m.path, name))
    return found


def is_handler(path: str) -> bool:
    return "router" in path.rsplit("/", 1)[-1] or path.startswith("console/pages/")


def handler_repository_imports() -> set[str]:
    return {
        m.path
        for m in modules()
        if is_handler(m.path)
        and any("repository" in name.rsplit(".", 1)[-1] for name in imported_modules(m))
    }


def _known_module(name: str) -> str:
    """``name`` cut to the beacon module it lies in (``beacon.pixel.router.router`` ->
    ``beacon.pixel.router``), so ``from x import a, b`` is one entry; other names as given."""
    parts = name.split(".")
    if parts[0] != "beacon":
        return name
    for end in range(len(parts), 1, -1):
        candidate = PACKAGE.joinpath(*parts[1:end])
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts[:end])
    return name


def _check(found: set, allowed: set, rule: str) -> None:
    new = sorted(found - allowed)
    fixed = sorted(allowed - found)
    assert not new, f"{rule}: new offenders {new}"
    assert not fixed, f"{rule}: these no longer offend; delete them from the allow-list: {fixed}"


def test_sql_lives_in_repositories() -> None:
    _check(sql_offenders(), SQL_OUTSIDE_REPOSITORIES, "SQL outside *repository*.py")


def test_only_core_commits() -> None:
    _check(commit_offenders(), COMMITS_OUTSIDE_CORE, ".commit() outside core")


def test_core_imports_no_domain() -> None:
    _check(core_domain_imports(), CORE_IMPORTS_DOMAIN, "core imports a domain")


def test_domains_use_each_others_services_not_their_data() -> None:
    _check(
        cross_domain_data_imports(),
        CROSS_DOMAIN_DATA_IMPORTS,
        "a domain imports another domain's repository or models",
    )


def test_handlers_call_services_not_repositories() -> None:
    _check(
        handler_repository_imports(),
        HANDLERS_IMPORTING_REPOSITORIES,
        "an HTTP handler imports a repository",
    )


def test_no_import_cycle_between_modules() -> None:
    cycle = find_cycle(module_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_cycle_between_packages() -> None:
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def _module(path: str, source: str) -> Module:
    name = "beacon." + path.removesuffix(".py").replace("/", ".")
    return Module(path, name, ast.parse(source))


def test_the_checks_see_aliased_sql_and_ignore_lookalikes() -> None:
    source = """
import sqlalchemy as sa
from sqlalchemy import select as pick, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from beacon.core.db import upsert_insert

def work(session, table, values):
    values.update(a=1)           # a dict, not SQL
    session.commit()
    pick(table)                   # line 10
    sa.delete(table)              # line 11
    pg_insert(table)              # line 12
    upsert_insert(session, table) # line 13
    text("SELECT 1")              # line 14
"""
    service = _module("pixel/service.py", source)
    assert sorted(sql_calls(service)) == [10, 11, 12, 13, 14]
    assert commit_calls(service) == [9]
    models = _module("pixel/models.py", source)
    assert sorted(sql_calls(models)) == [10, 11, 12, 13]  # text() declares schema there


def test_relative_and_aliased_imports_resolve_to_modules() -> None:
    source = "from ...contextual import models as cm\nfrom . import repository\nimport beacon.pixel.models\n"
    imported = set(imported_modules(_module("activation/segments/service.py", source)))
    assert {"beacon.contextual.models", "beacon.activation.segments.repository"} <= imported
    assert "beacon.pixel.models" in imported
    assert domain_of("beacon.contextual.models") == "contextual"
    assert domain_of("beacon.core.db") is None
    assert is_data_module("beacon.pixel.viewability_models")
    assert is_data_module("beacon.messaging.audiences.repository")
    assert not is_data_module("beacon.pixel.service")


def test_cycles_are_found_through_deferred_imports_but_not_type_checking_ones() -> None:
    source = """
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from beacon.pixel import service
def later():
    from beacon.pixel import repository
"""
    imported = set(runtime_imports(_module("contextual/service.py", source)))
    assert "beacon.pixel.repository" in imported
    assert "beacon.pixel.service" not in imported
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None

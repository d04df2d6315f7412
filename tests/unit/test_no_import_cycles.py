"""No import circle inside the package, counting imports made inside functions.

A circle hidden by a function-level import still ties two modules together: the lower one cannot be
read, tested or moved without the higher one, and the import order decides whether start-up works.
When a module is split, what both halves share goes below both (docs/ARCHITECTURE.md). grimp reads
every import statement of the package, at module level and inside functions; imports made only for
type checking are left out, as they never run.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "spasticity_cds"


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each circle once, as the chain of modules from one direct import back to its start."""
    found: dict[frozenset[str], list[str]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            chain = graph.find_shortest_chain(importer=imported, imported=importer)
            if chain:
                circle = [importer, *chain]
                found.setdefault(frozenset(circle), circle)
    return list(found.values())


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True, cache_dir=None)


def test_the_package_has_no_import_cycle(graph: grimp.ImportGraph) -> None:
    cycles = import_cycles(graph)
    assert not cycles, "import circles (give what both sides share a module below both):\n" + "\n".join(
        " -> ".join(circle) for circle in cycles
    )


def test_the_graph_counts_imports_made_inside_functions(graph: grimp.ImportGraph) -> None:
    # cli imports runtime only inside its commands (start-up stays fast for --help)
    assert graph.direct_import_exists(importer=f"{PACKAGE}.cli", imported=f"{PACKAGE}.runtime")
    assert len(graph.modules) > 50


def test_a_circle_through_a_function_level_import_is_found() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.low", "pkg.high", "pkg.other"):
        graph.add_module(module)
    graph.add_import(importer="pkg.high", imported="pkg.low")
    graph.add_import(importer="pkg.low", imported="pkg", line_number=30, line_contents="from . import x")
    graph.add_import(importer="pkg", imported="pkg.high")
    graph.add_import(importer="pkg.other", imported="pkg.low")
    cycles = import_cycles(graph)
    assert [set(c) for c in cycles] == [{"pkg", "pkg.low", "pkg.high"}]

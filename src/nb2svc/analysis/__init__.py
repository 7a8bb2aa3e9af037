"""AST work on marked cells, in stages: parse (magics, names) -> role functions ->
self-containment -> artifacts -> exported blocks (imports, config settings, load
globals) -> example and reference cells -> train cells.

Every stage appends its problems to one list; none is raised.
"""

from __future__ import annotations

from nb2svc.analysis.artifacts import declared_artifacts, normalise_artifact
from nb2svc.analysis.blocks import export_blocks
from nb2svc.analysis.config import check_setting_names
from nb2svc.analysis.containment import RESERVED_NAMES, check_self_contained
from nb2svc.analysis.examples import example_cell, reference_cell
from nb2svc.analysis.functions import role_functions
from nb2svc.analysis.model import Analysis, ParsedCell
from nb2svc.analysis.parse import HARMLESS_MAGICS, cell_names, parse_cells, strip_magics
from nb2svc.analysis.train import train_spec
from nb2svc.errors import Diagnostic
from nb2svc.model import EXPORTED_ORDER, MarkedCell, RawNotebook, Role

__all__ = [
    "HARMLESS_MAGICS",
    "RESERVED_NAMES",
    "Analysis",
    "ParsedCell",
    "analyse",
    "cell_names",
    "normalise_artifact",
    "strip_magics",
]


def analyse(nb: RawNotebook, marked: list[MarkedCell], env_prefix: str) -> Analysis:
    """Analyse the marked cells; every problem is collected, none raised."""
    problems: list[Diagnostic] = []
    parsed = parse_cells(nb, marked, problems)
    by_role: dict[Role, list[ParsedCell]] = {}
    for pc in parsed:
        if pc.marked.role is not None:
            by_role.setdefault(pc.marked.role, []).append(pc)
    exported = [pc for role in EXPORTED_ORDER for pc in by_role.get(role, [])]

    functions = role_functions(nb, marked, parsed, by_role, problems)
    exported_bound = check_self_contained(nb, exported, parsed, problems)
    artifacts = declared_artifacts(nb, by_role.get(Role.LOAD, []), problems)
    blocks = export_blocks(nb, exported, artifacts, env_prefix, problems)
    settings = check_setting_names(nb, blocks.settings, env_prefix, problems)
    example, example_needs_notebook = example_cell(
        nb, by_role.get(Role.EXAMPLE, []), exported_bound, problems
    )
    reference, reference_needs_notebook = reference_cell(
        nb, by_role.get(Role.REFERENCE, []), exported_bound, example, problems
    )
    retrain = train_spec(
        nb,
        by_role,
        parsed,
        settings,
        {fn.role: fn.name for fn in functions},
        sorted(artifacts),
        problems,
    )
    return Analysis(
        cells=parsed,
        imports=blocks.imports,
        blocks=blocks.blocks,
        functions=functions,
        load_globals=blocks.load_globals,
        settings=settings,
        artifacts=sorted(artifacts),
        modules=blocks.modules,
        example_cell=example,
        example_needs_notebook=example_needs_notebook,
        diagnostics=problems,
        reference_cell=reference,
        reference_needs_notebook=reference_needs_notebook,
        retrain=retrain,
    )

"""Stage 6 of analysis: the example cell (NB309-311) and the optional reference cell
(NB315/316), and whether either needs the whole notebook to run."""

from __future__ import annotations

from nb2svc.analysis.model import BUILTINS, ParsedCell, diag, nowhere
from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import RawNotebook


def example_cell(
    nb: RawNotebook,
    cells: list[ParsedCell],
    exported_bound: set[str],
    problems: list[Diagnostic],
) -> tuple[ParsedCell | None, bool]:
    """The example cell, and whether it needs the whole notebook to run."""
    cell = cells[0] if cells else None
    if len(cells) > 1:
        problems.append(
            diag(
                nb,
                cells[1].marked,
                None,
                "several cells are marked 'example'",
                "put all examples in one cell as 'examples = [...]'",
                "NB309",
            )
        )
    if cell is None:
        problems.append(
            Diagnostic(
                Severity.ERROR,
                nowhere(nb),
                "no cell is marked 'example'",
                "add a cell '# nb2svc: example' that assigns 'example' "
                "(one input) or 'examples' (several)",
                "NB310",
            )
        )
    elif not {"example", "examples"} & cell.bound:
        problems.append(
            diag(
                nb,
                cell.marked,
                None,
                "example cell assigns neither 'example' nor 'examples'",
                "e.g. 'examples = X_test.iloc[:5]'",
                "NB311",
            )
        )
    else:
        return cell, bool(cell.free - exported_bound - BUILTINS)
    return cell, True


def reference_cell(
    nb: RawNotebook,
    cells: list[ParsedCell],
    exported_bound: set[str],
    example: ParsedCell | None,
    problems: list[Diagnostic],
) -> tuple[ParsedCell | None, bool]:
    """The optional reference cell, and whether it needs the whole notebook to run."""
    if not cells:
        return None, False
    if len(cells) > 1:
        problems.append(
            diag(
                nb,
                cells[1].marked,
                None,
                "several cells are marked 'reference'",
                "assign all the reference data in one cell: 'reference = X_train'",
                "NB315",
            )
        )
    cell = cells[0]
    if "reference" not in cell.bound:
        problems.append(
            diag(
                nb,
                cell.marked,
                None,
                "reference cell does not assign 'reference'",
                "e.g. 'reference = X_train' (raw inputs, like the example's)",
                "NB316",
            )
        )
        return None, False
    known = exported_bound | (example.bound if example else set())
    return cell, bool(cell.free - known - BUILTINS)

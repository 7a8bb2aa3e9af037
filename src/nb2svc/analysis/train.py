"""Stage 7 of analysis: the optional train cells (NB330-337), which the generated
``python -m <package> retrain --data NEW`` reruns in a fresh kernel.

The data source is a parameter: one train cell's marker names the config constant
that holds the training data's path (``# nb2svc: train data=TRAIN_PATH``, or the tag
``nb2svc:data=TRAIN_PATH``), and retrain sets that constant to the new path. The
marker also names the held-out slice the train cells leave behind
(``holdout=X_test,y_test``, or ``nb2svc:holdout=X_test+y_test`` as a tag, which
can't hold a comma: raw inputs, like the example's, and their labels) and,
optionally, the metric (``metric=roc_auc_score``: a function of the notebook's, or
one of ``sklearn.metrics``).

With a ``reference`` cell, retrain reruns it after the train cells (so that it sees
the new data) and profiles it with the new model: it may use only what the cells
retrain runs define (NB337).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from nb2svc.analysis.model import BUILTINS, ParsedCell, diag, nowhere
from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import CodeBlock, RawNotebook, RetrainSpec, Role, Setting

#: The roles the retrain kernel runs before the train cells, in this order.
BEFORE_TRAIN = (Role.IMPORTS, Role.CONFIG, Role.HELPERS)
#: The roles that score the held-out slice with a model once it is trained.
EVALUATE = (Role.LOAD, Role.PREPROCESS, Role.PREDICT)
#: The roles rerun after those to profile the reference data with the new model.
PROFILE = (Role.POSTPROCESS, Role.REFERENCE)
EXAMPLE_MARKER = "# nb2svc: train data=TRAIN_PATH holdout=X_test,y_test"


def _block(pc: ParsedCell) -> CodeBlock:
    role = pc.marked.role
    assert role is not None
    return CodeBlock(role, pc.marked.cell.index, pc.marked.cell.cell_id, pc.code)


def _options(
    nb: RawNotebook, cells: Sequence[ParsedCell], problems: list[Diagnostic]
) -> dict[str, tuple[str, ParsedCell]]:
    """Each option (data, holdout, metric) and the cell that sets it; two cells
    setting one option differently is NB330."""
    found: dict[str, tuple[str, ParsedCell]] = {}
    for pc in cells:
        for key, value in pc.marked.params:
            if key in found and found[key][0] != value:
                problems.append(
                    diag(
                        nb,
                        pc.marked,
                        None,
                        f"train cells disagree on {key}: {found[key][0]!r} in cell "
                        f"{found[key][1].marked.cell.index + 1}, {value!r} here",
                        f"set {key}= on one train cell",
                        "NB330",
                    )
                )
            found.setdefault(key, (value, pc))
    return found


def _data_problem(
    name: str, setting: Setting | None, known: str, read: bool
) -> tuple[str, str, str] | None:
    """What is wrong with ``data=name`` (message, hint, code), if anything."""
    if setting is None:
        return (
            f"data={name}: {name!r} is not a constant of a config cell "
            f"(config constants: {known})",
            f"assign the training data's path in a config cell: {name} = "
            "'data/train.csv'",
            "NB331",
        )
    if setting.type != "str":
        return (
            f"data={name}: {name} = {setting.default} is not a path (a string)",
            f"assign the training data's path to it: {name} = 'data/train.csv'",
            "NB332",
        )
    if not read:
        return (
            f"data={name}: no train cell reads {name}, so retraining on new data "
            "would train on the old",
            f"read the training data from it: data = pd.read_csv({name})",
            "NB332",
        )
    return None


def _data_constant(
    nb: RawNotebook,
    cells: Sequence[ParsedCell],
    options: dict[str, tuple[str, ParsedCell]],
    settings: Sequence[Setting],
    problems: list[Diagnostic],
) -> str | None:
    """The config constant holding the data path (NB330-332)."""
    if "data" not in options:
        problems.append(
            diag(
                nb,
                cells[0].marked,
                None,
                "the train cells do not say which config constant holds the path of "
                "their training data",
                f"name it on the marker: '{EXAMPLE_MARKER}' (TRAIN_PATH a config "
                "constant the train cells read)",
                "NB330",
            )
        )
        return None
    name, pc = options["data"]
    by_constant = {s.constant: s for s in settings}
    problem = _data_problem(
        name,
        by_constant.get(name),
        ", ".join(sorted(by_constant)) or "none",
        any(name in c.free for c in cells),
    )
    if problem is not None:
        message, hint, code = problem
        problems.append(diag(nb, pc.marked, None, message, hint, code))
        return None
    return name


def _holdout(
    nb: RawNotebook,
    cells: Sequence[ParsedCell],
    options: dict[str, tuple[str, ParsedCell]],
    problems: list[Diagnostic],
) -> tuple[str, str] | None:
    """The held-out inputs and labels the train cells bind (NB333)."""
    value, pc = options.get("holdout", ("", cells[0]))
    # A cell tag can't hold a comma: nb2svc:holdout=X_test+y_test.
    names = tuple(n.strip() for n in value.replace("+", ",").split(","))
    bound = set().union(*(c.bound for c in cells))
    if len(names) != 2 or not all(n.isidentifier() for n in names):
        problems.append(
            diag(
                nb,
                pc.marked,
                None,
                "the train cells do not name their held-out slice"
                + (f" (holdout={value!r})" if value else ""),
                f"name the raw inputs and labels they keep aside: '{EXAMPLE_MARKER}'",
                "NB333",
            )
        )
        return None
    missing = [n for n in names if n not in bound]
    if missing:
        problems.append(
            diag(
                nb,
                pc.marked,
                None,
                f"holdout={value}: no train cell assigns {', '.join(missing)}",
                "assign the held-out split in a train cell: X_train, X_test, "
                "y_train, y_test = train_test_split(X, y, random_state=0)",
                "NB333",
            )
        )
        return None
    return names[0], names[1]


def _metric(
    nb: RawNotebook,
    options: dict[str, tuple[str, ParsedCell]],
    problems: list[Diagnostic],
) -> str | None:
    if "metric" not in options:
        return None
    value, pc = options["metric"]
    if not value.isidentifier():
        problems.append(
            diag(
                nb,
                pc.marked,
                None,
                f"metric={value!r} is not a function name",
                "name a function of the notebook's, metric(y_true, y_pred), or one "
                "of sklearn.metrics: metric=roc_auc_score",
                "NB334",
            )
        )
        return None
    return value


def _undefined(
    nb: RawNotebook,
    cells: Sequence[ParsedCell],
    before: Sequence[ParsedCell],
    parsed: Sequence[ParsedCell],
    problems: list[Diagnostic],
) -> None:
    """NB335: a train cell uses a name neither the cells run before it (imports,
    config, helpers) nor the train cells define."""
    if any(pc.star_import for pc in [*before, *cells]):
        return
    known = set().union(*(pc.bound for pc in [*before, *cells])) | BUILTINS
    for pc in cells:
        for name in sorted(pc.free - known):
            where = [
                other.marked.cell.index + 1
                for other in parsed
                if other.marked.role is None and name in other.bound
            ]
            hint = (
                f"it is defined in unmarked cell {where[0]}: mark that cell train "
                "(or helpers), or define it in a train cell"
                if where
                else "define it in a train, helpers or config cell"
            )
            problems.append(
                diag(
                    nb,
                    pc.marked,
                    _first_line(pc.tree, name),
                    f"train cell uses '{name}', which retraining would not define",
                    hint,
                    "NB335",
                )
            )


def _reference(
    nb: RawNotebook,
    by_role: dict[Role, list[ParsedCell]],
    parsed: Sequence[ParsedCell],
    problems: list[Diagnostic],
) -> tuple[ParsedCell, ...]:
    """The cells that rebuild the drift profile (postprocess, reference); NB337: the
    reference cell uses a name no cell retrain runs defines."""
    reference = by_role.get(Role.REFERENCE, [])[:1]
    if not reference:
        return ()
    ran = [
        pc
        for role in (*BEFORE_TRAIN, Role.TRAIN, *EVALUATE, *PROFILE)
        for pc in by_role.get(role, [])
    ]
    pc = reference[0]
    if any(other.star_import for other in ran):
        return (*by_role.get(Role.POSTPROCESS, []), pc)
    known = set().union(*(other.bound for other in ran)) | BUILTINS
    for name in sorted(pc.free - known):
        where = [
            other
            for other in parsed
            if other.marked.role in (None, Role.EXAMPLE) and name in other.bound
        ]
        if not where:
            hint = "define it in the reference cell, or in a train or helpers cell"
        elif where[0].marked.role is Role.EXAMPLE:
            hint = (
                f"it is defined in the example cell (cell "
                f"{where[0].marked.cell.index + 1}), which retraining does not run: "
                "define it in the reference cell (from the training data)"
            )
        else:
            hint = (
                f"it is defined in unmarked cell {where[0].marked.cell.index + 1}: "
                "mark that cell train (or helpers), or define it in the reference cell"
            )
        problems.append(
            diag(
                nb,
                pc.marked,
                _first_line(pc.tree, name),
                f"reference cell uses '{name}', which retraining would not define "
                "(retrain rebuilds the drift profile from it)",
                hint,
                "NB337",
            )
        )
    return (*by_role.get(Role.POSTPROCESS, []), pc)


def _first_line(tree: ast.Module, name: str) -> int | None:
    lines = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == name
    ]
    return min(lines) if lines else None


def _call(functions: dict[Role, str]) -> str:
    expr = "raw"
    for role in (Role.PREPROCESS, Role.PREDICT):
        if role in functions:
            expr = f"{functions[role]}({expr})"
    return expr


def train_spec(
    nb: RawNotebook,
    by_role: dict[Role, list[ParsedCell]],
    parsed: Sequence[ParsedCell],
    settings: Sequence[Setting],
    functions: dict[Role, str],
    artifacts: Sequence[str],
    problems: list[Diagnostic],
) -> RetrainSpec | None:
    """The retrain plan of the notebook's train cells, or None without any."""
    cells = by_role.get(Role.TRAIN, [])
    if not cells:
        return None
    before = [pc for role in BEFORE_TRAIN for pc in by_role.get(role, [])]
    options = _options(nb, cells, problems)
    data = _data_constant(nb, cells, options, settings, problems)
    holdout = _holdout(nb, cells, options, problems)
    metric = _metric(nb, options, problems)
    _undefined(nb, cells, before, parsed, problems)
    reference = _reference(nb, by_role, parsed, problems)
    if not artifacts:
        problems.append(
            Diagnostic(
                Severity.ERROR,
                nowhere(nb),
                "the notebook has train cells, but its load cell declares no "
                "artifact for them to write",
                "declare the files the train cells save and the load cell reads: "
                "'# nb2svc: load artifacts=model.joblib'",
                "NB336",
            )
        )
        return None
    if data is None or holdout is None:
        return None
    return RetrainSpec(
        data=data,
        holdout=holdout,
        metric=metric,
        cells=tuple(_block(pc) for pc in [*before, *cells]),
        evaluate=tuple(_block(pc) for role in EVALUATE for pc in by_role.get(role, [])),
        call=_call(functions),
        trained=tuple(sorted(artifacts)),
        reference=tuple(_block(pc) for pc in reference),
        functions=tuple(sorted((role.value, name) for role, name in functions.items())),
    )

"""Lint rules on what the code and the saved file hold: secrets (NB1103, NB1104),
absolute paths and paths outside the notebook's folder (NB1105, NB1106), unseeded
randomness in exported code (NB1107), very large outputs (NB1109).

Each check takes a LintContext and yields Diagnostics; none prints, none raises on
purpose (the orchestrator turns an unexpected exception into NB1199).
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Iterator

from nb2svc.errors import Diagnostic, Severity
from nb2svc.lint.context import LintContext, diag
from nb2svc.lint.secrets import find_secrets
from nb2svc.model import Role

#: Outputs above this many bytes (as stored) make a cell's outputs "very large".
LARGE_OUTPUT_BYTES = 1_000_000
_KNOWN_ROOTS = frozenset(
    {
        "home",
        "Users",
        "mnt",
        "data",
        "datasets",
        "tmp",
        "var",
        "opt",
        "content",
        "kaggle",
        "root",
        "srv",
        "media",
        "Volumes",
        "workspace",
        "workspaces",
        "dbfs",
        "gpfs",
        "scratch",
        "project",
        "projects",
        "nfs",
        "net",
        "usr",
        "etc",
        "shared",
        "storage",
        "notebooks",
    }
)
_ABS_POSIX = re.compile(r"^/(?P<root>[^\s/:*?\"<>|]+)(?:/[^\n/]*)+$")
_ABS_PREFIX = re.compile(r"^/(?P<root>[^\s/:*?\"<>|{}]+)/")
_FILE_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_ABS_WINDOWS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\[\w.-]+\\)")
_HOME = re.compile(r"^~[\\/]")
#: Functions whose string argument names a file they open (read_csv, joblib.load,
#: np.load, Path(...), ...), by their last name.
_OPENERS = frozenset(
    {
        "open",
        "load",
        "Path",
        "read_text",
        "read_bytes",
        "loadtxt",
        "genfromtxt",
        "fromfile",
        "load_model",
        "load_state_dict",
        "read_csv",
        "read_table",
        "read_json",
        "read_parquet",
        "read_feather",
        "read_excel",
        "read_pickle",
        "read_orc",
        "read_sql",
        "connect",
        "File",
        "load_workbook",
    }
)
_SEED_CALLS = frozenset({"random.seed", "numpy.random.seed", "torch.manual_seed"})
_RNG_CONSTRUCTORS = frozenset(
    {
        "random.Random",
        "numpy.random.default_rng",
        "numpy.random.RandomState",
        "numpy.random.Generator",
    }
)
_NUMPY_RANDOM_OK = frozenset(
    {
        "seed",
        "default_rng",
        "RandomState",
        "Generator",
        "SeedSequence",
        "PCG64",
        "PCG64DXSM",
        "MT19937",
        "Philox",
        "SFC64",
        "BitGenerator",
        "get_state",
        "set_state",
    }
)
_RANDOM_OK = frozenset({"seed", "Random", "SystemRandom", "getstate", "setstate"})
_TORCH_RANDOM = frozenset(
    {
        "rand",
        "randn",
        "randint",
        "randperm",
        "rand_like",
        "randn_like",
        "randint_like",
        "normal",
        "bernoulli",
        "multinomial",
        "poisson",
    }
)
_NEEDS_RANDOM_STATE = frozenset(
    {
        "sklearn.model_selection.train_test_split",
        "sklearn.utils.shuffle",
        "sklearn.utils.resample",
    }
)


# --- NB1103/NB1104 secrets ---------------------------------------------------------


def check_secrets(ctx: LintContext) -> Iterator[Diagnostic]:
    for secret in find_secrets(ctx.nb, ctx.extras):
        kinds = ", ".join(secret.kinds)
        if secret.output is None:
            yield diag(
                ctx,
                secret.cell,
                secret.line,
                f"possible secret ({kinds}): {secret.redacted}",
                "delete it, read it at run time from an environment variable "
                "(os.environ[...]) and rotate it: it stays in the file's history; "
                "for a false positive, end the line with '# pragma: allowlist secret'",
                "NB1103",
                Severity.ERROR,
            )
        else:
            yield diag(
                ctx,
                secret.cell,
                None,
                f"possible secret ({kinds}) in output {secret.output}, line "
                f"{secret.line}: {secret.redacted}",
                "clear this cell's outputs, save, and rotate the secret: it is "
                "stored in the notebook file",
                "NB1104",
                Severity.ERROR,
            )


# --- NB1105/NB1106 paths -----------------------------------------------------------


def _path_problem(text: str, prefix_only: bool) -> str | None:
    """'absolute' / 'outside' for a string that is such a path, else None."""
    if not text or "\n" in text or "://" in text or len(text) > 400:
        return None
    if _HOME.match(text) or _ABS_WINDOWS.match(text):
        return "absolute"
    if prefix_only:  # the literal start of an f-string: f"/home/{user}/x.csv"
        match = _ABS_PREFIX.match(text)
        if match and match.group("root") in _KNOWN_ROOTS:
            return "absolute"
    else:
        match = _ABS_POSIX.match(text)
        if match and (match.group("root") in _KNOWN_ROOTS or _FILE_EXT.search(text)):
            return "absolute"
    if any(ch.isspace() for ch in text) or ("/" not in text and "\\" not in text):
        return None
    clean = posixpath.normpath(text.replace("\\", "/"))
    if clean == ".." or clean.startswith("../"):
        return "outside"
    return None


def _string_nodes(tree: ast.Module) -> Iterator[tuple[int, str, bool]]:
    """(line, text, is_prefix) for string literals that are not docstrings."""
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    in_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            in_fstring.update(id(v) for v in node.values)
            first = node.values[0] if node.values else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value, True
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and id(node) not in in_fstring
        ):
            yield node.lineno, node.value, False


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _file_arguments(tree: ast.Module) -> Iterator[tuple[int, str, str | None]]:
    """(line, text, called function) for string literals passed to a call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in (*node.args, *(k.value for k in node.keywords)):
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg.lineno, arg.value, _call_name(node)


def _undeclared(ctx: LintContext, text: str, function: str | None) -> bool:
    """A relative file that exported code opens but no load cell declares."""
    if (
        not _FILE_EXT.search(text)
        or "://" in text
        or any(ch.isspace() for ch in text)
        or _path_problem(text, False) is not None
        or len(text) > 400
    ):
        return False
    clean = posixpath.normpath(text.replace("\\", "/"))
    if clean in ctx.artifacts:
        return False
    exists = ctx.folder is not None and (ctx.folder / clean).exists()
    return exists or function in _OPENERS


def _undeclared_files(ctx: LintContext, index: int) -> Iterator[Diagnostic]:
    cell = ctx.cells[index]
    assert cell.tree is not None
    seen: set[tuple[int, str]] = set()
    for line, text, function in sorted(_file_arguments(cell.tree), key=str):
        if (line, text) in seen or not _undeclared(ctx, text, function):
            continue
        seen.add((line, text))
        yield diag(
            ctx,
            index,
            line,
            f"exported code opens {text!r}, which is not declared as an artifact: "
            "the service will not have it",
            "declare it on the load cell (# nb2svc: load artifacts=...), so that it "
            "is packaged and found inside the service",
            "NB1114",
            Severity.ERROR,
        )


def check_paths(ctx: LintContext) -> Iterator[Diagnostic]:
    for index, cell in ctx.cells.items():
        if cell.tree is None or not ctx.runs(index):
            continue
        exported = ctx.exported(index)
        severity = Severity.ERROR if exported else Severity.WARNING
        if exported and ctx.roles.get(index) is not Role.CONFIG:
            yield from _undeclared_files(ctx, index)
        seen: set[tuple[int, str]] = set()
        for line, text, prefix in sorted(_string_nodes(cell.tree)):
            problem = _path_problem(text, prefix)
            if problem is None or (line, text) in seen:
                continue
            seen.add((line, text))
            shown = text if len(text) <= 80 else text[:77] + "..."
            if problem == "absolute":
                message = f"absolute path {shown!r}: "
                message += (
                    "the service will not find it on another machine"
                    if exported
                    else "the notebook only runs on a machine that has it"
                )
                hint = "use a path relative to the notebook's folder" + (
                    "; files the service needs are declared as artifacts "
                    "(# nb2svc: load artifacts=...)"
                    if exported
                    else ""
                )
                yield diag(ctx, index, line, message, hint, "NB1105", severity)
            else:
                message = f"path {shown!r} leaves the notebook's folder: " + (
                    "the service cannot package it"
                    if exported
                    else "the notebook depends on files around it"
                )
                hint = "keep the data and artifacts the notebook needs in its folder"
                yield diag(ctx, index, line, message, hint, "NB1106", severity)


# --- NB1107 unseeded randomness ----------------------------------------------------


def _aliases(trees: list[ast.Module]) -> dict[str, str]:
    """Local name -> dotted module path, from the import statements of exported code."""
    aliases: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        aliases[a.asname] = a.name
                    else:
                        top = a.name.split(".")[0]
                        aliases[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def _unseeded(name: str, call: ast.Call, seeded: set[str]) -> bool:
    module, _, attr = name.rpartition(".")
    has_state = any(k.arg in ("random_state", "seed") for k in call.keywords)
    if name in _RNG_CONSTRUCTORS:
        first = call.args[0] if call.args else None
        seed_kw = any(k.arg in ("seed", "x") for k in call.keywords)
        return not seed_kw and (
            first is None or (isinstance(first, ast.Constant) and first.value is None)
        )
    if module == "random":
        return attr not in _RANDOM_OK and "random.seed" not in seeded
    if module == "numpy.random":
        return attr not in _NUMPY_RANDOM_OK and "numpy.random.seed" not in seeded
    if module == "torch":
        return attr in _TORCH_RANDOM and "torch.manual_seed" not in seeded
    if name in _NEEDS_RANDOM_STATE:
        return not has_state
    return False


def check_randomness(ctx: LintContext) -> Iterator[Diagnostic]:
    exported = {
        i: c for i, c in ctx.cells.items() if ctx.exported(i) and c.tree is not None
    }
    trees = [c.tree for c in exported.values() if c.tree is not None]
    aliases = _aliases(trees)
    calls = [
        (index, node)
        for index, cell in exported.items()
        if cell.tree is not None
        for node in ast.walk(cell.tree)
        if isinstance(node, ast.Call)
    ]
    seeded = {
        dotted
        for _, node in calls
        if (dotted := _dotted(node.func, aliases) or "") in _SEED_CALLS
    }
    for index, node in sorted(calls, key=lambda c: (c[0], c[1].lineno)):
        name = _dotted(node.func, aliases)
        unseeded = name is not None and _unseeded(name, node, seeded)
        if (
            not unseeded
            and name is None
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "sample"
            and not any(k.arg == "random_state" for k in node.keywords)
        ):
            unseeded = True  # DataFrame.sample / Series.sample
        if not unseeded:
            continue
        shown = ast.unparse(node.func)
        yield diag(
            ctx,
            index,
            node.lineno,
            f"unseeded randomness in exported code: '{shown}(...)' gives a "
            "different answer on every call",
            "pass a seed (random_state=0, np.random.default_rng(0)) or take the "
            "randomness out of the service; 'nb2svc verify' reports such notebooks "
            "as nondeterministic",
            "NB1107",
        )


# --- NB1109 large outputs -----------------------------------------------------------


def check_large_outputs(ctx: LintContext) -> Iterator[Diagnostic]:
    for index, outputs in sorted(ctx.extras.outputs.items()):
        if outputs.size > LARGE_OUTPUT_BYTES and index < len(ctx.nb.cells):
            yield diag(
                ctx,
                index,
                None,
                f"very large outputs: {outputs.size / 1e6:.1f} MB saved in this cell",
                "clear outputs before saving (or nbstripout); large outputs slow "
                "every tool that reads the notebook and may hold data that should "
                "not be shared",
                "NB1109",
            )

"""AST work on marked cells: magics, names, role functions, imports, config, artifacts."""

from __future__ import annotations

import ast
import builtins
import posixpath
import re
import symtable
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from nb2svc.errors import Diagnostic, Location, Severity
from nb2svc.literals import python_literal
from nb2svc.model import (
    EXPORTED_ORDER,
    FUNCTION_ROLES,
    CodeBlock,
    MarkedCell,
    RawNotebook,
    Role,
    RoleFunction,
    Setting,
)
from nb2svc.naming import setting_env, setting_name

#: Line magics that only affect the interactive session; removed with a warning.
HARMLESS_MAGICS = frozenset(
    {
        "matplotlib",
        "load_ext",
        "reload_ext",
        "autoreload",
        "config",
        "precision",
        "pylab",
    }
)
#: Names the generated pipeline module defines itself.
RESERVED_NAMES = frozenset(
    {
        "load_resources",
        "resources_loaded",
        "score",
        "score_batch",
        "artifact_path",
        "to_jsonable",
        "get_settings",
    }
)
_MAGIC_LINE = re.compile(r"^\s*(%{1,2}|!)(?P<name>[A-Za-z_]\w*)?")
_SHELL_ASSIGN = re.compile(r"^\s*[\w.,\s]+=\s*[!%]")
_BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__"}


@dataclass
class ParsedCell:
    marked: MarkedCell
    code: str  # magics removed
    tree: ast.Module
    bound: set[str] = field(default_factory=set)
    free: set[str] = field(default_factory=set)
    star_import: bool = False


@dataclass
class Analysis:
    cells: list[ParsedCell]
    imports: list[str]
    blocks: list[CodeBlock]
    functions: list[RoleFunction]
    load_globals: list[str]
    settings: list[Setting]
    artifacts: list[str]
    modules: set[str]  # top-level modules imported by exported code
    example_cell: ParsedCell | None
    example_needs_notebook: bool
    diagnostics: list[Diagnostic]
    reference_cell: ParsedCell | None = None
    reference_needs_notebook: bool = False

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


def _diag(
    nb: RawNotebook,
    mc: MarkedCell,
    line: int | None,
    message: str,
    hint: str | None,
    code: str,
    severity: Severity = Severity.ERROR,
) -> Diagnostic:
    return Diagnostic(severity, mc.cell.location(nb.name, line), message, hint, code)


def strip_magics(
    nb: RawNotebook, mc: MarkedCell
) -> tuple[str | None, list[Diagnostic]]:
    """Remove harmless magics, reject the others; None when the cell cannot be exported."""
    code = mc.code
    try:
        ast.parse(code)
        return code, []
    except SyntaxError:
        pass
    problems: list[Diagnostic] = []
    lines = code.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        match = _MAGIC_LINE.match(line)
        shell_assign = _SHELL_ASSIGN.match(line) and not match
        if not match and not shell_assign:
            continue
        name = match.group("name") if match else None
        if match and match.group(1) == "%" and name in HARMLESS_MAGICS:
            problems.append(
                _diag(
                    nb,
                    mc,
                    number,
                    f"magic '%{name}' removed from exported code",
                    None,
                    "NB201",
                    Severity.WARNING,
                )
            )
            lines[number - 1] = "\n"
            continue
        shown = line.strip()
        kind = (
            "shell escape" if shown.startswith("!") or shell_assign else "IPython magic"
        )
        problems.append(
            _diag(
                nb,
                mc,
                number,
                f"{kind} in exported code: {shown!r}",
                "exported code must be plain Python: move it to an unmarked cell "
                "(or install packages in your environment, not the notebook)",
                "NB202",
            )
        )
        lines[number - 1] = "\n"
    cleaned = "".join(lines)
    try:
        ast.parse(cleaned)
    except SyntaxError as exc:
        problems.append(
            _diag(nb, mc, exc.lineno, f"syntax error: {exc.msg}", None, "NB203")
        )
        return None, problems
    if any(p.severity is Severity.ERROR for p in problems):
        return None, problems
    return cleaned, problems


def cell_names(code: str) -> tuple[set[str], set[str], bool]:
    """Top-level names a cell binds, module-level names it reads, and star imports."""
    table = symtable.symtable(code, "<cell>", "exec")
    bound: set[str] = set()
    used: set[str] = set()
    # symtable does not record star imports: look for them in the syntax tree.
    star = any(
        isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
        for node in ast.walk(ast.parse(code))
    )
    for sym in table.get_symbols():
        name = sym.get_name()
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            bound.add(name)
        if sym.is_referenced() or sym.is_annotated():
            used.add(name)

    def walk(tab: symtable.SymbolTable) -> None:
        for child in tab.get_children():
            for sym in child.get_symbols():
                if sym.is_declared_global() and sym.is_assigned():
                    bound.add(sym.get_name())
                elif sym.is_global() and sym.is_referenced():
                    used.add(sym.get_name())
            walk(child)

    walk(table)
    return bound, used - bound, star


def _first_use(tree: ast.AST, name: str) -> int | None:
    lines = [
        n.lineno
        for n in ast.walk(tree)
        if (isinstance(n, ast.Name) and n.id == name)
        or (
            isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and n.name == name
        )
        or (isinstance(n, ast.alias) and (n.asname or n.name.split(".")[0]) == name)
    ]
    return min(lines) if lines else None


def _imported_modules(tree: ast.AST) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def _top_level_imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                names.add(alias.asname or alias.name.split(".")[0])
    return names


def _remove_spans(code: str, spans: Iterable[tuple[int, int]]) -> str:
    lines = code.splitlines(keepends=True)
    for start, end in spans:
        for i in range(start - 1, end):
            lines[i] = ""
    return "".join(lines)


def _rewrite_artifacts(code: str, tree: ast.AST, artifacts: dict[str, str]) -> str:
    """Replace string literals naming a declared artifact with artifact_path(...)."""
    if not artifacts:
        return code
    hits: list[tuple[int, int, int, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.end_lineno == node.lineno
            and node.end_col_offset is not None
        ):
            key = posixpath.normpath(node.value.replace("\\", "/"))
            if key in artifacts:
                hits.append(
                    (node.lineno, node.col_offset, node.end_col_offset, artifacts[key])
                )
    lines = code.splitlines(keepends=True)
    for lineno, start, end, name in sorted(hits, reverse=True):
        raw = lines[lineno - 1].encode()
        new = raw[:start] + f"artifact_path({name!r})".encode() + raw[end:]
        lines[lineno - 1] = new.decode()
    return "".join(lines)


def normalise_artifact(path: str) -> str | None:
    clean = posixpath.normpath(path.strip().replace("\\", "/"))
    if (
        clean.startswith(("/", "../"))
        or clean == ".."
        or re.match(r"^[A-Za-z]:", clean)
    ):
        return None
    return clean


def _setting_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "str | None"
    for kind, text in ((int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, kind):
            return text
    if isinstance(value, list):
        return "list[Any]"
    if isinstance(value, tuple):
        return "tuple[Any, ...]"
    if isinstance(value, dict):
        return "dict[str, Any]"
    return "Any"


def analyse(nb: RawNotebook, marked: list[MarkedCell], env_prefix: str) -> Analysis:
    """Analyse the marked cells; every problem is collected, none raised."""
    problems: list[Diagnostic] = []
    parsed: list[ParsedCell] = []
    for mc in marked:
        if mc.cell.cell_type != "code" or mc.role is Role.SKIP:
            continue
        if mc.role in (None, Role.EXAMPLE, Role.REFERENCE):
            # Unmarked, example and reference cells run only in a kernel: magics are
            # fine there.
            code = "\n".join(
                "" if _MAGIC_LINE.match(ln) or _SHELL_ASSIGN.match(ln) else ln
                for ln in mc.code.splitlines()
            )
            try:
                tree = ast.parse(code)
            except SyntaxError:
                if mc.role is not None:
                    problems.append(
                        _diag(
                            nb,
                            mc,
                            None,
                            f"{mc.role.value} cell is not valid Python",
                            None,
                            "NB203",
                        )
                    )
                continue
        else:
            cleaned, found = strip_magics(nb, mc)
            problems.extend(found)
            if cleaned is None:
                continue
            code, tree = cleaned, ast.parse(cleaned)
        bound, free, star = cell_names(code)
        parsed.append(ParsedCell(mc, code, tree, bound, free, star))

    by_role: dict[Role, list[ParsedCell]] = {}
    for pc in parsed:
        if pc.marked.role is not None:
            by_role.setdefault(pc.marked.role, []).append(pc)
    exported = [pc for role in EXPORTED_ORDER for pc in by_role.get(role, [])]

    # Each function role: at most one cell; predict is required.
    functions: list[RoleFunction] = []
    for role in FUNCTION_ROLES:
        cells = by_role.get(role, [])
        if len(cells) > 1:
            others = ", ".join(str(pc.marked.cell.index + 1) for pc in cells[1:])
            problems.append(
                _diag(
                    nb,
                    cells[0].marked,
                    None,
                    f"several cells are marked '{role.value}' (also cell {others})",
                    "merge them into one cell, or mark the extra ones helpers",
                    "NB301",
                )
            )
        if not cells:
            if role is Role.PREDICT:
                problems.append(_no_predict(nb, marked, parsed))
            continue
        fn = _role_function(nb, cells[0], role, problems)
        if fn is not None:
            functions.append(fn)

    # Self-containment: exported code may only use what exported code defines.
    exported_bound = set().union(*(pc.bound for pc in exported)) if exported else set()
    star = any(pc.star_import for pc in exported)
    for pc in exported:
        clash = sorted(pc.bound & RESERVED_NAMES)
        for name in clash:
            problems.append(
                _diag(
                    nb,
                    pc.marked,
                    _first_use(pc.tree, name),
                    f"'{name}' is a name the generated pipeline defines itself",
                    "rename it in the notebook",
                    "NB303",
                )
            )
        if star:
            continue
        for name in sorted(pc.free - exported_bound - _BUILTINS):
            line = _first_use(pc.tree, name)
            what = pc.marked.role.value if pc.marked.role else "exported"
            definers = [
                other
                for other in parsed
                if other.marked.role not in EXPORTED_ORDER and name in other.bound
            ]
            if definers:
                where = ", ".join(str(d.marked.cell.index + 1) for d in definers)
                problems.append(
                    _diag(
                        nb,
                        pc.marked,
                        line,
                        f"{what} uses '{name}', defined only in unmarked cell {where}",
                        f"mark cell {definers[-1].marked.cell.index + 1} as load or helpers, "
                        "or define the name in an exported cell",
                        "NB304",
                    )
                )
            else:
                problems.append(
                    _diag(
                        nb,
                        pc.marked,
                        line,
                        f"{what} uses '{name}', which no cell defines",
                        "import or define it in an exported cell",
                        "NB305",
                    )
                )
    if star:
        problems.append(
            Diagnostic(
                Severity.WARNING,
                _nowhere(nb),
                "a star import in exported code hides which names are "
                "defined; self-containment was not checked",
                "import names explicitly",
                "NB306",
            )
        )

    # Artifacts declared on load cells.
    artifacts: dict[str, str] = {}
    for pc in by_role.get(Role.LOAD, []):
        for declared in pc.marked.artifacts:
            clean = normalise_artifact(declared)
            if clean is None:
                problems.append(
                    _diag(
                        nb,
                        pc.marked,
                        None,
                        f"artifact path '{declared}' must be relative to the "
                        "notebook's folder and stay inside it",
                        "save artifacts next to the notebook",
                        "NB401",
                    )
                )
            else:
                artifacts[clean] = clean

    # Code blocks, hoisted imports, config settings, load globals.
    imports: dict[str, None] = {}
    blocks: list[CodeBlock] = []
    settings: list[Setting] = []
    load_globals: set[str] = set()
    modules: set[str] = set()
    for pc in exported:
        cell_role = pc.marked.role
        assert cell_role is not None
        modules |= _imported_modules(pc.tree)
        spans: list[tuple[int, int]] = []
        for stmt in pc.tree.body:
            end = stmt.end_lineno or stmt.lineno
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                if isinstance(stmt, ast.ImportFrom) and stmt.level:
                    problems.append(
                        _diag(
                            nb,
                            pc.marked,
                            stmt.lineno,
                            "relative import in exported code",
                            None,
                            "NB307",
                        )
                    )
                imports[ast.unparse(stmt)] = None
                spans.append((stmt.lineno, end))
            elif (
                cell_role not in (Role.LOAD, Role.CONFIG)
                and isinstance(stmt, ast.Expr)
                and not isinstance(stmt.value, ast.Constant)
            ):
                problems.append(
                    _diag(
                        nb,
                        pc.marked,
                        stmt.lineno,
                        "top-level expression left out of the service "
                        "(it would run at import time)",
                        None,
                        "NB308",
                        Severity.WARNING,
                    )
                )
                spans.append((stmt.lineno, end))
        if cell_role is Role.CONFIG:
            settings.extend(_settings(nb, pc, env_prefix, problems))
            continue
        if cell_role is Role.LOAD:
            load_globals |= pc.bound - _top_level_imported(pc.tree)
        code = _rewrite_artifacts(pc.code, pc.tree, artifacts)
        code = _remove_spans(code, spans).strip("\n")
        if code.strip():
            blocks.append(
                CodeBlock(cell_role, pc.marked.cell.index, pc.marked.cell.cell_id, code)
            )

    names = frozenset(s.name for s in settings)
    settings = [
        replace(s, env=setting_env(env_prefix, s.name, names - {s.name}))
        for s in settings
    ]
    seen_fields: dict[str, str] = {}
    for s in settings:
        if s.name in seen_fields and seen_fields[s.name] != s.constant:
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    _nowhere(nb),
                    f"config names '{seen_fields[s.name]}' and "
                    f"'{s.constant}' give the same setting '{s.name}'",
                    "rename one of them",
                    "NB502",
                )
            )
        seen_fields[s.name] = s.constant

    # The example cell.
    examples = by_role.get(Role.EXAMPLE, [])
    example_cell = examples[0] if examples else None
    needs_notebook = True
    if len(examples) > 1:
        problems.append(
            _diag(
                nb,
                examples[1].marked,
                None,
                "several cells are marked 'example'",
                "put all examples in one cell as 'examples = [...]'",
                "NB309",
            )
        )
    if example_cell is None:
        problems.append(
            Diagnostic(
                Severity.ERROR,
                _nowhere(nb),
                "no cell is marked 'example'",
                "add a cell '# nb2svc: example' that assigns 'example' "
                "(one input) or 'examples' (several)",
                "NB310",
            )
        )
    elif not {"example", "examples"} & example_cell.bound:
        problems.append(
            _diag(
                nb,
                example_cell.marked,
                None,
                "example cell assigns neither 'example' nor 'examples'",
                "e.g. 'examples = X_test.iloc[:5]'",
                "NB311",
            )
        )
    else:
        needs_notebook = bool(example_cell.free - exported_bound - _BUILTINS)

    reference_cell, reference_needs_notebook = _reference(
        nb, by_role.get(Role.REFERENCE, []), exported_bound, example_cell, problems
    )

    return Analysis(
        cells=parsed,
        imports=list(imports),
        blocks=blocks,
        functions=functions,
        load_globals=sorted(load_globals),
        settings=settings,
        artifacts=sorted(artifacts),
        modules=modules,
        example_cell=example_cell,
        example_needs_notebook=needs_notebook,
        diagnostics=problems,
        reference_cell=reference_cell,
        reference_needs_notebook=reference_needs_notebook,
    )


def _reference(
    nb: RawNotebook,
    cells: list[ParsedCell],
    exported_bound: set[str],
    example_cell: ParsedCell | None,
    problems: list[Diagnostic],
) -> tuple[ParsedCell | None, bool]:
    """The optional reference cell, and whether it needs the whole notebook to run."""
    if not cells:
        return None, False
    if len(cells) > 1:
        problems.append(
            _diag(
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
            _diag(
                nb,
                cell.marked,
                None,
                "reference cell does not assign 'reference'",
                "e.g. 'reference = X_train' (raw inputs, like the example's)",
                "NB316",
            )
        )
        return None, False
    known = exported_bound | (example_cell.bound if example_cell else set())
    return cell, bool(cell.free - known - _BUILTINS)


def _no_predict(
    nb: RawNotebook, marked: Sequence[MarkedCell], parsed: Sequence[ParsedCell]
) -> Diagnostic:
    """NB302, at the cell that defines a function named predict when one does."""
    hint = "'# nb2svc: predict' or the tag 'nb2svc:predict'"
    for pc in parsed:
        for node in pc.tree.body:
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name == "predict"
            ):
                role = pc.marked.role
                return _diag(
                    nb,
                    pc.marked,
                    node.lineno,
                    "no cell is marked 'predict'; this cell defines predict()",
                    (
                        f"mark this cell with {hint}"
                        if role is None
                        else f"move predict() out of this '{role.value}' cell into a "
                        f"cell of its own, marked with {hint}"
                    ),
                    "NB302",
                )
    if nb.cells:
        where = nb.cells[0].location(nb.name)
    else:
        where = marked[0].cell.location(nb.name) if marked else _nowhere(nb)
    return Diagnostic(
        Severity.ERROR,
        where,
        "no cell is marked 'predict'",
        f"mark the cell that defines your predict function with {hint}",
        "NB302",
    )


def _nowhere(nb: RawNotebook) -> Location:
    return Location(nb.name)


def _role_function(
    nb: RawNotebook, pc: ParsedCell, role: Role, problems: list[Diagnostic]
) -> RoleFunction | None:
    defs = [
        s for s in pc.tree.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    chosen = next((d for d in defs if d.name == role.value), None)
    if chosen is None and len(defs) == 1:
        chosen = defs[0]
    if chosen is None:
        found = ", ".join(d.name for d in defs) or "none"
        problems.append(
            _diag(
                nb,
                pc.marked,
                None,
                f"{role.value} cell must define a function named "
                f"'{role.value}' or exactly one function (found: {found})",
                f"def {role.value}(...): ...",
                "NB312",
            )
        )
        return None
    if isinstance(chosen, ast.AsyncFunctionDef):
        problems.append(
            _diag(
                nb,
                pc.marked,
                chosen.lineno,
                f"{role.value} must be a plain function, not async",
                None,
                "NB313",
            )
        )
        return None
    args = chosen.args.posonlyargs + chosen.args.args
    required = len(args) - len(chosen.args.defaults)
    if not args or required > 1:
        problems.append(
            _diag(
                nb,
                pc.marked,
                chosen.lineno,
                f"{chosen.name} must take exactly one required argument "
                f"(takes {required})",
                "the pipeline calls it with one value",
                "NB314",
            )
        )
        return None
    annotation = ast.unparse(args[0].annotation) if args[0].annotation else None
    returns = ast.unparse(chosen.returns) if chosen.returns else None
    return RoleFunction(role, chosen.name, annotation, returns)


def _settings(
    nb: RawNotebook, pc: ParsedCell, env_prefix: str, problems: list[Diagnostic]
) -> list[Setting]:
    settings: list[Setting] = []
    for stmt in pc.tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or a bare string
        literal: object = None
        ok = isinstance(target, ast.Name) and value is not None
        if ok:
            try:
                literal = ast.literal_eval(value)  # type: ignore[arg-type]
            except ValueError:
                ok = False
        if not ok or not isinstance(target, ast.Name):
            problems.append(
                _diag(
                    nb,
                    pc.marked,
                    stmt.lineno,
                    "config cells may only assign literals to names "
                    f"(found: {ast.unparse(stmt).splitlines()[0][:60]})",
                    "move computed values to a helpers or load cell",
                    "NB501",
                )
            )
            continue
        name = setting_name(target.id)
        settings.append(
            Setting(
                name,
                target.id,
                f"{env_prefix}{name.upper()}",
                _setting_type(literal),
                python_literal(literal),
            )
        )
    return settings

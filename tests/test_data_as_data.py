"""Data is written as data (issue 12): text from a notebook or its data reaches a
generated file only through a serialiser for its syntax, names are derived in
naming.py without collisions, and every generated file parses before anything is
written. Rendered from specs made in memory (no kernel); the services run in a
subprocess with Starlette's TestClient."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from nb2svc.analysis import analyse
from nb2svc.errors import ExitCode, GeneratedFileError
from nb2svc.formatting import format_tree
from nb2svc.literals import markdown_code, prose, python_literal, toml_value
from nb2svc.model import ServiceSpec
from nb2svc.naming import (
    BASE_MODEL_ATTRIBUTES,
    GENERATED_SUMMARY_END,
    SERVICE_SETTINGS,
    field_names,
    package_name,
    setting_name,
)
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc.render.context import ImageSpec, build_context
from nb2svc.render.engine import render_tree
from nb2svc.render.runtime_wheel import runtime_wheel
from nb2svc.render.syntax import syntax_errors
from nb2svc.templates import service_template
from nb2svc_runtime.settings import ServiceSettings
from tests.data_as_data_support import (
    SENTINEL,
    call_service,
    frame_examples,
    make_spec,
    record_examples,
    side_effects,
    write_package,
)
from tests.helpers import EXAMPLE_CELL, PREDICT_CELL, make_notebook, run_cli

#: A CSV header crafted as Python: spliced into a string literal, it runs a command.
INJECTED_COLUMN = f"\"+__import__('os').system('touch {SENTINEL}')*0*\""
TRIPLE_QUOTE_KEY = 'a"""\nb'
HOSTILE = [
    INJECTED_COLUMN,
    TRIPLE_QUOTE_KEY,
    "'''",
    "back\\slash\\",
    "{{ service.package }}",
    "{% raw %}",
    "\u2028line\u2029sep",
    "nul\0byte",
    "`tick``s`",
    "a|b",
    "",
    " ",
    "model_config",
    "__class__",
    "class",
    "1st",
    "prix €",
    "é",
    "Field",
    "x" * 300,
]


def render(spec: ServiceSpec) -> dict[str, bytes]:
    """What ``nb2svc build`` renders for ``spec``: templates, then ruff and black."""
    image = ImageSpec.for_python(spec.python_version)
    tree = render_tree(service_template(), build_context(spec, image, runtime_wheel()))
    files, _ = format_tree(tree.files, spec.package)
    return files


def parse_all(files: dict[str, bytes]) -> None:
    """Every generated file parses with its own syntax's parser."""
    assert syntax_errors(files) == []
    for rel, content in files.items():
        text = content.decode("utf-8")
        if rel.endswith(".py"):
            ast.parse(text)
        elif rel.endswith(".toml"):
            tomllib.loads(text)
        elif rel.endswith((".yml", ".yaml")):
            yaml.safe_load(text)


# --- the serialisers


@pytest.mark.parametrize("text", [*HOSTILE, "\ud800lone", "a\r\nb\x85c\x0bd"])
def test_a_python_literal_is_the_value(text: str) -> None:
    for value in (text, [text], {text: (text,)}, {text}):
        assert ast.literal_eval(python_literal(value)) == value
    frozen = frozenset({text, "z"})
    assert eval(python_literal(frozen), {"__builtins__": {"frozenset": frozenset}}) == (
        frozen
    )


def test_python_string_literals_show_every_character() -> None:
    """Homoglyphs, zero-width and bidirectional controls are escapes, not look-alikes."""
    text = "am\u043eunt\u200b\u202eé"
    literal = python_literal(text)
    assert literal == "'am\\u043eunt\\u200b\\u202e\\xe9'"
    assert literal.isascii() and ast.literal_eval(literal) == text


def test_python_literals_are_deterministic() -> None:
    assert python_literal({"b", "a", "c"}) == "{'a', 'b', 'c'}"
    assert python_literal(float("nan")) == 'float("nan")'
    assert python_literal((1,)) == "(1,)"
    with pytest.raises(TypeError):
        python_literal(object())


@pytest.mark.parametrize("text", [*HOSTILE, "\ud800lone"])
def test_prose_cannot_end_a_comment_or_a_docstring(text: str) -> None:
    line = prose(text)
    assert len(line.splitlines()) <= 1
    assert '"' not in line and "\\" not in line and "\0" not in line
    source = f'"""Generated from {line}."""\n# from {line}\nx = 1\n'
    assert ast.parse(source)
    assert yaml.safe_load(f"# from {line}\nkey: 1\n") == {"key": 1}
    assert tomllib.loads(f"# from {line}\nkey = 1\n") == {"key": 1}


@pytest.mark.parametrize("text", HOSTILE)
def test_toml_values_round_trip(text: str) -> None:
    assert tomllib.loads(f"key = {toml_value(text)}\n") == {"key": text}


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("``", "``` `` ```"),
        ("`x", "`` `x ``"),
        ("x\ny\u2028z", "`x y z`"),
        ("a\0b", "`a\ufffdb`"),
    ],
)
def test_markdown_code_spans_hold_any_backticks(text: str, span: str) -> None:
    assert markdown_code(text) == span


def test_markdown_code_spans_in_tables_escape_pipes() -> None:
    assert markdown_code("a|b", table=True) == "`a\\|b`"


# --- names


def test_field_names_never_collide() -> None:
    keys = ["a b", "a_b", "model_config", "__class__", "class", "1st", "é", "", "ü"]
    names = field_names(keys)
    assert names[1] == "a_b"  # an identifier keeps its name, whatever comes first
    assert len(set(names)) == len(keys)
    assert not set(names) & (set(keys) - {"a_b"})
    for name in names:
        assert name.isidentifier() and name not in BASE_MODEL_ATTRIBUTES
    assert field_names(keys) == names  # deterministic


def test_base_model_attributes_match_installed_pydantic() -> None:
    public = {n for n in dir(pydantic.BaseModel) if not n.startswith("_")}
    assert public == BASE_MODEL_ATTRIBUTES


@pytest.mark.parametrize(
    "stem", ["json", "typing", "logging", "os", "pandas", "nb2svc"]
)
def test_package_names_shadow_no_module(stem: str) -> None:
    name = package_name(stem)
    assert name == f"{stem}_service"
    assert name not in sys.stdlib_module_names


def test_other_package_names_are_unchanged() -> None:
    assert package_name("Fraud Scoring-v2") == "fraud_scoring_v2"


def test_an_installed_generated_service_is_not_a_collision(tmp_path: Path) -> None:
    """A built service installed next to nb2svc keeps its name when rebuilt; any
    other installed module is a collision. Checked in a fresh interpreter that finds
    two distributions' metadata on its path: a generated service and another one."""
    for dist, summary in (
        ("fraud_demo", "Fraud Demo prediction service, generated from x by nb2svc"),
        ("churn_demo", "Something else"),
    ):
        info = tmp_path / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\nSummary: {summary}\n"
        )
        (info / "top_level.txt").write_text(f"{dist}\n")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from nb2svc.naming import package_name;"
        "print(package_name('fraud_demo'), package_name('churn_demo'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.split() == ["fraud_demo", "churn_demo_service"]


def test_generated_services_are_recognised_by_their_description() -> None:
    spec = make_spec('a"b\\.ipynb', record_examples({"a": 1}, "l"))
    pyproject = tomllib.loads(render(spec)["pyproject.toml"].decode())
    description = pyproject["project"]["description"]
    assert description.endswith(GENERATED_SUMMARY_END)
    assert 'a"b\\.ipynb' in description  # the notebook's name, as data


def test_service_settings_match_the_generated_settings_class() -> None:
    spec = make_spec("nb.ipynb", record_examples({"a": 1}, "l"))
    tree = ast.parse(render(spec)["src/nb/settings.py"])
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    # The service's own fields come from the runtime's base class; the generated
    # class adds the notebook's config (here: label).
    assert [ast.unparse(base) for base in cls.bases] == ["ServiceSettings"]
    fields = {
        n.target.id
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    assert fields == {"label"}
    assert set(ServiceSettings.model_fields) == SERVICE_SETTINGS


def test_notebook_config_never_takes_a_service_setting(tmp_path: Path) -> None:
    """A config named HOST, JSON or STR neither overrides the service's own host nor
    breaks the Settings class: each gets a field of its own."""
    nb, _ = read_notebook(
        make_notebook(
            tmp_path,
            [
                ("code", '# nb2svc: config\nHOST = "0.0.0.0"\nJSON = 1\nSTR = "s"'),
                PREDICT_CELL,
                EXAMPLE_CELL,
            ],
        )
    )
    marked, _ = mark_cells(nb)
    analysis = analyse(nb, marked, "NB_")
    assert analysis.diagnostics == []
    names = [(s.name, s.env) for s in analysis.settings]
    assert names == [
        ("notebook_host", "NB_NOTEBOOK_HOST"),
        ("json_", "NB_JSON_"),
        ("str_", "NB_STR_"),
    ]
    assert setting_name("threshold") == "threshold"


# --- the rendered package


def test_a_csv_header_holding_code_is_a_column_name(tmp_path: Path) -> None:
    """The header runs no command on import, and the service takes the column by its
    name: the pipeline sees it as it was."""
    columns = ["a", INJECTED_COLUMN, TRIPLE_QUOTE_KEY]
    spec = make_spec("nb.ipynb", frame_examples(columns, "v", "label"))
    files = render(spec)
    parse_all(files)
    write_package(files, tmp_path, spec)
    answer = call_service(
        tmp_path, spec.package, [{"a": 1, INJECTED_COLUMN: 2, TRIPLE_QUOTE_KEY: "w"}]
    )
    assert side_effects(tmp_path) == []
    assert answer["status"] == 200, answer
    assert answer["body"]["columns"] == columns
    assert answer["body"]["first"] == [1, 2, "w"]


def test_a_key_with_triple_quotes_gives_a_parsing_schema(tmp_path: Path) -> None:
    example = {TRIPLE_QUOTE_KEY: 1, "nested": {INJECTED_COLUMN: "x", "é": 2}}
    spec = make_spec("nb.ipynb", record_examples(example, "l"))
    files = render(spec)
    parse_all(files)
    write_package(files, tmp_path, spec)
    answer = call_service(tmp_path, spec.package, example)
    assert side_effects(tmp_path) == []
    assert answer["status"] == 200, answer
    assert answer["body"]["keys"] == list(example)
    assert answer["body"]["echo"] == example


def test_a_file_that_does_not_parse_is_named_with_its_line() -> None:
    files = {
        "a.py": b'x = 1\nFIELD = "a"""\nb"\n',
        "b.toml": b'a = 1\nb = "unterminated\n',
        "c.yml": b"a: 1\nb: [\n",
        "d.json": b'{"a": 1,\n}',
        "e.py": b"x = '\0'\n",
        "f.md": b"```",  # not a syntax nb2svc parses
        "g.json": b"{}",
    }
    problems = {d.location.file: d for d in syntax_errors(files, skip={"g.json"})}
    assert sorted(problems) == ["a.py", "b.toml", "c.yml", "d.json", "e.py"]
    assert problems["a.py"].location.line == 3
    assert problems["b.toml"].location.line == 2
    assert problems["d.json"].location.line == 2
    assert all(d.code == "NB802" for d in problems.values())


def test_a_notebook_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, [PREDICT_CELL, EXAMPLE_CELL])
    odd = notebook.with_name(os.fsdecode(b"n\xff.ipynb"))
    notebook.rename(odd)
    code, output = run_cli("build", odd, "--out", tmp_path / "out")
    assert code == ExitCode.INPUT, output
    assert "n\\udcff.ipynb" in output and "not valid UTF-8" in output
    assert not (tmp_path / "out").exists()


def test_generated_file_errors_exit_as_internal_errors() -> None:
    assert GeneratedFileError("x").exit_code == ExitCode.INTERNAL


# --- hostile text everywhere, as a property

#: Hostile text: quotes, backslashes, line breaks (U+2028 too), template syntax, code,
#: NUL and the rest. Not lone surrogates: a JSON request cannot carry them as UTF-8.
_PIECES = st.sampled_from(
    [
        *('"', "'", '"""', "\\", "\n", "\r", "\u2028", "\0", "#", "`", " ", "é"),
        *("{{", "}}", "{%", "%}", "model_config", INJECTED_COLUMN),
    ]
)
_TEXT = st.lists(
    st.one_of(_PIECES, st.text(alphabet=st.characters(exclude_categories=["Cs"]))),
    max_size=4,
).map("".join)
#: File names: no "/" or NUL (the file system refuses them), not "." or "..".
_FILE_NAME = _TEXT.map(lambda t: t.replace("/", "_").replace("\0", "_")).filter(
    lambda t: t not in {"", ".", ".."} and len(t.encode()) < 200
)


def _frame_request(columns: list[str], value: str) -> list[dict[str, Any]]:
    row: dict[str, Any] = {c: i for i, c in enumerate(columns[:-1])}
    row[columns[-1]] = value
    return [row]


@settings(
    max_examples=int(os.environ.get("NB2SVC_HOSTILE_EXAMPLES", "8")),
    deadline=None,  # each example starts an interpreter: seconds on a busy machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # CI runs the same examples every time
    phases=[Phase.explicit, Phase.generate],  # shrinking would take minutes
    database=None,  # the same examples on every machine, whatever ran before
)
@given(
    columns=st.lists(_TEXT, min_size=1, max_size=4, unique=True),
    value=_TEXT,
    label=_TEXT,
    notebook=_FILE_NAME,
    artifacts=st.lists(_FILE_NAME, max_size=2, unique=True),
    frame=st.booleans(),
)
@example(
    columns=[INJECTED_COLUMN, TRIPLE_QUOTE_KEY, "a b", "a_b"],
    value='"""\0',
    label="\\'''\n",
    notebook='n"""\n{{ x }}\u2028.ipynb',
    artifacts=['it\'s `a` "model".pkl'],
    frame=True,
)
@example(
    columns=["model_config", "__class__", "class", "1st", "", "é", "Field"],
    value="{% raw %}",
    label="x" * 500,
    notebook="json.ipynb",
    artifacts=[],
    frame=False,
)
def test_hostile_text_anywhere_is_data(
    tmp_path_factory: pytest.TempPathFactory,
    columns: list[str],
    value: str,
    label: str,
    notebook: str,
    artifacts: list[str],
    frame: bool,
) -> None:
    """Column names, dict keys, string values, a config value, the notebook's file
    name and artifact names, however hostile: the package renders, every file parses,
    importing it has no side effect, and it answers a request with the original
    names, which reach the pipeline as they were."""
    if not notebook.endswith(".ipynb"):
        notebook += ".ipynb"
    if frame:
        examples = frame_examples(columns, value, label)
        request: Any = _frame_request(columns, value)
    else:
        request = {c: value for c in columns}
        request[columns[0]] = {c: value for c in columns}  # a model of its own
        examples = record_examples(request, label)
    spec = make_spec(notebook, examples, label, artifacts)
    files = render(spec)
    parse_all(files)
    out = tmp_path_factory.mktemp("hostile")
    write_package(files, out, spec)
    answer = call_service(out, spec.package, request)
    assert side_effects(out) == []
    assert answer["status"] == 200, answer
    body = answer["body"]
    assert body["label"] == label
    if frame:
        assert body["columns"] == columns
        assert body["first"] == list(request[0].values())
    else:
        assert body["keys"] == columns
        assert body["echo"] == request
    readme = files["README.md"].decode()
    assert markdown_code(notebook) in readme

"""Pydantic request/response models inferred from the captured examples."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nb2svc.model import ExampleSet
from nb2svc.naming import class_name, field_names, unique_class_name
from nb2svc.render.shapes import array_shape, describe_shape, shaped_annotation

_DTYPE_TYPES = (
    ("bool", "bool"),
    ("int", "int"),
    ("uint", "int"),
    ("float", "float"),
)


@dataclass
class ModelDef:
    name: str
    fields: list[dict[str, str | None]] = field(default_factory=list)
    extra: str = "forbid"


@dataclass
class SchemaBuilder:
    models: list[ModelDef] = field(default_factory=list)

    def _unique(self, name: str) -> str:
        return unique_class_name(name, {m.name for m in self.models})

    def model(self, name: str, items: list[tuple[str, str]], extra: str) -> str:
        """A model of one field per (key, type); attribute names from naming.py, the
        original key kept as the field's alias whenever the two differ."""
        model = ModelDef(self._unique(name), extra=extra)
        names = field_names([key for key, _ in items])
        for (key, type_expr), fname in zip(items, names, strict=True):
            model.fields.append(
                {
                    "name": fname,
                    "alias": key if fname != key else None,
                    "type": type_expr,
                }
            )
        self.models.append(model)
        return model.name

    def infer(self, values: list[Any], name: str, extra: str) -> str:
        """A type expression covering every value (JSON values)."""
        present = [v for v in values if v is not None]
        optional = len(present) != len(values)
        expr = self._infer_present(present, name, extra)
        if optional and expr not in ("Any", "None"):
            expr = f"{expr} | None"
        return expr

    def _infer_present(self, values: list[Any], name: str, extra: str) -> str:
        if not values:
            return "None"
        kinds = {type(v) for v in values}
        if kinds == {bool}:
            return "bool"
        if kinds <= {int} - {bool}:
            return "int"
        if kinds <= {int, float} and bool not in kinds:
            return "float"
        if kinds == {str}:
            return "str"
        if kinds == {list}:
            items = [item for v in values for item in v]
            return (
                f"list[{self.infer(items, name + 'Item', extra)}]"
                if items
                else "list[Any]"
            )
        if kinds == {dict}:
            keys = list(dict.fromkeys(k for v in values for k in v))
            if keys and len(keys) <= 64:
                items = [
                    (k, self.infer([v.get(k) for v in values], class_name(k), extra))
                    for k in keys
                ]
                return self.model(name, items, extra)
            return "dict[str, Any]"
        return "Any"


def dtype_type(dtype: str) -> str:
    for prefix, type_expr in _DTYPE_TYPES:
        if dtype.lower().startswith(prefix):
            return type_expr
    return "str"


# --- type hints: the notebook's annotation of its input wins over the example's shape

_SCALARS = frozenset({"int", "float", "str", "bool"})
_MAPPINGS = frozenset({"dict", "Dict", "Mapping", "MutableMapping"})
_SEQUENCES = frozenset({"list", "List", "Sequence"})
_RECORD_BASES = frozenset({"TypedDict", "BaseModel"})


@dataclass(frozen=True)
class InputHint:
    """What the annotation of the pipeline's first parameter says about the input."""

    fields: dict[str, str] = field(default_factory=dict)  # key ("*": any) -> type
    items: str | None = None  # the type of an array's items


def _dotted(node: ast.expr) -> str:
    """``typing.Optional`` -> ``Optional``; the last part of a (dotted) name."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def hinted_type(node: ast.expr) -> str | None:
    """The schema type of a simple annotation (scalars, lists, optionals), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return hinted_type(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Name) and node.id in _SCALARS:
        return node.id
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        if _is_none(node.right):
            return _optional(node.left)
        return _optional(node.right) if _is_none(node.left) else None
    if isinstance(node, ast.Subscript):
        base = _dotted(node.value)
        if base == "Optional":
            return _optional(node.slice)
        if base in _SEQUENCES:
            inner = hinted_type(node.slice)
            return f"list[{inner}]" if inner and "None" not in inner else None
    return None


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _optional(node: ast.expr) -> str | None:
    inner = hinted_type(node)
    return f"{inner} | None" if inner and "None" not in inner else None


def _record_classes(code: Sequence[str]) -> dict[str, dict[str, str]]:
    """TypedDicts, pydantic models and dataclasses of the exported code: their fields'
    schema types (fields of other types left out)."""
    classes: dict[str, dict[str, str]] = {}
    for source in code:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            decorators = [
                _dotted(d.func if isinstance(d, ast.Call) else d)
                for d in node.decorator_list
            ]
            bases = {_dotted(b) for b in node.bases}
            if not (bases & _RECORD_BASES or "dataclass" in decorators):
                continue
            fields = {}
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(
                    stmt.target, ast.Name
                ):
                    hinted = hinted_type(stmt.annotation)
                    if hinted is not None:
                        fields[stmt.target.id] = hinted
            classes[node.name] = fields
    return classes


def input_hint(annotation: str | None, code: Sequence[str]) -> InputHint | None:
    """The hint in the annotation of the pipeline's input, when it says anything."""
    if not annotation:
        return None
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return input_hint(node.value, code)
    if isinstance(node, ast.Subscript) and _dotted(node.value) in _MAPPINGS:
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else []
        if len(args) == 2 and _dotted(args[0]) == "str":
            values = hinted_type(args[1])
            return InputHint(fields={"*": values}) if values else None
        return None
    if isinstance(node, ast.Subscript) and _dotted(node.value) in _SEQUENCES:
        items = hinted_type(node.slice)
        return InputHint(items=items) if items else None
    fields = _record_classes(code).get(_dotted(node))
    return InputHint(fields=fields) if fields else None


def _fits(value: Any, type_expr: str) -> bool:
    """Whether a JSON value validates as ``type_expr`` (strictly, as requests are)."""
    base, optional = type_expr.removesuffix(" | None"), type_expr.endswith(" | None")
    if value is None:
        return optional
    if base.startswith("list[") and base.endswith("]"):
        return isinstance(value, list) and all(_fits(v, base[5:-1]) for v in value)
    checks = {
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
    }
    return base in checks and checks[base](value)


def _widened(type_expr: str, values: list[Any]) -> str | None:
    """``type_expr`` made optional if the examples hold None; None if they don't fit."""
    if any(v is None for v in values) and not type_expr.endswith(" | None"):
        type_expr += " | None"
    return type_expr if all(_fits(v, type_expr) for v in values) else None


def _apply_hint(
    builder: SchemaBuilder, request: str, inputs: list[Any], kind: str, hint: InputHint
) -> str:
    if kind == "record":
        model = next((m for m in builder.models if m.name == request), None)
        for f in model.fields if model else []:
            key = f["name"] if f["alias"] is None else f["alias"]
            assert isinstance(key, str)
            hinted = hint.fields.get(key) or hint.fields.get("*")
            values = [item.get(key) for item in inputs if isinstance(item, dict)]
            widened = _widened(hinted, values) if hinted else None
            if widened:
                f["type"] = widened
    elif kind == "array" and hint.items and request.startswith("list["):
        widened = _widened(f"list[{hint.items}]", inputs)
        if widened:
            return widened
    return request


def build_schema(examples: ExampleSet, hint: InputHint | None = None) -> dict[str, Any]:
    """Request and response models from the examples; where ``hint`` (the annotation
    of the pipeline's input) gives a field's or an array item's type and every example
    fits it, that type wins (an ``int`` example under a ``float`` hint takes floats)."""
    builder = SchemaBuilder()
    kind = examples.input_kind
    inputs = list(examples.inputs)
    if kind == "frame":
        rows = [row for frame in inputs for row in frame]
        items = []
        for column, dtype in examples.columns:
            type_expr = dtype_type(dtype)
            if any(row.get(column) is None for row in rows):
                type_expr += " | None"
            items.append((column, type_expr))
        record = builder.model("Record", items, "forbid")
        request = f"list[{record}]"
    elif kind == "record":
        request = builder.infer(inputs, "PredictInput", "forbid")
    elif kind == "string":
        request = "str"
    elif kind == "array":
        request = builder.infer(inputs, "PredictInput", "forbid")
    else:
        request = "Any"
    if hint is not None:
        request = _apply_hint(builder, request, inputs, kind, hint)
    shape = (
        array_shape(inputs, request, examples.n_features) if kind == "array" else None
    )
    annotation = _annotation(request, "forbid")
    if kind == "frame":  # rows, or one bare record as a one-row table
        annotation = f"Annotated[{annotation}, TableRows()]"
    response = builder.infer(list(examples.outputs), "PredictOutput", "allow")
    return {
        "models": [
            {
                "name": m.name,
                "fields": [
                    {**f, "annotation": _annotation(f["type"], m.extra)}
                    for f in m.fields
                ],
                "extra": m.extra,
            }
            for m in _dependency_order(builder.models)
        ],
        "request_type": request,
        "response_type": response,
        "request_annotation": shaped_annotation(annotation or request, shape),
        "shape": list(shape) if shape is not None else None,
        "shape_text": describe_shape(shape) if shape is not None else None,
        "response_annotation": _annotation(response, "allow"),
        "columns": [list(c) for c in examples.columns],
        "example_request": inputs[0],  # data: templates write it with pyrepr
        "example_response": examples.outputs[0],
    }


#: Responses: a non-finite float becomes null (nb2svc_runtime.jsonable), so a float
#: answer may be null.
_OUTPUT_TYPES = {
    "float": "float | None",
    "list[float]": "list[float | None]",
    "list[list[float]]": "list[list[float | None]]",
}
#: Requests: integers as JSON Schema counts them (the runtime's Integer: 2.0 is one).
_INPUT_TYPES = {
    "int": "Integer",
    "int | None": "Integer | None",
    "list[int]": "list[Integer]",
    "list[list[int]]": "list[list[Integer]]",
}


def _annotation(type_expr: str | None, extra: str) -> str | None:
    """The annotation schemas.py writes for an inferred type: of a response (extra
    "allow") or of a request."""
    if type_expr is None:
        return None
    table = _OUTPUT_TYPES if extra == "allow" else _INPUT_TYPES
    return table.get(type_expr, type_expr)


def _dependency_order(models: list[ModelDef]) -> list[ModelDef]:
    """Models are created innermost first already; keep that order (stable)."""
    return models

"""Pydantic request/response models inferred from the captured examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nb2svc.model import ExampleSet
from nb2svc.naming import class_name, field_name

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
        taken = {m.name for m in self.models}
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}{n}", n + 1
        return candidate

    def model(self, name: str, items: list[tuple[str, str]], extra: str) -> str:
        model = ModelDef(self._unique(name), extra=extra)
        used: set[str] = set()
        for key, type_expr in items:
            fname = field_name(key)
            while fname in used:
                fname += "_"
            used.add(fname)
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
            if (
                keys
                and all(k.isidentifier() or field_name(k) for k in keys)
                and len(keys) <= 64
            ):
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


def build_schema(examples: ExampleSet) -> dict[str, Any]:
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
    response = builder.infer(list(examples.outputs), "PredictOutput", "allow")
    return {
        "models": [
            {"name": m.name, "fields": m.fields, "extra": m.extra}
            for m in _dependency_order(builder.models)
        ],
        "request_type": request,
        "response_type": response,
        "columns": [list(c) for c in examples.columns],
        "example_request": repr(inputs[0]),
        "example_response": repr(examples.outputs[0]),
    }


def _dependency_order(models: list[ModelDef]) -> list[ModelDef]:
    """Models are created innermost first already; keep that order (stable)."""
    return models

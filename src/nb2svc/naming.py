"""Every identifier derived from user text is cleaned here, in one place.

User text (a notebook's file name, a column name, a dict key) never becomes code as it
is: it becomes an identifier through these functions, collisions are resolved here,
deterministically, and the original text is kept as data (an alias) by the caller.
"""

from __future__ import annotations

import functools
import keyword
import re
import sys
from collections.abc import Iterable, Sequence

_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PLAIN = re.compile(r"[a-z][a-z0-9_]*")

#: A package named after one of these would shadow it: ``json`` -> ``json_service``.
PACKAGE_SUFFIX = "_service"

#: Public attributes of pydantic's BaseModel (pydantic 2): a field may not take their
#: names (tests/test_data_as_data.py checks this list against the installed pydantic).
BASE_MODEL_ATTRIBUTES = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "from_orm",
        "json",
        "model_computed_fields",
        "model_config",
        "model_construct",
        "model_copy",
        "model_dump",
        "model_dump_json",
        "model_extra",
        "model_fields",
        "model_fields_set",
        "model_json_schema",
        "model_parametrized_name",
        "model_post_init",
        "model_rebuild",
        "model_validate",
        "model_validate_json",
        "model_validate_strings",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
    }
)
#: pydantic's protected namespaces: no field name may start with these.
PROTECTED_PREFIXES = ("model_validate", "model_dump")
#: Names a field must not take in a model's class body: the types its annotations use.
ANNOTATION_NAMES = frozenset({"int", "float", "str", "bool", "list", "dict", "tuple"})
#: Module-level names of the generated schemas.py that a model class must not shadow.
SCHEMA_MODULE_NAMES = frozenset(
    {
        "Annotated",
        "Any",
        "BaseModel",
        "BatchRequest",
        "BeforeValidator",
        "ConfigDict",
        "DTYPES",
        "EXAMPLE_REQUEST",
        "EXAMPLE_RESPONSE",
        "Field",
        "Integer",
        "PredictRequest",
        "PredictResponse",
        "TypeAlias",
        "get_args",
        "np",
        "pd",
    }
)


#: The generated Settings' own fields (settings.py.jinja; tests/test_data_as_data.py
#: checks this list against the rendered class): notebook config may not take them.
SERVICE_SETTINGS = frozenset(
    {
        "access_log",
        "api_key",
        "debug_errors",
        "drain_seconds",
        "drift_interval",
        "drift_min_rows",
        "drift_threshold",
        "drift_window",
        "host",
        "log_features",
        "log_level",
        "max_batch_rows",
        "max_body_bytes",
        "max_concurrency",
        "max_json_depth",
        "micro_batch",
        "monitoring",
        "native_threads",
        "port",
        "receive_timeout",
        "request_timeout",
        "shutdown_timeout",
        "threads",
        "workers",
    }
)
#: Prefix of a notebook config whose name is one of the service's own settings.
SETTING_PREFIX = "notebook_"


@functools.cache
def taken_module_names() -> frozenset[str]:
    """Top-level modules a package must not shadow, lower-cased: the standard library,
    built-in modules, and every top-level module installed in this environment (the
    one whose versions the generated requirements pin)."""
    from importlib.metadata import packages_distributions

    names = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    names |= set(packages_distributions())
    return frozenset(name.lower() for name in names)


def package_name(stem: str) -> str:
    """`Fraud Scoring-v2` -> `fraud_scoring_v2`: a valid, lower-case import name that
    shadows no standard-library or installed module (`json` -> `json_service`)."""
    words = _NON_WORD.sub(" ", _CAMEL.sub(" ", stem)).lower().split()
    name = "_".join(words) or "service"
    if name[0].isdigit():
        name = f"svc_{name}"
    if keyword.iskeyword(name):
        name = f"{name}_svc"
    while name in taken_module_names():
        name += PACKAGE_SUFFIX
    return name


def dist_name(package: str) -> str:
    return package.replace("_", "-")


def title(package: str) -> str:
    return " ".join(word.capitalize() for word in package.split("_"))


def env_prefix(package: str) -> str:
    return f"{package.upper()}_"


def _clean(text: str) -> str:
    """Lower-case ASCII words of ``text`` joined by ``_``; ``field`` when none."""
    name = _NON_WORD.sub("_", text).strip("_").lower() or "field"
    if name[0].isdigit():
        name = f"f_{name}"
    return name


def _allowed(name: str) -> bool:
    return not (
        keyword.iskeyword(name)
        or name.startswith(PROTECTED_PREFIXES)
        or name in BASE_MODEL_ATTRIBUTES
        or name in ANNOTATION_NAMES
    )


def field_name(text: str) -> str:
    """A Python identifier for a column/key name (an alias keeps the original)."""
    name = _clean(text)
    return name if _allowed(name) else f"{name}_"


def setting_name(constant: str) -> str:
    """The settings field (and, upper-cased, environment variable) of a notebook
    config name: ``THRESHOLD`` -> ``threshold``; a service setting's name gets a
    prefix: ``HOST`` -> ``notebook_host``, so the service's ``host`` stays its own."""
    name = field_name(constant)
    return f"{SETTING_PREFIX}{name}" if name in SERVICE_SETTINGS else name


def field_names(keys: Sequence[str]) -> list[str]:
    """One attribute name per key, all distinct and none equal to another key.

    A key that is already a plain lower-case identifier, and allowed, keeps its name;
    the others get ``field_name(key)``, then ``_2``, ``_3``... until the name is free:
    the same keys always get the same names, and ``a b`` next to ``a_b`` gives
    ``a_b_2`` and ``a_b``. The original keys stay the aliases requests use.
    """
    names: list[str | None] = [
        key if _PLAIN.fullmatch(key) and _allowed(key) else None for key in keys
    ]
    taken = set(keys) | {n for n in names if n is not None}
    for index, key in enumerate(keys):
        if names[index] is not None:
            continue
        base = field_name(key)
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        taken.add(candidate)
        names[index] = candidate
    return [n for n in names if n is not None]


def class_name(text: str) -> str:
    """A CamelCase identifier for a key: ``unit price`` -> ``UnitPrice``."""
    return "".join(word.capitalize() for word in _clean(text).split("_"))


def unique_class_name(name: str, taken: Iterable[str] = ()) -> str:
    """``name`` (an identifier), or ``name2``, ``name3``...: distinct from ``taken``
    and from the names schemas.py defines (``Field``, ``BaseModel``...)."""
    used = set(taken) | SCHEMA_MODULE_NAMES
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}{n}", n + 1
    return candidate

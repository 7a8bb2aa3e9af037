"""Every identifier derived from user text is cleaned here, in one place."""

from __future__ import annotations

import keyword
import re

_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def package_name(stem: str) -> str:
    """`Fraud Scoring-v2` -> `fraud_scoring_v2`: a valid, lower-case import name."""
    words = _NON_WORD.sub(" ", _CAMEL.sub(" ", stem)).lower().split()
    name = "_".join(words) or "service"
    if name[0].isdigit():
        name = f"svc_{name}"
    if keyword.iskeyword(name):
        name = f"{name}_svc"
    return name


def dist_name(package: str) -> str:
    return package.replace("_", "-")


def title(package: str) -> str:
    return " ".join(word.capitalize() for word in package.split("_"))


def env_prefix(package: str) -> str:
    return f"{package.upper()}_"


def field_name(text: str) -> str:
    """A Python identifier for a column/key name (an alias keeps the original)."""
    name = _NON_WORD.sub("_", text).strip("_").lower() or "field"
    if name[0].isdigit():
        name = f"f_{name}"
    if keyword.iskeyword(name) or name in {"model_config", "model_fields"}:
        name = f"{name}_"
    return name


def class_name(text: str) -> str:
    return "".join(word.capitalize() for word in field_name(text).split("_")) or "Model"


#: The generated service's own settings (templates/service/.../settings.py.jinja):
#: their environment variables are ``<PREFIX><NAME>`` and no config setting may take one.
SERVICE_OPTIONS = frozenset(
    {
        "host",
        "port",
        "workers",
        "threads",
        "native_threads",
        "micro_batch",
        "log_level",
        "access_log",
        "debug_errors",
        "api_key",
        "max_body_bytes",
        "max_batch_rows",
        "max_json_depth",
        "max_concurrency",
        "request_timeout",
        "receive_timeout",
        "drain_seconds",
        "shutdown_timeout",
        "monitoring",
        "drift_window",
        "drift_min_rows",
        "drift_threshold",
        "drift_interval",
        "log_features",
    }
)


def setting_env(prefix: str, name: str, others: frozenset[str] = frozenset()) -> str:
    """The environment variable of the config setting ``name`` (a field name).

    ``<PREFIX><NAME>``, except that a name which already starts with the prefix is
    not prefixed twice: ``churn_threshold`` in service ``churn`` is read from
    ``CHURN_THRESHOLD``, not ``CHURN_CHURN_THRESHOLD``. That shortcut is taken only
    when the variable is nobody else's: not that of another setting in ``others``
    (a ``threshold`` next to ``churn_threshold`` keeps ``CHURN_CHURN_THRESHOLD``
    for the latter) nor of one of the service's own options (``churn_port`` stays
    ``CHURN_CHURN_PORT``). So every setting gets a distinct variable, and the
    same notebook always gets the same ones.
    """
    upper = name.upper()
    rest = upper[len(prefix) :].lower()
    if (
        upper.startswith(prefix)
        and rest
        and rest not in others
        and rest not in SERVICE_OPTIONS
    ):
        return upper
    return f"{prefix}{upper}"

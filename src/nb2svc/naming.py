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


#: A container image reference: [registry[:port]/]path[:tag][@sha256:digest], as the
#: OCI distribution spec's grammar allows (lower-case path components).
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$"
)


def is_image_reference(value: str) -> bool:
    return bool(_IMAGE.match(value))


def k8s_name(package: str) -> str:
    """A Kubernetes object name (an RFC 1035 label, room left for a ``-config``-like
    suffix): ``fraud_scoring`` -> ``fraud-scoring``; long names keep a hash tail."""
    import hashlib

    name = dist_name(package).strip("-") or "service"
    if not name[0].isalpha():
        name = f"svc-{name}"
    if len(name) > 48:
        tail = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:39].rstrip('-')}-{tail}"
    return name

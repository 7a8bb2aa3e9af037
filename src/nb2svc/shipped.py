"""What ships is scanned: the data a build writes into the service.

The captured examples (inputs and the notebook's outputs, which become the golden
fixtures and the OpenAPI example), the reference profile and the verify reports go
through the detectors that find secrets in cells (``nb2svc.lint.secrets``: detect-
secrets, Luhn-checked card numbers, key shapes). Data reaches them value by value:
strings as they are, whole numbers of twelve digits or more as digits (a card number
read from a CSV is an int); other numbers are never a secret.

A hit refuses the build (NB1113) unless the user asks for ``--redact-examples``: then
each value that hits in an example's input is replaced by a synthetic one of the same
type and shape, drawn from its path (the same on every run), and the notebook's
outputs are computed again for the redacted inputs; a profiled feature that hits is
kept without its values. Values never appear in clear in a message.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nb2svc.capture import Captured
from nb2svc.errors import ContractError, Diagnostic, Location, Severity
from nb2svc.lint.secrets import MIN_LEAK_LENGTH, redact, scan_texts, synthetic
from nb2svc.model import ExampleSet, Redaction

if TYPE_CHECKING:
    from nb2svc.verify.model import Report

#: Whole numbers shorter than this are never scanned (no card number is).
_MIN_DIGITS = 12
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class DataHit:
    """A probable secret in data that would ship: where, what kind, the value."""

    path: Path  # JSON path from the scanned document's root
    kinds: tuple[str, ...]
    value: str  # the part of the leaf that hit (never printed)
    leaf: Any  # the whole JSON value at ``path``
    key: bool = False  # the value is a mapping's key, not a value

    @property
    def where(self) -> str:
        if self.key and self.path[-2:-1] == ("frequencies",):  # a profile's category
            return f"{show_path(self.path[:-2])} category"
        if self.key:  # the key itself is the secret: name its mapping only
            return f"a key of {show_path(self.path[:-1]) or 'the document'}"
        return show_path(self.path)

    @property
    def redacted(self) -> str:
        return redact(self.value)


def show_path(path: Path) -> str:
    """``examples[2].input[0].card_number``"""
    text = ""
    for token in path:
        if isinstance(token, int):
            text += f"[{token}]"
        elif _IDENTIFIER.match(token):
            text += f".{token}" if text else token
        else:
            text += f"[{json.dumps(token, ensure_ascii=False)}]"
    return text


def _text(value: Any) -> str | None:
    """The text a JSON scalar is scanned as, or None when it cannot be a secret."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value) if len(str(abs(value))) >= _MIN_DIGITS else None
    if isinstance(value, float) and value.is_integer():
        return _text(int(value))
    return None


def _leaves(value: Any, path: Path) -> Iterator[tuple[Path, Any, bool]]:
    """(path, scalar, is_key) for every scalar and mapping key of a JSON value."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield (*path, str(key)), str(key), True
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value, False


def scan_json(value: Any, root: Path = ()) -> list[DataHit]:
    """Every probable secret among the scalars (and keys) of a JSON value."""
    leaves = [
        (path, leaf, key, text)
        for path, leaf, key in _leaves(value, root)
        if (text := _text(leaf)) is not None
    ]
    found = scan_texts([text for *_, text in leaves])
    return [
        DataHit(path, kinds, hit, leaf, key)
        for (path, leaf, key, _), hits in zip(leaves, found, strict=True)
        for kinds, hit in hits
    ]


def scan_examples(examples: ExampleSet) -> list[DataHit]:
    """Hits in the examples' inputs (``examples[i].input...``) and outputs."""
    document = [
        {"input": given, "output": output}
        for given, output in zip(examples.inputs, examples.outputs, strict=True)
    ]
    return scan_json(document, ("examples",))


def scan_profile(profile: Mapping[str, Any] | None) -> list[DataHit]:
    """Hits in the reference profile (category values, bins, points, names)."""
    return [] if profile is None else scan_json(profile)


def redactions(hits: Sequence[DataHit]) -> list[Redaction]:
    """A synthetic value for every input leaf that hit, of the leaf's own type.

    Each secret in the leaf is replaced by ``synthetic(secret, path)``: a digit string
    of the same length that is no valid card number, a key of the same shape.
    """
    by_leaf: dict[Path, list[DataHit]] = {}
    for hit in hits:
        if _is_input(hit.path) and not hit.key:
            by_leaf.setdefault(hit.path, []).append(hit)
    result = []
    for path, leaf_hits in sorted(by_leaf.items(), key=lambda item: repr(item[0])):
        leaf = leaf_hits[0].leaf
        text = _text(leaf)
        assert text is not None
        for hit in sorted(leaf_hits, key=lambda h: -len(h.value)):
            text = text.replace(hit.value, synthetic(hit.value, show_path(path)))
        value: Any = text
        if isinstance(leaf, int):
            value = int(text)
        elif isinstance(leaf, float):
            value = float(int(text))
        index = path[1]
        assert isinstance(index, int)
        result.append(Redaction(index, path[3:], value))
    return result


def _is_input(path: Path) -> bool:
    return len(path) >= 3 and path[0] == "examples" and path[2] == "input"


def withhold(
    profile: Mapping[str, Any], hits: Sequence[DataHit]
) -> tuple[dict[str, Any], list[str]]:
    """The profile without the values of every feature a hit is in; and their names.

    Such a feature moves to ``unprofiled`` with its counts, like an identifier.
    """
    result = json.loads(json.dumps(profile))
    names: list[str] = []
    for hit in hits:
        if len(hit.path) < 2 or hit.path[0] not in ("features", "predictions"):
            continue
        section, name = str(hit.path[0]), str(hit.path[1])
        feature = result[section].pop(name, None)
        if feature is None:
            continue
        names.append(f"{section}.{name}")
        unprofiled = result.setdefault("unprofiled", {}).setdefault(section, {})
        unprofiled[name] = {
            "kind": "withheld",
            "count": feature.get("count"),
            "missing_rate": feature.get("missing_rate"),
        }
    return result, sorted(set(names))


def unredactable(hits: Sequence[DataHit], profile: bool) -> list[DataHit]:
    """Hits ``--redact-examples`` cannot remove: outputs, keys, a feature's name."""
    if profile:
        return [
            h
            for h in hits
            if len(h.path) < 3 or h.path[0] not in ("features", "predictions")
        ]
    return [h for h in hits if not _is_input(h.path) or h.key]


def data_diagnostics(
    location: Location, hits: Sequence[DataHit], what: str, hint: str | None = None
) -> list[Diagnostic]:
    """NB1113, once per hit: ``what`` names the document (``reference profile: ``)."""
    return [
        Diagnostic(
            Severity.ERROR,
            location,
            f"{what}{hit.where} holds a possible secret ({', '.join(hit.kinds)}): "
            f"{hit.redacted}; nothing was written",
            hint
            or "rebuild with 'nb2svc build --redact-examples' to ship synthetic "
            "values in its place, or take it out of the example",
            "NB1113",
        )
        for hit in sorted(hits, key=lambda h: (repr(h.path), h.value))
    ]


@dataclass(frozen=True)
class ShippedData:
    """The capture as it may ship, and what the scan found."""

    captured: Captured
    errors: tuple[Diagnostic, ...]
    warnings: tuple[Diagnostic, ...]


_OUTPUT_HINT = (
    "--redact-examples replaces secrets in the examples' inputs only, and this one "
    "is in what the notebook returns (or a field's name): leave it out of the "
    "postprocess output, or take it out of the example"
)
_PROFILE_HINT = (
    "rebuild with 'nb2svc build --redact-examples' to profile that feature without "
    "its values, or leave it out of the reference data"
)


def check_shipped(
    captured: Captured,
    redact: bool,
    examples_at: Location,
    profile_at: Location | None,
) -> ShippedData:
    """Scan the examples and the profile; withhold profiled features that hit when
    ``redact`` (the examples were redacted before the notebook ran on them)."""
    example_hits = scan_examples(captured.examples)
    errors = data_diagnostics(
        examples_at, example_hits, "", _OUTPUT_HINT if redact else None
    )
    warnings: list[Diagnostic] = []
    profile = captured.profile
    if profile is not None and profile_at is not None:
        hits = scan_profile(profile)
        fixed = [h for h in hits if h not in unredactable(hits, profile=True)]
        if redact and fixed:
            profile, names = withhold(profile, fixed)
            hits = unredactable(hits, profile=True)
            warnings.append(
                Diagnostic(
                    Severity.WARNING,
                    profile_at,
                    "reference profile: kept without values, as they hold possible "
                    f"secrets (--redact-examples): {', '.join(names)}",
                    None,
                    "NB1113",
                )
            )
        errors += data_diagnostics(
            profile_at, hits, "reference profile: ", None if redact else _PROFILE_HINT
        )
        identifiers = sorted(
            f"{section}.{name}"
            for section, table in profile.get("unprofiled", {}).items()
            for name, feature in table.items()
            if feature.get("kind") == "identifier"
        )
        if identifiers:
            warnings.append(
                Diagnostic(
                    Severity.WARNING,
                    profile_at,
                    "reference profile: identifiers (nearly every value distinct) are "
                    f"kept without values, no drift measured: {', '.join(identifiers)}",
                    None,
                    "NB603",
                )
            )
    return ShippedData(
        dataclasses.replace(captured, profile=profile),
        tuple(errors),
        tuple(warnings),
    )


def leaked(files: Mapping[str, bytes], hits: Sequence[DataHit]) -> list[Diagnostic]:
    """NB1113 for every file that still holds a value that hit (a last check)."""
    problems = []
    for hit in hits:
        needles = {hit.value, re.sub(r"[ -]", "", hit.value)}
        found = [
            rel
            for rel, content in sorted(files.items())
            if any(len(n) >= MIN_LEAK_LENGTH and n.encode() in content for n in needles)
        ]
        if found:
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    Location(", ".join(found)),
                    f"would hold a possible secret ({', '.join(hit.kinds)}) found in "
                    f"{hit.where}: {hit.redacted}; nothing was written",
                    "take it out of the example",
                    "NB1113",
                )
            )
    return problems


def check_report(report: Report, kind: str) -> None:
    """Refuse to write a verify report (``kind``: "HTML", "JSON") holding a value
    that looks like a secret: the examples, the notebook's and the service's answers.
    """
    document = [
        {
            "input": e.input,
            "notebook": e.notebook,
            "service": e.service,
            "batch": e.batch,
        }
        for e in report.examples
    ]
    hits = scan_json(document, ("examples",))
    if hits:
        raise ContractError(
            data_diagnostics(
                Location(report.notebook),
                hits,
                f"the {kind} report: ",
                "build the service with 'nb2svc build --redact-examples' (verify then "
                "uses its redacted examples), or take the value out of the example",
            )
        )

"""The capture a build stores (``tests/golden/examples.json`` and the reference
profile), and reusing it when nothing it depends on has changed."""

from __future__ import annotations

import json
from pathlib import Path

from nb2svc.capture.run import Captured
from nb2svc.model import ExampleSet, Redaction
from nb2svc.writer import read_manifest, sha256
from nb2svc_runtime.reference import PROFILE_FILE, profile_bytes

__all__ = [
    "GOLDEN",
    "REFERENCE_PROFILE",
    "artifact_hashes",
    "cached_capture",
    "golden_bytes",
    "profile_bytes",
]

#: The reference profile's name among the package's artifacts.
REFERENCE_PROFILE = PROFILE_FILE
#: The examples and the notebook's outputs for them, in the generated package.
GOLDEN = "tests/golden/examples.json"


def artifact_hashes(folder: Path, names: list[str]) -> dict[str, str]:
    """Each declared artifact's sha256 ("missing" before the notebook makes it)."""
    hashes = {}
    for name in names:
        path = folder / name
        hashes[name] = sha256(path.read_bytes()) if path.is_file() else "missing"
    return hashes


def cached_capture(out: Path, key: str, profile: str | None = None) -> Captured | None:
    """The capture stored in ``out`` if its key matches (``profile``: where the
    reference profile should be, relative to ``out``)."""
    manifest = read_manifest(out)
    if not manifest or manifest.get("capture_key") != key:
        return None
    try:
        profiled = (
            json.loads((out / profile).read_text(encoding="utf-8"))
            if profile is not None
            else None
        )
        data = json.loads((out / GOLDEN).read_text(encoding="utf-8"))
        meta = data["nb2svc"]
        redactions = tuple(Redaction.from_json(r) for r in meta.get("redacted", []))
        examples = ExampleSet(
            input_kind=meta["input_kind"],
            inputs=tuple(e["input"] for e in data["examples"]),
            outputs=tuple(e["output"] for e in data["examples"]),
            columns=tuple((c, t) for c, t in meta["columns"]),
            array_dtype=meta.get("array_dtype"),
            batch_vectorised=bool(meta["batch"]["vectorised"]),
            batch_split=str(meta["batch"]["split"]),
            batch_reason=str(meta["batch"]["reason"]),
            n_features=meta.get("n_features"),
        )
        return Captured(
            examples,
            tuple(meta["runtime_modules"]),
            profiled,
            (),
            redactions,
            tuple(meta.get("notebook_definitions", [])),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def golden_bytes(captured: Captured, key: str) -> bytes:
    """``tests/golden/examples.json``: the examples, the outputs, and what a rebuild
    needs to reuse them."""
    ex = captured.examples
    data = {
        "nb2svc": {
            "capture_key": key,
            "input_kind": ex.input_kind,
            "columns": [list(c) for c in ex.columns],
            **({"array_dtype": ex.array_dtype} if ex.array_dtype else {}),
            "batch": ex.batch_json(),
            **({"n_features": ex.n_features} if ex.n_features else {}),
            "runtime_modules": list(captured.modules),
            **(
                {"notebook_definitions": list(captured.definitions)}
                if captured.definitions
                else {}
            ),
            **(
                {"redacted": [r.as_json() for r in captured.redactions]}
                if captured.redactions
                else {}
            ),
        },
        "examples": [
            {"input": i, "output": o}
            for i, o in zip(ex.inputs, ex.outputs, strict=True)
        ],
    }
    return (
        json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    ).encode()


def built_redactions(out: Path) -> tuple[Redaction, ...]:
    """The --redact-examples substitutions of the build in ``out`` (its fixtures)."""
    try:
        meta = json.loads((out / GOLDEN).read_text(encoding="utf-8"))["nb2svc"]
        return tuple(Redaction.from_json(r) for r in meta.get("redacted", []))
    except (OSError, ValueError, KeyError, TypeError):
        return ()

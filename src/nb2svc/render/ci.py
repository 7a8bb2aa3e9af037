"""What the generated CI workflow pins: actions by commit, tools by version."""

from __future__ import annotations

from typing import Any

from nb2svc.requirements import pin

#: GitHub actions pinned by commit (a tag can be moved; a commit cannot), with the
#: release each commit is.
ACTIONS = {
    "checkout": "11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2",
    "setup_python": "a26af69be951a213d495a4c3e4e4022e16d87065  # v5.6.0",
    "upload_artifact": "ea165f8d65b6e75b540449e92b4886f43607fa02  # v4.6.2",
}
#: The supply-chain tools, pinned (they are not part of nb2svc's own environment).
AUDIT_TOOLS = ("cyclonedx-bom==7.5.0", "pip-audit==2.10.1")


def ci_context() -> dict[str, Any]:
    """The linters at the versions nb2svc formats and checks generated code with."""
    return {
        "actions": dict(ACTIONS),
        "tools": {
            "lint": sorted(pin(d) for d in ("black", "mypy", "ruff")),
            "audit": list(AUDIT_TOOLS),
        },
    }

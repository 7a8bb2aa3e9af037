"""The lint rules: one stable code each (NB11xx), documented in the README."""

from __future__ import annotations

from dataclasses import dataclass

from nb2svc.errors import Severity


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity  # the usual severity; some rules raise it in exported code
    title: str


_RULES = (
    Rule("NB1100", Severity.WARNING, "no cell is marked: run 'nb2svc tag'"),
    Rule(
        "NB1101",
        Severity.WARNING,
        "shell escape or environment-changing magic in an unmarked cell",
    ),
    Rule("NB1102", Severity.WARNING, "name used before any cell above defines it"),
    Rule("NB1103", Severity.ERROR, "secret in a cell's source"),
    Rule("NB1104", Severity.ERROR, "secret in a cell's saved outputs"),
    Rule("NB1105", Severity.WARNING, "absolute path (an error in exported code)"),
    Rule(
        "NB1106",
        Severity.WARNING,
        "path outside the notebook's folder (an error in exported code)",
    ),
    Rule("NB1107", Severity.WARNING, "unseeded randomness in exported code"),
    Rule("NB1108", Severity.WARNING, "execution counts out of order"),
    Rule("NB1109", Severity.WARNING, "very large cell outputs"),
    Rule("NB1110", Severity.ERROR, "build: a secret would be written into the service"),
    Rule("NB1111", Severity.WARNING, "cell is not valid Python; other rules skip it"),
    Rule("NB1113", Severity.ERROR, "build: a secret in the data that would ship"),
    Rule(
        "NB1114",
        Severity.ERROR,
        "exported code opens a file not declared as an artifact",
    ),
    Rule("NB1112", Severity.WARNING, "not a Python notebook; code rules skipped"),
    Rule("NB1199", Severity.WARNING, "a lint rule failed on this notebook (a bug)"),
)
RULES: dict[str, Rule] = {r.code: r for r in _RULES}

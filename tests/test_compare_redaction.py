"""``nb2svc compare`` never shows a probable secret from the data it compares: card
numbers and keys in a disagreement's input or outputs, or among an output's labels,
are redacted in the terminal table, the JSON and the HTML page, as ``build`` redacts
what it ships; a side's URL is shown without its password."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest

from nb2svc.compare.html import render_html
from nb2svc.compare.model import (
    CompareReport,
    Disagreement,
    FieldAgreement,
    FieldShift,
    Tolerance,
)
from nb2svc.compare.redact import redacted_report, shown_side
from nb2svc.compare.report import report_dict
from nb2svc.errors import ExitCode
from nb2svc.shipped import scan_json
from tests.helpers import make_notebook, run_cli
from tests.service_support import serving
from tests.test_shipped_scan import CARDS, KEY, luhn_digit

SPACED = " ".join(CARDS[1][i : i + 4] for i in range(0, 16, 4))  # "4xxx xxxx ..."
FLOAT = 0.4010792443028479  # its digits pass Luhn: no card number all the same


def report_with(
    disagreements: tuple[Disagreement, ...], labels: tuple[str, ...] = ("ok",)
) -> CompareReport:
    share = 1 / len(labels)
    return CompareReport(
        a="http://scorer:s3cr3t-token@127.0.0.1:8000",
        b="models:/fraud@challenger",
        data="rows.csv",
        rows=10,
        tolerance=Tolerance(),
        max_disagreement=0.0,
        agreement=(FieldAgreement("score", "numeric", 10, 8, 8, 0.5, 0.1),),
        shift=(
            FieldShift(
                "label",
                "categorical",
                0.0,
                None,
                None,
                None,
                None,
                tuple((label, share, share) for label in labels),
            ),
        ),
        disagreements=disagreements,
        disagreeing_rows=len(disagreements),
    )


def hostile_report() -> CompareReport:
    return report_with(
        (
            Disagreement(
                row=3,
                input={"card_number": int(CARDS[0]), "note": f"paid with {SPACED}"},
                a={"score": FLOAT, "by_card": {CARDS[2]: 1}},
                b={"score": 0.5, "token": KEY},
                fields=("score",),
                score=0.1,
            ),
        ),
        labels=("ok", CARDS[3]),
    )


def leaked(text: str) -> list[str]:
    """The card numbers of which more than the first four digits show anywhere in
    ``text``: six digits in a row past the fourth (a table may fold a value over lines),
    or the whole number with separators."""
    digits = re.sub(r"[ -]", "", text)
    return [
        card
        for card in CARDS
        if card in digits or any(card[i : i + 6] in text for i in range(4, 11))
    ]


def secrets_of(text: str) -> list[str]:
    digits = re.sub(r"[ -]", "", text)
    found = [card for card in CARDS[:4] if card in digits]
    return (
        found
        + ([KEY] if KEY in text else [])
        + (["s3cr3t"] if "s3cr3t" in text else [])
    )


def test_every_form_of_the_report_shows_secrets_redacted() -> None:
    report = hostile_report()
    assert secrets_of(render_html(report))  # the test's data does hold secrets

    shown = redacted_report(report)
    document = json.dumps(report_dict(shown))
    page = render_html(shown)
    assert secrets_of(document) == [] and secrets_of(page) == []
    assert scan_json(json.loads(document)) == []
    # Recognisable, not usable; the rest of the row as it was.
    (d,) = shown.disagreements
    assert d.input == {
        "card_number": "4111******** (16 chars)",
        "note": f"paid with {SPACED[:4]}******** (19 chars)",
    }
    assert d.a == {"score": FLOAT, "by_card": {f"{CARDS[2][:4]}******** (16 chars)": 1}}
    assert d.b == {"score": 0.5, "token": "sk_l******** (32 chars)"}
    labels = [label for label, _, _ in shown.shift[0].frequencies]
    assert labels == ["ok", f"{CARDS[3][:4]}******** (16 chars)"]
    assert shown.a == "http://scorer:****@127.0.0.1:8000"
    assert shown.redacted == 5
    assert "5 values from the data looked like secrets" in page
    assert json.loads(document)["redacted"] == 5
    # What is not the data's is untouched.
    assert shown.agreement == report.agreement and shown.rows == report.rows


def test_labels_redacted_alike_stay_apart() -> None:
    twins = [c for c in CARDS if c.startswith(CARDS[5][:4])][:2]
    if len(twins) < 2:  # two numbers of one prefix, made here
        body = CARDS[5][:4] + "0" * 11
        twins = [CARDS[5], body + luhn_digit(body)]
    shown = redacted_report(report_with((), labels=("ok", *sorted(twins))))
    labels = [label for label, _, _ in shown.shift[0].frequencies]
    first = f"{twins[0][:4]}******** (16 chars)"
    assert labels == ["ok", first, f"{first} #2"]
    assert len(report_dict(shown)["shift"][0]["frequencies"]) == 3


def test_a_report_without_secrets_is_left_as_it_is() -> None:
    report = report_with(
        (
            Disagreement(
                1, {"amount": 12.5, "id": 123}, {"s": FLOAT}, {"s": 0.2}, ("s",), 0.1
            ),
        )
    )
    report = CompareReport(**{**report.__dict__, "a": "http://127.0.0.1:8000"})
    assert redacted_report(report) is report
    assert "looked like secrets" not in render_html(report)


@pytest.mark.parametrize(
    ("side", "shown"),
    [
        ("http://u:pw@host:1/x", "http://u:****@host:1/x"),
        ("https://:pw@host", "https://:****@host"),
        ("http://u@host", "http://u@host"),
        ("models:/fraud@champion", "models:/fraud@champion"),
        ("build/fraud_scoring", "build/fraud_scoring"),
    ],
)
def test_a_sides_password_is_not_shown(side: str, shown: str) -> None:
    assert shown_side(side) == shown


# --- end to end: two real services, the command's three outputs ---------------------

NOTEBOOK = (
    ("code", "# nb2svc: imports\nimport pandas as pd"),
    ("code", "# nb2svc: config\nSCALE = 1000.0"),
    (
        "code",
        f"cards = {[int(c) for c in CARDS[:8]]!r}\n"
        "rows = pd.DataFrame({'card_number': cards, "
        "'amount': [12.5 * (i + 1) for i in range(8)]})",
    ),
    (
        "code",
        "# nb2svc: predict\n"
        "def predict(df: pd.DataFrame) -> pd.DataFrame:\n"
        "    return pd.DataFrame({\n"
        "        'score': (df['amount'] / SCALE).round(6),\n"
        "        'card': df['card_number'].astype(str),\n"
        "    })",
    ),
    ("code", "# nb2svc: example\nexamples = rows.iloc[:2]"),
)


@pytest.mark.slow
def test_compare_shows_no_card_number_from_the_data(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path / "nb", NOTEBOOK, "cards.ipynb")
    out = tmp_path / "out"
    code, output = run_cli("build", notebook, "--out", out, "--redact-examples")
    assert code == 0, output
    data = tmp_path / "rows.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["card_number", "amount"])
        for i, card in enumerate(CARDS[10:30]):
            writer.writerow([card, 10 + i])
    page = tmp_path / "compare.html"
    with (
        serving(out, tmp_path / "a.log", scale=1000.0) as a,
        serving(out, tmp_path / "b.log", scale=250.0) as b,
    ):
        code, as_json = run_cli(
            "compare", a.url, b.url, "--data", data, "--html", page, "--json"
        )
        assert code == ExitCode.DISAGREE, as_json
        code, table = run_cli("compare", a.url, b.url, "--data", data, "--top", "20")
        assert code == ExitCode.DISAGREE, table

    report = json.loads(as_json)
    assert report["disagreeing_rows"] == 20 and len(report["disagreements"]) == 10
    for d in report["disagreements"]:
        card = d["input"]["card_number"]
        assert re.fullmatch(r"4\d{3}\*{8} \(16 chars\)", card), card
        assert d["a"]["card"] == d["b"]["card"] == card  # the echo too
        assert math.isclose(d["a"]["score"] * 1000, d["input"]["amount"], rel_tol=1e-6)
    # The ten rows shown (the input and both outputs), and the output "card"'s twenty
    # labels in the distribution shift.
    (card_shift,) = [s for s in report["shift"] if s["field"] == "card"]
    assert len(card_shift["frequencies"]) == 20
    for label in card_shift["frequencies"]:
        assert re.fullmatch(r"4\d{3}\*{8} \(16 chars\)", label), label
    assert report["redacted"] == 30 + 20
    for text in (as_json, table, page.read_text()):
        assert leaked(text) == []
    assert "looked like secrets" in table and "looked like secrets" in page.read_text()

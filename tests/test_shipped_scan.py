"""What ships is scanned: secrets that arrive through data (a CSV of transactions, a
key assembled at run time) never reach the golden fixtures, the OpenAPI example, the
reference profile or the verify reports; ``--redact-examples`` ships synthetic values
and the notebook's outputs for them, and verify still passes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from nb2svc.api import REFERENCE_PROFILE, BuildOptions, build
from nb2svc.errors import ContractError
from nb2svc.lint.secrets import is_card_number, scan_texts, synthetic
from nb2svc.shipped import check_report, scan_json
from nb2svc.verify.compare import Tolerance
from nb2svc.verify.model import ExampleResult, Outcome, Report
from tests.helpers import CellSpec, make_notebook, run_cli
from tests.service_support import serving

#: A Stripe-shaped live key, assembled here as the notebook assembles it.
KEY = "sk_" + "live_" + "".join(chr(ord("a") + (i * 7) % 26) for i in range(24))


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card_numbers(count: int) -> list[str]:
    """Luhn-valid Visa numbers; the first is the well-known test PAN."""
    rng = random.Random(7)
    cards = ["4111111111111111"]
    while len(cards) < count:
        body = "4" + "".join(str(rng.randrange(10)) for _ in range(14))
        cards.append(body + luhn_digit(body))
    return cards


CARDS = card_numbers(200)

NOTEBOOK: tuple[CellSpec, ...] = (
    ("code", "# nb2svc: imports\nimport pandas as pd"),
    (
        "code",
        "data = pd.read_csv('transactions.csv')\n"
        "KEY = 'sk_' + 'live_' + ''.join(chr(ord('a') + (i * 7) % 26) "
        "for i in range(24))\n"
        "data['token'] = KEY\n"
        "train, test = data.iloc[:150], data.iloc[150:]",
    ),
    (
        "code",
        "# nb2svc: predict\n"
        "def predict(df: pd.DataFrame) -> pd.DataFrame:\n"
        "    return pd.DataFrame({\n"
        "        'score': (df['amount'] / 1000).round(6),\n"
        "        'bucket': df['card_number'] % 97,\n"
        "        'merchant': df['merchant'],\n"
        "    })",
    ),
    ("code", "# nb2svc: example\nexamples = test.iloc[:3]"),
    ("code", "# nb2svc: reference\nreference = train"),
)


def fraud_notebook(folder: Path) -> Path:
    rng = random.Random(3)
    merchants = ["grocery", "travel", "fuel", "online"]
    lines = ["tx_id,card_number,merchant,amount"]
    for i, card in enumerate(CARDS):
        amount = round(rng.uniform(1, 900), 2)
        lines.append(f"tx-{i:05d},{card},{merchants[i % 4]},{amount}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transactions.csv").write_text("\n".join(lines) + "\n")
    return make_notebook(folder, NOTEBOOK, "fraud.ipynb")


def shipped_text(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


# --- the detectors on data -----------------------------------------------------------


def test_digits_of_a_printed_float_are_no_card_number() -> None:
    # 4010792443028479 passes the Luhn check, but here it is a float's digits.
    assert is_card_number("4010792443028479")
    assert scan_texts(["0.4010792443028479", "[0.4010792443028479, 2]"]) == [[], []]
    assert scan_texts(["4111111111111111.5"]) == [[]]
    assert scan_json({"p": 0.4010792443028479, "n": 12, "big": 4.5e15}) == []
    (hit,) = scan_json({"card": 4111111111111111})
    assert hit.path == ("card",) and hit.kinds == ("Payment Card Number",)


def test_synthetic_values_keep_the_shape_and_are_never_secrets() -> None:
    fake = synthetic("4111111111111111", "examples[0].input[0].card_number")
    assert len(fake) == 16 and fake.isdigit() and fake[0] == "4"
    assert not is_card_number(fake) and fake != "4111111111111111"
    assert fake == synthetic("4111111111111111", "examples[0].input[0].card_number")
    assert fake != synthetic("4111111111111111", "examples[1].input[0].card_number")
    spaced = synthetic("4111 1111 1111 1111", "x")
    assert [i for i, c in enumerate(spaced) if c == " "] == [4, 9, 14]
    key = synthetic(KEY, "examples[0].input[0].token")
    assert len(key) == len(KEY) and key[2] == "_" and key[7] == "_"
    assert scan_texts([key, fake]) == [[], []]


# --- build refuses, or redacts -----------------------------------------------------------


def test_build_refuses_card_numbers_and_keys_from_data(tmp_path: Path) -> None:
    notebook = fraud_notebook(tmp_path / "nb")
    out = tmp_path / "out"
    code, output = run_cli("build", notebook, "--out", out)
    assert code == 1, output
    text = " ".join(output.split())
    assert "NB1113" in text
    assert "examples[0].input[0].card_number holds a possible secret" in text
    assert "examples[0].input[0].token holds a possible secret" in text
    assert "reference profile: features.token category holds a possible secret" in text
    assert "--redact-examples" in text
    for card in CARDS:
        assert card not in output
    assert KEY not in output
    assert not out.exists()  # nothing written


@pytest.mark.slow
def test_redact_examples_ships_synthetic_values_and_verify_passes(
    tmp_path: Path,
) -> None:
    notebook = fraud_notebook(tmp_path / "nb")
    out = tmp_path / "out"
    code, output = run_cli(
        "build", notebook, "--out", out, "--redact-examples", "--verify"
    )
    assert code == 0, output

    golden = json.loads((out / "tests/golden/examples.json").read_text())
    redacted = golden["nb2svc"]["redacted"]
    assert {tuple(r["path"]) for r in redacted} == {(0, "card_number"), (0, "token")}
    for example in golden["examples"]:
        (row,) = example["input"]
        (answer,) = example["output"]
        card = row["card_number"]
        assert isinstance(card, int) and len(str(card)) == 16
        assert not is_card_number(str(card))
        assert str(card) not in CARDS
        assert len(row["token"]) == len(KEY) and row["token"] != KEY
        # The notebook's outputs were computed again, for the redacted inputs.
        assert answer["bucket"] == card % 97
    profile = json.loads((out / "src/fraud/artifacts" / REFERENCE_PROFILE).read_text())
    assert set(profile["features"]) == {"amount", "merchant"}
    unprofiled = profile["unprofiled"]["features"]
    assert unprofiled["card_number"]["kind"] == "identifier"
    assert unprofiled["tx_id"]["kind"] == "identifier"
    assert unprofiled["token"]["kind"] == "withheld"

    report = tmp_path / "report.html"
    json_report = tmp_path / "report.json"
    code, output = run_cli(
        "verify", notebook, "--out", out, "--html", report, "--report", json_report
    )
    assert code == 0, output
    files = {**shipped_text(out), "report.html": report.read_text()}
    files["report.json"] = json_report.read_text()
    assert "schemas.py" in " ".join(files)
    for name, text in files.items():
        for card in CARDS:
            assert card not in text, (name, card)
        assert KEY not in text, name

    # --check compares with the build as it was made: redacted, up to date.
    code, output = run_cli("build", notebook, "--out", out, "--check")
    assert code == 0, output
    # Deterministic: another build draws the same synthetic values.
    again = tmp_path / "again"
    code, output = run_cli("build", notebook, "--out", again, "--redact-examples")
    assert code == 0, output
    for rel in ("tests/golden/examples.json", "src/fraud/schemas.py"):
        assert (again / rel).read_bytes() == (out / rel).read_bytes()

    # The OpenAPI example the service shows at /docs, served for real.
    with serving(out, tmp_path / "service.log") as service:
        openapi = httpx.get(f"{service.url}/openapi.json", trust_env=False).text
    assert str(golden["examples"][0]["input"][0]["card_number"]) in openapi
    assert not any(card in openapi for card in CARDS) and KEY not in openapi


def test_the_verify_reports_are_not_written_with_a_secret(tmp_path: Path) -> None:
    example = ExampleResult(
        index=0,
        status="match",
        input=[{"card_number": 4111111111111111, "amount": 0.4010792443028479}],
        notebook={"score": 0.5},
        service={"score": 0.5},
        batch={"score": 0.5},
        latency_ms=1.0,
        max_abs_error=0.0,
        max_rel_error=0.0,
    )
    report = Report(
        "fraud.ipynb",
        "out",
        "fraud",
        Outcome.MATCH,
        Tolerance(),
        1,
        "built",
        (example,),
    )
    from nb2svc.verify.html import write_html
    from nb2svc.verify.report import write_report

    for write, name in ((write_html, "r.html"), (write_report, "r.json")):
        with pytest.raises(ContractError) as caught:
            write(report, tmp_path / name)
        (problem,) = caught.value.diagnostics
        assert problem.code == "NB1113"
        assert "examples[0].input[0].card_number" in problem.message
        assert "4111111111111111" not in problem.message
        assert not (tmp_path / name).exists()
    check_report(
        Report("f.ipynb", "out", "f", Outcome.MATCH, Tolerance(), 1, "built"), "HTML"
    )


def test_a_profile_keeps_identifiers_without_their_values(tmp_path: Path) -> None:
    cells: tuple[CellSpec, ...] = (
        ("code", "# nb2svc: imports\nimport math"),
        (
            "code",
            "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
            "    return {'y': x['a'] * 2}",
        ),
        ("code", "# nb2svc: example\nexample = {'a': 1.5, 'email': 'a@example.org'}"),
        (
            "code",
            "# nb2svc: reference\nreference = [\n"
            "    {'a': i / 7, 'email': f'user{i}@example.org', 'c': 'xy'[i % 2]}\n"
            "    for i in range(300)\n]",
        ),
    )
    notebook = make_notebook(tmp_path, cells)
    result = build(BuildOptions(notebook, tmp_path / "out"))
    profile = json.loads(result.files[f"src/nb/artifacts/{REFERENCE_PROFILE}"])
    assert "email" not in profile["features"]
    assert profile["unprofiled"]["features"]["email"] == {
        "kind": "identifier",
        "count": 300,
        "missing_rate": 0.0,
        "distinct": 300,
    }
    assert (
        b"user17@example.org"
        not in result.files[f"src/nb/artifacts/{REFERENCE_PROFILE}"]
    )
    assert any(
        d.code == "NB603" and "features.email" in d.message for d in result.diagnostics
    )


def test_a_printed_float_in_a_saved_output_is_no_card_number(tmp_path: Path) -> None:
    import nbformat

    from nb2svc.lint import lint_notebook

    notebook = make_notebook(tmp_path, (("code", "x = 0.4010792443028479\nx"),))
    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "execute_result", {"text/plain": "0.4010792443028479"}, execution_count=1
        )
    ]
    nbformat.write(nb, str(notebook))
    codes = [d.code for d in lint_notebook(notebook).diagnostics]
    assert "NB1103" not in codes and "NB1104" not in codes


@pytest.mark.parametrize(
    ("example", "predict", "field"),
    [
        (
            "example = {'card': '4111 1111 1111 1111', 'a': 1.5}",
            "def predict(x: dict) -> dict:\n"
            "    return {'groups': len(x['card'].split()), 'tail': x['card'][-2:]}",
            "examples[0].input.card",
        ),
        (
            "example = 'please refund card 4111111111111111 today'",
            "def predict(x: str) -> dict:\n"
            "    return {'words': len(x.split()), 'digits': sum(c.isdigit() for c in x)}",
            "examples[0].input",
        ),
    ],
)
def test_records_and_texts_are_redacted_and_recomputed(
    tmp_path: Path, example: str, predict: str, field: str
) -> None:
    cells: tuple[CellSpec, ...] = (
        ("code", "# nb2svc: imports\nimport math"),
        ("code", "# nb2svc: predict\n" + predict),
        ("code", "# nb2svc: example\n" + example + "  # pragma: allowlist secret"),
    )
    notebook = make_notebook(tmp_path, cells)
    with pytest.raises(ContractError) as caught:
        build(BuildOptions(notebook, tmp_path / "refused"))
    (problem,) = caught.value.diagnostics
    assert (
        problem.code == "NB1113"
        and f"{field} holds a possible secret" in problem.message
    )
    assert not (tmp_path / "refused").exists()

    result = build(BuildOptions(notebook, tmp_path / "out", redact_examples=True))
    golden = json.loads(result.files["tests/golden/examples.json"])
    ((given, output),) = [(e["input"], e["output"]) for e in golden["examples"]]
    text = given["card"] if isinstance(given, dict) else given
    assert "4111111111111111" not in text.replace(" ", "")
    if isinstance(given, dict):
        assert given["a"] == 1.5 and len(given["card"]) == 19
        assert output == {"groups": 4, "tail": given["card"][-2:]}
    else:
        assert text.startswith("please refund card 4") and text.endswith(" today")
        assert output == {"words": 5, "digits": 16}
        assert not is_card_number(text.split()[3])
    assert all(b"4111111111111111" not in content for content in result.files.values())

"""The network's classification codes as data: every code names a Luxembourg Guidelines term
with a definition and reference, coordinators' files extend and override the list, and
docs/classification.md is the list as shipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.classification import (
    CodeListInvalid,
    Decision,
    load_codes,
    render_markdown,
)
from tests.conftest import ROOT

GUIDELINE_TERMS = {
    "sexual exploitation of children in the context of travel and tourism",
    "child sexual abuse",
    "child sexual abuse material",
    "grooming / solicitation of children for sexual purposes",
    "child trafficking for sexual purposes",
    "exploitation of children in prostitution",
    "not within scope",
    "insufficient information",
}


def test_the_shipped_codes_carry_the_luxembourg_guidelines_terms_each_defined() -> None:
    codes = load_codes()
    assert {c.term for c in codes.classifications.values()} >= GUIDELINE_TERMS
    for code in codes.classifications.values():
        assert code.definition.endswith(".")
        assert code.reference.startswith(("Luxembourg Guidelines (2016), term: ", "Network code"))
        assert len(code.code) <= 40
    assert {d for r in codes.reasons.values() for d in r.applies_to} == {
        "close",
        "needs_information",
    }


def test_the_classification_document_is_the_shipped_list() -> None:
    document = (ROOT / "docs" / "classification.md").read_text(encoding="utf-8")
    table = document.split("<!-- classification-codes -->\n", 1)[1].split(
        "<!-- /classification-codes -->", 1
    )[0]
    assert table == render_markdown(load_codes()), (
        "run: python -m schemas.classification docs/classification.md"
    )
    for code in load_codes().classifications:
        assert f"`{code}`" in table


def test_a_coordinators_file_adds_codes_and_overrides_shipped_ones(tmp_path: Path) -> None:
    extra = tmp_path / "codes.toml"
    extra.write_text(
        'version = 1\n\n[[classification]]\ncode = "child_sexual_abuse"\nterm = "child sexual '
        'abuse"\ndefinition = "Overridden."\nreference = "x"\nretired = true\n\n[[reason]]\n'
        'code = "hotel_closed"\napplies_to = ["close"]\nterm = "t"\ndefinition = "d"\n',
        encoding="utf-8",
    )
    codes = load_codes(extra)
    assert codes.classifications["child_sexual_abuse"].retired
    assert codes.problems(Decision.close, "child_sexual_abuse", "hotel_closed") == [
        ("classification", "a retired code: choose a current one")
    ]
    assert codes.problems(Decision.close, "not_within_scope", "hotel_closed") == []
    assert len(codes.classifications) == len(load_codes().classifications)


@pytest.mark.parametrize(
    "text",
    [
        "version = 2\n",
        "not toml [",
        'version = 1\n[[classification]]\ncode = "Has Spaces"\nterm = "t"\ndefinition = "d"\n'
        'reference = "r"\n',
        'version = 1\n[[reason]]\ncode = "r"\napplies_to = ["forward"]\nterm = "t"\n'
        'definition = "d"\n',
    ],
)
def test_a_code_file_of_the_wrong_shape_is_refused_by_name(tmp_path: Path, text: str) -> None:
    extra = tmp_path / "codes.toml"
    extra.write_text(text, encoding="utf-8")
    with pytest.raises(CodeListInvalid, match=r"codes\.toml"):
        load_codes(extra)
    with pytest.raises(CodeListInvalid, match="cannot read"):
        load_codes(tmp_path / "missing.toml")

"""``entropic-laws --out`` an existing report: claims run again replace theirs, the others stay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entropic.laws.claims import CLAIMS
from entropic.laws.report import merged_records


def _record(name: str, verdict: str) -> dict:
    return {"name": name, "verdict": verdict, "seconds": 1.0}


def test_earlier_claims_are_kept_in_claim_order_and_rerun_ones_replaced(tmp_path: Path) -> None:
    first, second, third = (claim.name for claim in CLAIMS[:3])
    earlier = {"command": "entropic-laws --claims a", "quick": True,
               "claims": [_record(third, "holds"), _record(first, "does not hold")]}
    (tmp_path / "laws.json").write_text(json.dumps(earlier))
    records, command = merged_records([_record(first, "holds"), _record(second, "holds")], tmp_path,
                                      "entropic-laws --claims b", quick=True)
    assert [(r["name"], r["verdict"]) for r in records] == [(first, "holds"), (second, "holds"), (third, "holds")]
    assert command == "entropic-laws --claims a; entropic-laws --claims b"


def test_quick_and_full_results_are_not_mixed(tmp_path: Path) -> None:
    (tmp_path / "laws.json").write_text(json.dumps({"command": "x", "quick": False, "claims": []}))
    with pytest.raises(ValueError, match="holds full-mode results; quick-mode ones would be mixed"):
        merged_records([], tmp_path, "y", quick=True)
    assert merged_records([_record("a", "holds")], tmp_path / "new", "z", quick=True) == ([_record("a", "holds")], "z")

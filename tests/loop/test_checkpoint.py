"""Checkpoints: atomic files, the newest readable one wins, nothing but plain data is ever unpickled."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from entropic.checkpoint import list_checkpoints, load_latest_checkpoint, save_checkpoint


class Payload:
    """An arbitrary object: unpickling it would run code of the checkpoint's choosing."""


def test_the_newest_of_the_kept_checkpoints_is_loaded(tmp_path: Path) -> None:
    for step in (100, 200, 300):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.full((2,), float(step))})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000200.pt", "step_00000300.pt"]
    assert load_latest_checkpoint(tmp_path)["step"] == 300
    assert load_latest_checkpoint(tmp_path / "missing") is None


def test_a_corrupt_newest_checkpoint_falls_back_to_the_older_one(tmp_path: Path, caplog) -> None:
    save_checkpoint(tmp_path, 100, {"step": 100})
    newest = save_checkpoint(tmp_path, 200, {"step": 200})
    newest.write_bytes(newest.read_bytes()[:40])  # truncated by a full disk, say
    with caplog.at_level(logging.WARNING, logger="entropic.checkpoint"):
        assert load_latest_checkpoint(tmp_path)["step"] == 100
    assert "step_00000200.pt" in caplog.text


def test_a_checkpoint_holding_objects_is_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "step_00000100.pt"
    torch.save({"step": 100, "payload": Payload()}, path)
    with pytest.raises(ValueError, match=r"no checkpoint in .* can be read: .*step_00000100\.pt"):
        load_latest_checkpoint(tmp_path)

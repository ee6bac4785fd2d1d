"""The embedded text encoder's checksum, taken ahead on a second thread while torch imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.engine import encoder_files
from studio.engine.encoder_files import TextEncoderMissing, check_ahead, encoder_dir, verified


def test_checking_ahead_leaves_the_checked_folder_for_the_load():
    verified.cache_clear()
    check_ahead().join(timeout=60)
    hits = verified.cache_info().hits
    assert verified(encoder_dir()) == encoder_dir()
    assert verified.cache_info().hits == hits + 1, "the load found the folder already checked"


def test_a_wrong_file_is_left_for_the_load_to_report(tmp_path: Path, monkeypatch):
    (tmp_path / "model.safetensors").write_bytes(b"not the pinned weights")
    monkeypatch.setattr(encoder_files, "encoder_dir", lambda: tmp_path)
    verified.cache_clear()
    thread = check_ahead()
    thread.join(timeout=60)
    assert not thread.is_alive()
    with pytest.raises(TextEncoderMissing, match="does not match the pinned checksum"):
        verified(tmp_path)
    verified.cache_clear()

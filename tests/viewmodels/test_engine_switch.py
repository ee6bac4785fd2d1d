"""Switching engines: the session drops the old engine's jobs and sends the next to the new one;
the settings view-model remembers a served engine (URL in the settings, token in a private
file) and forgets it."""

from __future__ import annotations

import stat
from pathlib import Path

from studio.core import atomic
from studio.core.commands import Submit
from studio.core.engine_token_file import TOKEN_FILE, read_token, write_token
from studio.core.settings import load_settings
from studio.viewmodels.session import SessionViewModel
from studio.viewmodels.settings import SettingsViewModel
from tests.viewmodels.fake_engine import FakeEngine

TOKEN = "s3cret-token-0123456789"


def test_the_next_jobs_go_to_the_new_engine_and_the_old_ones_are_dropped(
    session: SessionViewModel, engine: FakeEngine, qtbot
) -> None:
    session.generate()
    assert session.busy and session.queue.pending
    other = FakeEngine()
    with qtbot.waitSignal(session.busyChanged) as blocker:
        session.use_engine(other)
    assert blocker.args == [False]
    assert not session.queue.pending and not session.last_error
    (job_id,) = session.generate()
    assert [c.job.job_id for c in other.sent if isinstance(c, Submit)] == [job_id]
    assert len(engine.jobs) == 1
    engine.pump(session.handle)
    assert session.busy, "the old engine's events are no longer this session's"
    other.pump(session.handle)
    assert not session.busy and session.teacher.image is not None


def test_a_remembered_engine_is_read_back_and_forgotten(qapp, tmp_path: Path) -> None:
    settings = SettingsViewModel(tmp_path / "cfg" / "settings.json")
    settings.load()
    assert settings.remembered_engine() == ("", "")
    assert settings.remember_engine("http://gpu-box:8000", TOKEN)
    token_file = tmp_path / "cfg" / TOKEN_FILE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert load_settings(settings.path)[0].engine_url == "http://gpu-box:8000"
    again = SettingsViewModel(settings.path)
    again.load()
    assert again.remembered_engine() == ("http://gpu-box:8000", TOKEN)
    assert again.remember_engine("", "")
    assert not token_file.exists() and load_settings(settings.path)[0].engine_url == ""


def test_the_token_is_not_read_without_a_remembered_url(qapp, tmp_path: Path) -> None:
    settings = SettingsViewModel(tmp_path / "settings.json")
    settings.load()
    write_token(settings.token_path, TOKEN)
    assert settings.remembered_engine() == ("", "")


def test_a_failed_token_write_is_one_error_and_keeps_the_old_token(
    qapp, tmp_path: Path, monkeypatch
) -> None:
    settings = SettingsViewModel(tmp_path / "settings.json")
    settings.load()
    settings.remember_engine("http://gpu-box:8000", TOKEN)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    errors: list[str] = []
    settings.error.connect(errors.append)
    assert not settings.remember_engine("http://other:8000", "another-token-0123456789")
    assert errors == [
        f"Could not save the engine token to {settings.token_path}: No space left on device."
    ]
    assert settings.remembered_engine() == ("http://gpu-box:8000", TOKEN)
    assert sorted(p.name for p in tmp_path.iterdir()) == [TOKEN_FILE, "settings.json"]


def test_an_unusable_token_file_reads_as_no_token(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE
    for raw in (b"\xff\xfe", b"two words", b"x" * 5000):
        path.write_bytes(raw)
        assert read_token(path) == ""
    assert read_token(tmp_path / "missing") == ""

"""The terminal progress of headless runs shows a lane's one-off preparation (a Gamma table)."""

from __future__ import annotations

from studio.core.events import PrepareProgress
from studio.core.jobs import Lane
from studio.headless import TerminalProgress


def event(done: int) -> PrepareProgress:
    return PrepareProgress(job_id="j", lane=Lane.teacher, task="estimating", done=done, total=2)


def test_preparation_fills_one_line_then_ends_it(capsys):
    progress = TerminalProgress(enabled=True)
    progress.prepare(event(1))
    progress.prepare(event(2))
    err = capsys.readouterr().err
    assert err == "\r teacher estimating 1/2\r teacher estimating 2/2\n"


def test_quiet_progress_prints_nothing(capsys):
    TerminalProgress(enabled=False).prepare(event(2))
    assert capsys.readouterr().err == ""

"""The terminal progress of headless runs shows a lane's one-off preparation (a Gamma table)."""

from __future__ import annotations

from studio.cli.headless import TerminalProgress
from studio.core.events import PrepareProgress
from studio.core.jobs import Lane


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


def test_a_download_fills_one_line_then_ends_it(capsys):
    from studio.core.events import DownloadProgress
    from studio.core.models import ModelRef, ModelSource

    def download(files: int) -> DownloadProgress:
        return DownloadProgress(
            job_id="j",
            lane=Lane.main,
            model=ModelRef(location="org/m", source=ModelSource.hub),
            bytes_done=files * 1_000_000,
            bytes_total=2_000_000,
            files_done=files,
            files_total=2,
        )

    progress = TerminalProgress(enabled=True)
    progress.download(download(1))
    progress.download(download(2))
    assert capsys.readouterr().err == (
        "\rDownloading m: 1.0 MB of 2.0 MB, 1/2 files   "
        "\rDownloading m: 2.0 MB of 2.0 MB, 2/2 files   \n"
    )

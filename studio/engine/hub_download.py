"""Hub models fetched before they load: progress reported, the job's cancel token obeyed.

`snapshot_download` takes a `tqdm_class` for its progress bars (a file count, bytes written,
bytes received); a silent bar class counts what they report, from the download threads, and
raises Cancelled at the next update once the job is cancelled (a partly downloaded file stays
in the cache as `.incomplete` and resumes next time). Offline (HF_HUB_OFFLINE) nothing is
fetched and the loader resolves the model from the local cache, as it always does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from studio.core.events import DownloadProgress
from studio.core.jobs import Lane
from studio.core.models import ModelRef, ModelSource
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.loading import HUB_ID, HUB_PATTERNS, ModelLoadError
from studio.engine.observer import EventSink

REPORT_INTERVAL_S = 0.1
NETWORK_BAR = "Downloading bytes"


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadStatus:
    """How far one model's download has got: bytes written of the total, files of the files."""

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int

    @property
    def finished(self) -> bool:
        return self.files_total > 0 and self.files_done >= self.files_total


Report = Callable[[DownloadStatus], None]


class DownloadTally:
    """Adds up the progress bars of one download (updated from several threads), reports at
    most every REPORT_INTERVAL_S, and stops the download when its job is cancelled."""

    def __init__(self, report: Report, token: CancelToken | None = None) -> None:
        self._report = report
        self._token = token
        self._lock = threading.Lock()
        self._bars: list[Any] = []
        self._last = 0.0

    def add(self, bar: Any) -> None:
        with self._lock:
            self._bars.append(bar)

    def advance(self, bar: Any, n: float) -> None:
        if self._token is not None and self._token.cancelled:
            raise Cancelled()
        with self._lock:
            bar.count += n
            status = self.status()
            now = time.monotonic()
            if now - self._last < REPORT_INTERVAL_S and not status.finished:
                return
            self._last = now
        self._report(status)

    def status(self) -> DownloadStatus:
        files = [b for b in self._bars if b.role == "files"]
        data = [b for b in self._bars if b.role == "bytes"]
        return DownloadStatus(
            bytes_done=int(sum(b.count for b in data)),
            bytes_total=int(sum(b.total or 0 for b in data)),
            files_done=int(sum(b.count for b in files)),
            files_total=int(sum(b.total or 0 for b in files)),
        )


def _role(kwargs: dict[str, Any]) -> str:
    if kwargs.get("unit") != "B":
        return "files"
    return "network" if str(kwargs.get("desc", "")).startswith(NETWORK_BAR) else "bytes"


def tally_bar_class(tally: DownloadTally) -> type[tqdm]:
    """A tqdm class that draws nothing and tells `tally` every update."""

    class TalliedBar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            self.role = _role(kwargs)
            self.count = float(kwargs.get("initial") or 0)
            super().__init__(*args, **{**kwargs, "disable": True})
            tally.add(self)

        def update(self, n: float | None = 1) -> bool | None:
            tally.advance(self, n or 0)
            return None

    return TalliedBar


def _download(repo_id: str, bar_class: type[tqdm], downloader: Callable[..., Any]) -> Path:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        return Path(downloader(repo_id, allow_patterns=HUB_PATTERNS, tqdm_class=bar_class))
    except GatedRepoError as exc:
        raise ModelLoadError(
            f"Model '{repo_id}' is gated: accept its licence on huggingface.co, log in with "
            "'hf auth login', and try again."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelLoadError(
            f"There is no model '{repo_id}' on the hub, or it is private: check the id."
        ) from exc
    except LocalEntryNotFoundError as exc:
        raise ModelLoadError(
            f"Model '{repo_id}' could not be downloaded (no connection to the hub?) and is not "
            "in the local cache: try again when online, or pick a local folder."
        ) from exc
    except OSError as exc:
        detail = (
            str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        )
        raise ModelLoadError(f"Model '{repo_id}' could not be downloaded: {detail}.") from exc


def default_downloader() -> Callable[..., Any]:
    from huggingface_hub import snapshot_download

    return snapshot_download


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def fetch_hub_model(
    ref: ModelRef,
    token: CancelToken | None,
    report: Report,
    downloader: Callable[..., Any] | None = None,
) -> Path | None:
    """Download (or bring up to date) a hub model's files into the local cache before it loads;
    None for other sources and when offline. Cancelled when `token` is cancelled meanwhile."""
    if ref.source is not ModelSource.hub or hub_offline():
        return None
    if not HUB_ID.match(ref.location) or ".." in ref.location:
        raise ModelLoadError(f"{ref.location!r} is not a hub model id: use the form org/name.")
    tally = DownloadTally(report, token)
    try:
        path = _download(ref.location, tally_bar_class(tally), downloader or default_downloader())
    finally:
        if token is not None and token.cancelled:
            raise Cancelled()
    report(tally.status())
    return path


def download_reporter(job_id: str, lane: Lane | None, ref: ModelRef, sink: EventSink) -> Report:
    """A report that tells `sink` how a lane's model download is going."""

    def report(status: DownloadStatus) -> None:
        sink.emit(
            DownloadProgress(
                job_id=job_id,
                lane=lane,
                model=ref,
                bytes_done=status.bytes_done,
                bytes_total=status.bytes_total,
                files_done=status.files_done,
                files_total=status.files_total,
            )
        )

    return report

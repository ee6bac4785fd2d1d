"""A student's adapter file fetched before it loads, like its base: progress, cancel, one file.

Only the adapter's own file is downloaded (and, for a full UNet that brings its own
architecture, the config.json beside it), never the rest of the repository: LoRA and UNet
repositories such as ByteDance/SDXL-Lightning hold many multi-gigabyte files. Offline, or for
a local adapter, nothing is fetched and the loader reads the cache or the folder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.core.models import ModelRef, ModelSource
from studio.core.student_refs import AdapterRef
from studio.engine import hub_download
from studio.engine.adapter_files import CONFIG_FILE
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.hub_download import DownloadTally, Report, tally_bar_class
from studio.engine.loading import ModelLoadError


def adapter_files(adapter: AdapterRef) -> list[str]:
    """The files a student's adapter needs from its repository."""
    if adapter.unet_config != "adapter":
        return [adapter.file]
    folder = adapter.file.rpartition("/")[0]
    return [adapter.file, f"{folder}/{CONFIG_FILE}" if folder else CONFIG_FILE]


def default_file_downloader() -> Callable[..., Any]:
    from huggingface_hub import hf_hub_download

    return hf_hub_download


def _download(adapter: AdapterRef, name: str, bar: type, downloader: Callable[..., Any]) -> None:
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    repo = adapter.location
    try:
        downloader(repo, name, tqdm_class=bar)
    except GatedRepoError as exc:
        raise ModelLoadError(
            f"'{repo}' is gated: accept its licence on huggingface.co, log in with "
            "'hf auth login', and try again."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelLoadError(
            f"There is no repository '{repo}' on the hub, or it is private."
        ) from exc
    except LocalEntryNotFoundError as exc:
        raise ModelLoadError(
            f"The adapter file {name} of '{repo}' could not be downloaded (no connection to the "
            "hub?) and is not in the local cache: try again when online."
        ) from exc
    except EntryNotFoundError as exc:
        raise ModelLoadError(f"'{repo}' has no file {name}: check the preset's adapter.") from exc


def fetch_adapter(
    ref: ModelRef,
    token: CancelToken | None,
    report: Report,
    downloader: Callable[..., Any] | None = None,
) -> bool:
    """Download the adapter files of a student from the hub into the local cache; False when
    there is nothing to fetch (no hub adapter, or offline)."""
    adapter = getattr(ref, "adapter", None)
    if adapter is None or adapter.source is not ModelSource.hub or hub_download.hub_offline():
        return False
    tally = DownloadTally(report, token)
    bar = tally_bar_class(tally)
    try:
        for name in adapter_files(adapter):
            _download(adapter, name, bar, downloader or default_file_downloader())
    finally:
        if token is not None and token.cancelled:
            raise Cancelled()
    report(tally.status())
    return True

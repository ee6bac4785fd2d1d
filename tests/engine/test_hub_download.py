"""Hub downloads: progress reported, cancel obeyed, offline left to the cache; no network used.

The downloader is tests/engine/fake_hub.FakeSnapshot, which drives the given tqdm class the way
snapshot_download does (through huggingface_hub's own bar and thread-map helpers).
"""

from __future__ import annotations

import threading

import httpx2
import pytest
from huggingface_hub import constants
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

from studio.core.events import DownloadProgress, LaneFinished, ModelLoaded
from studio.core.jobs import GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine import hub_download
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.hub_download import DownloadStatus, fetch_hub_model
from studio.engine.loading import ModelLoadError
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from tests.engine.fake_hub import FakeSnapshot
from tests.engine.test_runner import Collector

HUB_REF = ModelRef(location="org/tiny-sd", source=ModelSource.hub)


@pytest.fixture
def online(monkeypatch, tmp_path):
    """The hub looks reachable, with an empty cache in tmp_path."""
    monkeypatch.setattr(hub_download, "hub_offline", lambda: False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def sizes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def file_count(folder) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def test_progress_is_reported_up_to_the_whole_download(online, tiny_sd_folder):
    fake = FakeSnapshot(tiny_sd_folder, online)
    reports: list[DownloadStatus] = []
    path = fetch_hub_model(HUB_REF, CancelToken(), reports.append, fake)
    assert path == fake.snapshot_folder("org/tiny-sd")
    assert fake.calls[0]["allow_patterns"] == hub_download.HUB_PATTERNS
    total, files = sizes(tiny_sd_folder), file_count(tiny_sd_folder)
    assert reports[-1] == DownloadStatus(
        bytes_done=total, bytes_total=total, files_done=files, files_total=files
    )
    done = [r.bytes_done for r in reports]
    assert done == sorted(done) and len(reports) >= 2
    assert sizes(path) == total


def test_reports_are_throttled(online, tiny_sd_folder, monkeypatch):
    monkeypatch.setattr(hub_download, "REPORT_INTERVAL_S", 3600.0)
    reports: list[DownloadStatus] = []
    fetch_hub_model(HUB_REF, None, reports.append, FakeSnapshot(tiny_sd_folder, online))
    assert len(reports) <= 3
    assert reports[-1].bytes_done == sizes(tiny_sd_folder)


def test_cancel_stops_the_download_at_the_next_chunk(online, tiny_sd_folder):
    token = CancelToken()
    seen: list[int] = []

    def cancel_early(_path, done):
        seen.append(done)
        token.cancel()

    fake = FakeSnapshot(tiny_sd_folder, online, on_chunk=cancel_early)
    with pytest.raises(Cancelled):
        fetch_hub_model(HUB_REF, token, lambda _status: None, fake)
    assert len(fake.written) < file_count(tiny_sd_folder)
    assert not (fake.snapshot_folder("org/tiny-sd").parents[1] / "refs" / "main").exists()


def test_stop_and_keep_also_stops_a_download(online, tiny_sd_folder):
    token = CancelToken()
    fake = FakeSnapshot(tiny_sd_folder, online, on_chunk=lambda *_: token.cancel(True))
    with pytest.raises(Cancelled):
        fetch_hub_model(HUB_REF, token, lambda _status: None, fake)


def test_offline_nothing_is_fetched(tmp_path, tiny_sd_folder, monkeypatch):
    monkeypatch.setattr(hub_download, "hub_offline", lambda: True)
    fake = FakeSnapshot(tiny_sd_folder, tmp_path)
    assert fetch_hub_model(HUB_REF, None, lambda _status: None, fake) is None
    assert fake.calls == []


def test_other_sources_are_not_fetched(online, tiny_sd_folder):
    fake = FakeSnapshot(tiny_sd_folder, online)
    ref = ModelRef(location=str(tiny_sd_folder), source=ModelSource.folder)
    assert fetch_hub_model(ref, None, lambda _status: None, fake) is None
    assert fake.calls == []


def http_error(kind: type[Exception], status: int) -> Exception:
    response = httpx2.Response(status, request=httpx2.Request("GET", "https://hub.invalid/x"))
    return kind("refused", response=response)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            lambda: http_error(RepositoryNotFoundError, 404),
            "There is no model 'org/tiny-sd' on the hub, or it is private: check the id.",
        ),
        (
            lambda: http_error(GatedRepoError, 403),
            "Model 'org/tiny-sd' is gated: accept its licence on huggingface.co, log in with "
            "'hf auth login', and try again.",
        ),
        (
            lambda: LocalEntryNotFoundError("no connection"),
            "Model 'org/tiny-sd' could not be downloaded (no connection to the hub?) and is not "
            "in the local cache: try again when online, or pick a local folder.",
        ),
        (
            lambda: OSError("disk full"),
            "Model 'org/tiny-sd' could not be downloaded: disk full.",
        ),
    ],
)
def test_download_errors_are_one_sentence(online, error, message):
    def failing(*_args, **_kwargs):
        raise error()

    with pytest.raises(ModelLoadError) as caught:
        fetch_hub_model(HUB_REF, None, lambda _status: None, failing)
    assert str(caught.value) == message


def test_a_malformed_id_is_refused_before_any_download(online):
    ref = ModelRef(location="../etc", source=ModelSource.hub)
    with pytest.raises(ModelLoadError, match="is not a hub model id"):
        fetch_hub_model(ref, None, lambda _status: None, lambda *a, **k: pytest.fail("called"))


def generate_job(ref: ModelRef) -> GenerateJob:
    params = GenerationParams(
        prompt="a red cube", num_inference_steps=2, guidance_scale=2.0, width=32, height=32
    )
    return GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=0))


def test_the_runner_downloads_then_loads_from_the_cache(online, tiny_sd_folder, monkeypatch):
    fake = FakeSnapshot(tiny_sd_folder, online)
    monkeypatch.setattr(hub_download, "default_downloader", lambda: fake)
    sink = Collector()
    Runner(ModelCache(capacity=1)).run(generate_job(HUB_REF), CancelToken(), sink)
    downloads = sink.of(DownloadProgress)
    assert downloads and downloads[-1].bytes_done == downloads[-1].bytes_total > 0
    assert all(e.lane is Lane.main and e.model == HUB_REF for e in downloads)
    kinds = [type(e) for e in sink.events]
    assert kinds.index(ModelLoaded) > kinds.index(DownloadProgress)
    assert len(sink.of(LaneFinished)) == 1


def test_a_cached_model_is_not_fetched_again(online, tiny_sd_folder, monkeypatch):
    fake = FakeSnapshot(tiny_sd_folder, online)
    monkeypatch.setattr(hub_download, "default_downloader", lambda: fake)
    runner = Runner(ModelCache(capacity=1))
    for _ in range(2):
        runner.run(generate_job(HUB_REF), CancelToken(), Collector())
    assert len(fake.calls) == 1


def test_cancelling_the_job_stops_its_download(online, tiny_sd_folder, monkeypatch):
    token = CancelToken()
    started = threading.Event()

    def cancel_once(_path, _done):
        started.set()
        token.cancel()

    fake = FakeSnapshot(tiny_sd_folder, online, on_chunk=cancel_once)
    monkeypatch.setattr(hub_download, "default_downloader", lambda: fake)
    sink = Collector()
    with pytest.raises(Cancelled):
        Runner(ModelCache(capacity=1)).run(generate_job(HUB_REF), token, sink)
    assert started.is_set() and not sink.of(ModelLoaded)

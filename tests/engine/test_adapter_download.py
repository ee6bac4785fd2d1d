"""A student's adapter file downloads before it loads: one file, progress, cancel; no network."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from huggingface_hub import constants
from huggingface_hub.errors import EntryNotFoundError
from huggingface_hub.utils.tqdm import _create_progress_bar

from studio.core.events import DownloadProgress, LaneFinished, ModelLoaded
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.core.student_refs import AdapterKind, AdapterRef, StudentRef
from studio.engine import adapter_download, hub_download
from studio.engine.adapter_download import adapter_files, fetch_adapter
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.loading import ModelLoadError, load_pipeline
from studio.engine.model_cache import ModelCache
from studio.engine.pipeline_loader import PipelineLoader
from studio.engine.runner import Runner
from tests.engine.fake_hub import SHA
from tests.engine.test_runner import Collector
from tests.engine.tiny_families import save_tiny_lora

REPO = "org/tiny-lora"
CHUNK = 1024


class FakeFileDownload:
    """Stands in for hf_hub_download: copies one file of `source` into the cache layout,
    advancing a bytes bar of the given tqdm class chunk by chunk."""

    def __init__(self, source: Path, cache: Path, on_chunk=None) -> None:
        self.source, self.cache, self.on_chunk = source, cache, on_chunk
        self.asked: list[str] = []

    def __call__(self, repo_id: str, filename: str, **kwargs) -> str:
        self.asked.append(filename)
        origin = self.source / filename
        if not origin.is_file():
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        root = self.cache / f"models--{repo_id.replace('/', '--')}"
        target = root / "snapshots" / SHA / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        data = origin.read_bytes()
        bar = _create_progress_bar(
            cls=kwargs["tqdm_class"],
            log_level=logging.INFO,
            name="huggingface_hub.file_download",
            desc=filename,
            total=len(data),
            initial=0,
            unit="B",
        )
        with open(target, "wb") as out:
            for start in range(0, len(data), CHUNK):
                out.write(data[start : start + CHUNK])
                bar.update(len(data[start : start + CHUNK]))
                if self.on_chunk:
                    self.on_chunk()
        (root / "refs").mkdir(exist_ok=True)
        (root / "refs" / "main").write_text(SHA)
        return str(target)


@pytest.fixture
def online(monkeypatch, tmp_path):
    monkeypatch.setattr(hub_download, "hub_offline", lambda: False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture(scope="module")
def published(tmp_path_factory, tiny_sd_folder) -> Path:
    """The 'repository' as its publisher has it: a LoRA file and an unrelated big file."""
    root = tmp_path_factory.mktemp("repo")
    save_tiny_lora(
        load_pipeline(ModelRef(location=str(tiny_sd_folder))).pipe, root / "w.safetensors"
    )
    (root / "other-huge-file.safetensors").write_bytes(b"x" * 100_000)
    return root


def student(base: Path, **adapter) -> StudentRef:
    values = dict(kind=AdapterKind.lora, location=REPO, file="w.safetensors")
    return StudentRef(
        location=str(base),
        source=ModelSource.folder,
        label="hub student",
        adapter=AdapterRef(**{**values, **adapter}),
    )


def test_only_the_adapter_file_is_fetched_with_progress(online, published, tiny_sd_folder):
    fake = FakeFileDownload(published, online)
    reports = []
    assert fetch_adapter(student(tiny_sd_folder), CancelToken(), reports.append, fake)
    assert fake.asked == ["w.safetensors"]
    size = (published / "w.safetensors").stat().st_size
    assert reports[-1].bytes_done == reports[-1].bytes_total == size


def test_a_unet_with_its_own_config_also_fetches_the_config():
    adapter = AdapterRef(kind=AdapterKind.unet, location=REPO, file="unet/w.safetensors")
    assert adapter_files(adapter) == ["unet/w.safetensors"]
    with_config = AdapterRef(
        kind=AdapterKind.unet, location=REPO, file="unet/w.safetensors", unet_config="adapter"
    )
    assert adapter_files(with_config) == ["unet/w.safetensors", "unet/config.json"]


def test_the_runner_fetches_the_adapter_then_loads_it_from_the_cache(
    online, published, tiny_sd_folder, monkeypatch
):
    fake = FakeFileDownload(published, online)
    monkeypatch.setattr(adapter_download, "default_file_downloader", lambda: fake)
    ref = student(tiny_sd_folder)
    params = GenerationParams(prompt="a cube", num_inference_steps=2, width=32, height=32)
    job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=0))
    runner = Runner(ModelCache(capacity=2, loader=PipelineLoader()))
    sink = Collector()
    runner.run(job, CancelToken(), sink)
    kinds = [type(e) for e in sink.events]
    assert DownloadProgress in kinds and kinds.index(ModelLoaded) > kinds.index(DownloadProgress)
    assert len(sink.of(LaneFinished)) == 1
    runner.run(job, CancelToken(), Collector())
    assert fake.asked == ["w.safetensors"], "a loaded student is not fetched again"


def test_cancelling_stops_the_adapter_download(online, published, tiny_sd_folder):
    token = CancelToken()
    fake = FakeFileDownload(published, online, on_chunk=token.cancel)
    with pytest.raises(Cancelled):
        fetch_adapter(student(tiny_sd_folder), token, lambda status: None, fake)


def test_a_file_the_repository_lacks_is_one_sentence(online, published, tiny_sd_folder):
    fake = FakeFileDownload(published, online)
    with pytest.raises(ModelLoadError, match=r"'org/tiny-lora' has no file nope\.safetensors"):
        fetch_adapter(student(tiny_sd_folder, file="nope.safetensors"), None, print, fake)


def test_offline_or_local_adapters_fetch_nothing(published, tiny_sd_folder, tmp_path):
    fake = FakeFileDownload(published, tmp_path)
    assert not fetch_adapter(student(tiny_sd_folder), None, print, fake)
    local = student(tiny_sd_folder, location=str(published), source=ModelSource.folder)
    assert not fetch_adapter(local, None, print, fake)
    assert fake.asked == []

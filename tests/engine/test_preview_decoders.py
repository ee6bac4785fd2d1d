"""Preview decoders on a tiny SD pipeline: the family -> tiny-VAE table, a random-weights
AutoencoderTiny used when present (named folder or HF cache), the linear fallback with one
sentence when not, the download only on request, and the full-VAE path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderTiny
from huggingface_hub import constants

from studio.core.events import DownloadProgress, EngineStatus, PreviewReady
from studio.core.jobs import GenerateJob, LaneSpec, PreviewDecoder, PreviewOptions
from studio.engine import hub_download
from studio.engine.cancel import CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.preview_decoders import (
    TINY_VAE_REPOS,
    PreviewDecoders,
    find_in_cache,
    find_in_folder,
    tiny_repo,
)
from studio.engine.previews import decoded_previews
from studio.engine.runner import Runner
from tests.engine.fake_hub import SHA
from tests.engine.test_adapter_download import FakeFileDownload
from tests.engine.test_runner import Collector, sd_params


def tiny_autoencoder(latent_channels: int = 4, seed: int = 0) -> AutoencoderTiny:
    torch.manual_seed(seed)
    return AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=latent_channels,
    )


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """A folder the user names, holding a random-weights TAESD in `taesd/`."""
    root = tmp_path_factory.mktemp("tiny-vaes")
    tiny_autoencoder().save_pretrained(root / "taesd", safe_serialization=True)
    return root


@pytest.fixture(scope="module")
def sd_ref(tiny_sd_folder):
    from studio.core.models import ModelRef, ModelSource

    return ModelRef(location=str(tiny_sd_folder), source=ModelSource.folder)


def run(runner, ref, previews: PreviewOptions, steps: int = 2):
    sink = Collector()
    job = GenerateJob(
        lane=LaneSpec(model=ref, params=sd_params(num_inference_steps=steps)), previews=previews
    )
    runner.run(job, CancelToken(), sink)
    return sink


def linear_shape() -> tuple[int, int, int]:
    return (32, 32, 3)  # 64 px over the tiny VAE's factor 2


def test_the_family_table():
    assert TINY_VAE_REPOS == {
        "sd": "madebyollin/taesd",
        "sdxl": "madebyollin/taesdxl",
        "sd3": "madebyollin/taesd3",
        "flux": "madebyollin/taef1",
    }
    assert tiny_repo("emoji") is None and tiny_repo("unknown") is None


def test_a_named_folder_is_searched_by_repo_name_and_channels(tiny_root, tmp_path):
    assert find_in_folder(tiny_root, "sd") == (tiny_root / "taesd").resolve()
    assert find_in_folder(tiny_root / "taesd", "sd") == (tiny_root / "taesd").resolve()
    assert find_in_folder(tiny_root, "sdxl") is None  # no taesdxl/, and the root is no decoder
    assert find_in_folder(tiny_root / "taesd", "sd3") is None  # 4 latent channels, not 16
    assert find_in_folder(tmp_path / "missing", "sd") is None


def test_a_link_out_of_the_named_folder_is_not_followed(tiny_root, tmp_path):
    named = tmp_path / "named"
    named.mkdir()
    (named / "taesd").symlink_to(tiny_root / "taesd")
    assert find_in_folder(named, "sd") is None


def test_the_hf_cache_is_looked_up_locally(tiny_root, tmp_path):
    cache = tmp_path / "hub"
    assert find_in_cache("sd", cache) is None
    snapshot = cache / "models--madebyollin--taesd" / "snapshots" / SHA
    snapshot.mkdir(parents=True)
    for name in ("config.json", "diffusion_pytorch_model.safetensors"):
        (snapshot / name).write_bytes((tiny_root / "taesd" / name).read_bytes())
    (cache / "models--madebyollin--taesd" / "refs").mkdir()
    (cache / "models--madebyollin--taesd" / "refs" / "main").write_text(SHA)
    assert find_in_cache("sd", cache) == snapshot
    assert find_in_cache("sdxl", cache) is None


def test_a_tiny_decoder_that_is_present_makes_the_previews(sd_ref, tiny_root, tmp_path):
    decoders = PreviewDecoders(cache_dir=tmp_path / "empty-cache")
    runner = Runner(ModelCache(capacity=1), preview_decoders=decoders)
    tiny = PreviewOptions(decoder=PreviewDecoder.tiny, tiny_vae_dir=str(tiny_root))
    sink = run(runner, sd_ref, tiny)
    previews = sink.of(PreviewReady)
    assert [p.step for p in previews] == [1, 2]
    # the tiny decoder upsamples 32x32 latents 8 times: 256 px, where the linear map gives 32
    assert all(p.x_t.shape == (256, 256, 3) and p.x0 is not None for p in previews)
    assert not any("linear" in e.text for e in sink.of(EngineStatus))
    assert len(decoders) == 1
    linear = run(runner, sd_ref, PreviewOptions()).of(PreviewReady)
    assert linear[0].x_t.shape == linear_shape()

    # the preview is the tiny decoder's own output for those latents
    loaded, _ = runner.models.get(sd_ref, ())
    resolved = decoders.resolve(tiny, loaded, (64, 64))
    assert resolved.name == "tiny" and resolved.decode is not None
    latents = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    own = AutoencoderTiny.from_pretrained(str(tiny_root / "taesd")).eval()
    with torch.no_grad():
        expected = own.decode(latents).sample[0]
    want = ((expected.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    got, _ = decoded_previews(resolved.decode, latents, None)
    np.testing.assert_array_equal(got, want)


def test_a_missing_tiny_decoder_falls_back_to_linear_in_one_sentence(sd_ref, tmp_path):
    asked: list[str] = []

    def downloader(repo_id, filename, **kwargs):  # never called: nobody asked to download
        asked.append(filename)
        raise AssertionError("downloaded without being asked")

    decoders = PreviewDecoders(cache_dir=tmp_path / "empty-cache", downloader=downloader)
    runner = Runner(ModelCache(capacity=1), preview_decoders=decoders)
    sink = run(runner, sd_ref, PreviewOptions(decoder=PreviewDecoder.tiny))
    assert [p.x_t.shape for p in sink.of(PreviewReady)] == [linear_shape()] * 2
    notices = [e.text for e in sink.of(EngineStatus) if "Tiny-VAE" in e.text]
    assert notices == [
        "Tiny-VAE previews: madebyollin/taesd (SD 1/2) is not in the Hugging Face cache; "
        "previews use the linear map (download it from the preview options, or name its folder)."
    ]
    assert "\n" not in notices[0] and asked == [] and len(decoders) == 0


def test_the_download_happens_only_on_request_with_progress(
    sd_ref, tiny_root, tmp_path, monkeypatch
):
    monkeypatch.setattr(hub_download, "hub_offline", lambda: False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    fake = FakeFileDownload(tiny_root / "taesd", tmp_path / "hub")
    decoders = PreviewDecoders(cache_dir=tmp_path / "hub", downloader=fake)
    runner = Runner(ModelCache(capacity=1), preview_decoders=decoders)
    sink = run(runner, sd_ref, PreviewOptions(decoder=PreviewDecoder.tiny, download_tiny=True))
    assert fake.asked == ["config.json", "diffusion_pytorch_model.safetensors"]
    progress = sink.of(DownloadProgress)
    assert progress and all(p.model.location == "madebyollin/taesd" for p in progress)
    assert progress[-1].bytes_done == progress[-1].bytes_total > 0
    assert sink.of(PreviewReady)[0].x_t.shape == (256, 256, 3)
    assert find_in_cache("sd", tmp_path / "hub") is not None


def test_full_vae_previews_are_the_models_own_decode(sd_ref, tmp_path):
    decoders = PreviewDecoders(cache_dir=tmp_path / "empty-cache")
    runner = Runner(ModelCache(capacity=1), preview_decoders=decoders)
    sink = run(runner, sd_ref, PreviewOptions(decoder=PreviewDecoder.full))
    assert [p.x_t.shape for p in sink.of(PreviewReady)] == [(64, 64, 3)] * 2
    loaded, _ = runner.models.get(sd_ref, ())
    resolved = decoders.resolve(PreviewOptions(decoder=PreviewDecoder.full), loaded, (64, 64))
    latents = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(4))
    vae = loaded.pipe.vae
    with torch.no_grad():
        expected = vae.decode(latents / vae.config.scaling_factor).sample[0]
    assert resolved.decode is not None
    torch.testing.assert_close(resolved.decode(latents)[0], expected)


def test_tiny_decoders_are_kept_per_family_dtype_and_device_bounded(sd_ref, tiny_root, tmp_path):
    decoders = PreviewDecoders(capacity=1, cache_dir=tmp_path / "empty-cache")
    runner = Runner(ModelCache(capacity=1), preview_decoders=decoders)
    loaded, _ = runner.models.get(sd_ref, ())
    tiny = PreviewOptions(decoder=PreviewDecoder.tiny, tiny_vae_dir=str(tiny_root))
    decoders.resolve(tiny, loaded, (64, 64))
    first = next(iter(decoders._tiny.values()))
    decoders.resolve(tiny, loaded, (64, 64))
    assert len(decoders) == 1 and next(iter(decoders._tiny.values())) is first
    loaded.dtype = torch.float64
    try:
        resolved = decoders.resolve(tiny, loaded, (64, 64))
        assert len(decoders) == 1 and next(iter(decoders._tiny.values())) is not first
        assert next(iter(decoders._tiny.values())).dtype == torch.float64
        assert resolved.name == "tiny"
    finally:
        loaded.dtype = torch.float32

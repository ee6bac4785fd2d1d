"""Preview decoders for latent models: the linear latent->RGB map, the family's tiny VAE
(TAESD-family `AutoencoderTiny`, about 1 M parameters), or the model's own VAE.

A tiny decoder is found in a folder the user names (a subfolder named like its hub repository,
or the folder itself when its latent channels fit the family) or in the Hugging Face cache; it
is downloaded only when the job asks (`PreviewOptions.download_tiny`), through the hub path with
its progress and cancel. Safetensors only, never remote code. Anything missing falls back to the
linear map with one sentence saying why. Loaded decoders are kept per (family, dtype, device),
a few at most, with the engine.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.core.jobs import PreviewDecoder, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.engine import hub_download
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.hub_download import DownloadTally, Report, tally_bar_class
from studio.engine.loading import LoadedModel, ModelLoadError

TINY_VAE_REPOS: dict[str, str] = {
    "sd": "madebyollin/taesd",
    "sdxl": "madebyollin/taesdxl",
    "sd3": "madebyollin/taesd3",
    "flux": "madebyollin/taef1",
}
"""The tiny decoder of each model family (`LoadedModel.family`), by hub repository."""
LATENT_CHANNELS = {"sd": 4, "sdxl": 4, "sd3": 16, "flux": 16}
FAMILY_NAMES = {"sd": "SD 1/2", "sdxl": "SDXL", "sd3": "SD3", "flux": "FLUX"}
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"
TINY_FILES = (CONFIG_FILE, WEIGHTS_FILE)
MAX_TINY_DECODERS = 4

# (batch of model-space latents) -> (batch, 3, H, W) RGB in [-1, 1]
Decode = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True, slots=True)
class ResolvedDecoder:
    """What a lane's previews decode with: None for the linear map, and why it fell back."""

    decode: Decode | None
    name: str
    notice: str = ""


def tiny_repo(family: str) -> str | None:
    return TINY_VAE_REPOS.get(family)


def _is_tiny_folder(folder: Path, family: str) -> bool:
    if not all((folder / name).is_file() for name in TINY_FILES):
        return False
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(config, dict)
        and config.get("_class_name") in (None, "AutoencoderTiny")
        and config.get("latent_channels", 4) == LATENT_CHANNELS.get(family)
    )


def _inside(root: Path, path: Path) -> Path | None:
    """`path` resolved, if it stays inside `root` (a link out of the folder is not followed)."""
    try:
        real, top = path.resolve(strict=True), root.resolve(strict=True)
    except OSError:
        return None
    return real if real == top or real.is_relative_to(top) else None


def find_in_folder(folder: Path, family: str) -> Path | None:
    """The family's tiny decoder in a folder the user named: `folder/<repo name>` (taesd,
    taesdxl, …) first, then the folder itself when its config fits the family."""
    repo = tiny_repo(family)
    if repo is None or not folder.is_dir():
        return None
    for candidate in (folder / repo.rsplit("/", 1)[1], folder):
        inside = _inside(folder, candidate)
        if (
            inside is not None
            and inside.is_dir()
            and _is_tiny_folder(inside, family)
            and all(_inside(inside, inside / name) for name in TINY_FILES)
        ):
            return inside
    return None


def find_in_cache(family: str, cache_dir: str | Path | None = None) -> Path | None:
    """The family's tiny decoder's snapshot folder in the Hugging Face cache, if both its files
    are there (looked up locally, nothing fetched)."""
    from huggingface_hub import try_to_load_from_cache

    repo = tiny_repo(family)
    if repo is None:
        return None
    found = [try_to_load_from_cache(repo, name, cache_dir=cache_dir) for name in TINY_FILES]
    if not all(isinstance(path, str) for path in found):
        return None
    folder = Path(str(found[0])).parent
    if Path(str(found[1])).parent != folder or not _is_tiny_folder(folder, family):
        return None
    return folder


def default_file_downloader() -> Callable[..., Any]:
    from huggingface_hub import hf_hub_download

    return hf_hub_download


def fetch_tiny_vae(
    family: str,
    token: CancelToken | None,
    report: Report,
    downloader: Callable[..., Any] | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Download the family's tiny decoder (its config and safetensors weights, nothing else)
    into the Hugging Face cache, reporting progress and obeying `token`; its folder."""
    repo = tiny_repo(family)
    if repo is None:
        raise ModelLoadError(f"There is no tiny VAE for {family!r} models.")
    if hub_download.hub_offline():
        raise ModelLoadError(f"Cannot download {repo}: the hub is offline (HF_HUB_OFFLINE).")
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    tally = DownloadTally(report, token)
    bar = tally_bar_class(tally)
    get = downloader or default_file_downloader()
    paths: list[Path] = []
    try:
        for name in TINY_FILES:
            kwargs: dict[str, Any] = {"tqdm_class": bar}
            if cache_dir is not None:
                kwargs["cache_dir"] = cache_dir
            paths.append(Path(get(repo, name, **kwargs)))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        if token is not None and token.cancelled:
            raise Cancelled() from exc
        raise ModelLoadError(f"Cannot download {repo}: {type(exc).__name__}.") from exc
    finally:
        if token is not None and token.cancelled:
            raise Cancelled()
    report(tally.status())
    return paths[0].parent


def load_tiny_vae(folder: Path, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """A tiny decoder from its folder: safetensors only, no remote code."""
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny.from_pretrained(
        str(folder), use_safetensors=True, local_files_only=True, torch_dtype=dtype
    )
    return vae.to(device).eval().requires_grad_(False)


def _unpacked(loaded: LoadedModel, height: int, width: int) -> Callable[[torch.Tensor], Any]:
    """FLUX hands its callback packed (B, tokens, 64) latents: back to (B, 16, h, w)."""
    pipe = loaded.pipe
    unpack = getattr(pipe, "_unpack_latents", None)
    factor = getattr(pipe, "vae_scale_factor", 8)

    def shape(latents: torch.Tensor) -> torch.Tensor:
        if latents.ndim == 3 and unpack is not None:
            return unpack(latents, height, width, factor)
        return latents

    return shape


def vae_decode(vae: Any, shape: Callable[[torch.Tensor], torch.Tensor]) -> Decode:
    """Decode model-space latents with `vae`, undoing its scaling and shift as the pipelines do."""
    config = vae.config
    scale = float(getattr(config, "scaling_factor", 1.0) or 1.0)
    shift = float(getattr(config, "shift_factor", 0.0) or 0.0)

    @torch.no_grad()
    def decode(latents: torch.Tensor) -> torch.Tensor:
        x = shape(latents).to(device=vae.device, dtype=vae.dtype) / scale + shift
        return vae.decode(x, return_dict=False)[0].float()

    return decode


class PreviewDecoders:
    """The engine's tiny decoders, loaded once per (family, dtype, device), a few at most, and
    the choice of decoder for each lane's previews."""

    def __init__(
        self,
        capacity: int = MAX_TINY_DECODERS,
        cache_dir: str | Path | None = None,
        downloader: Callable[..., Any] | None = None,
    ) -> None:
        self.capacity = max(1, capacity)
        self.cache_dir = cache_dir
        self.downloader = downloader
        self._lock = threading.Lock()
        self._tiny: OrderedDict[tuple[str, str, str], torch.nn.Module] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tiny)

    def clear(self) -> None:
        with self._lock:
            self._tiny.clear()

    def resolve(
        self,
        previews: PreviewOptions,
        loaded: LoadedModel,
        size: tuple[int, int],
        token: CancelToken | None = None,
        report: Callable[[ModelRef], Report] | None = None,
    ) -> ResolvedDecoder:
        """The decoder `previews` asks for on `loaded` (height, width `size`), or the linear map
        and one sentence saying why."""
        choice = previews.decoder
        if choice is PreviewDecoder.linear or not previews.enabled:
            return ResolvedDecoder(None, "linear")
        shape = _unpacked(loaded, *size)
        if choice is PreviewDecoder.full:
            vae = getattr(loaded.pipe, "vae", None)
            if vae is None or not hasattr(vae, "decode"):
                return ResolvedDecoder(
                    None,
                    "linear",
                    "Full-VAE previews: this model has no VAE; previews use the linear map.",
                )
            return ResolvedDecoder(vae_decode(vae, shape), "full")
        return self._tiny_decoder(previews, loaded, shape, token, report)

    def _tiny_decoder(
        self,
        previews: PreviewOptions,
        loaded: LoadedModel,
        shape: Callable[[torch.Tensor], torch.Tensor],
        token: CancelToken | None,
        report: Callable[[ModelRef], Report] | None,
    ) -> ResolvedDecoder:
        family = loaded.family
        repo = tiny_repo(family)
        if repo is None:
            return ResolvedDecoder(
                None,
                "linear",
                f"Tiny-VAE previews: no tiny VAE for {family} models; previews use the linear map.",
            )
        key = (family, str(loaded.dtype), str(loaded.device))
        with self._lock:
            vae = self._tiny.get(key)
            if vae is not None:
                self._tiny.move_to_end(key)
        if vae is None:
            folder, why = self._locate(previews, family, repo, token, report)
            if folder is None:
                return ResolvedDecoder(None, "linear", why)
            try:
                vae = load_tiny_vae(folder, loaded.device, loaded.dtype)
            except (OSError, ValueError, RuntimeError) as exc:
                return ResolvedDecoder(
                    None,
                    "linear",
                    f"Tiny-VAE previews: {repo} in {folder} could not be "
                    f"loaded ({type(exc).__name__}); previews use the linear map.",
                )
            with self._lock:
                self._tiny[key] = vae
                while len(self._tiny) > self.capacity:
                    self._tiny.popitem(last=False)
        return ResolvedDecoder(vae_decode(vae, shape), "tiny")

    def _locate(
        self,
        previews: PreviewOptions,
        family: str,
        repo: str,
        token: CancelToken | None,
        report: Callable[[ModelRef], Report] | None,
    ) -> tuple[Path | None, str]:
        named = Path(previews.tiny_vae_dir).expanduser() if previews.tiny_vae_dir else None
        folder = find_in_folder(named, family) if named is not None else None
        folder = folder or find_in_cache(family, self.cache_dir)
        if folder is not None:
            return folder, ""
        where = f"{named} or the Hugging Face cache" if named else "the Hugging Face cache"
        name = FAMILY_NAMES.get(family, family)
        if not previews.download_tiny:
            return None, (
                f"Tiny-VAE previews: {repo} ({name}) is not in {where}; previews use the linear "
                "map (download it from the preview options, or name its folder)."
            )
        ref = ModelRef(location=repo, source=ModelSource.hub, label=repo)
        try:
            noop: Report = lambda _status: None  # noqa: E731
            folder = fetch_tiny_vae(
                family,
                token,
                report(ref) if report is not None else noop,
                self.downloader,
                self.cache_dir,
            )
        except ModelLoadError as exc:
            return None, f"Tiny-VAE previews: {exc} Previews use the linear map."
        if not _is_tiny_folder(folder, family):
            return None, (
                f"Tiny-VAE previews: {repo} downloaded incomplete; previews use the linear map."
            )
        return folder, ""

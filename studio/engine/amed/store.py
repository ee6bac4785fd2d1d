"""AMED predictors on disk (one small safetensors file per model and NFE) and the service that
gives a scheduler its predictor: kept in memory, cached on disk, else trained.

A file's key is a sha256 over the weights the loaded model really runs (as for the Gamma tables:
`analytic.store.model_fingerprint`), the scheduler entries that fix alpha-bar and the prediction
type, the NFE, the format and, for the AMED-Plugin, the variant (left out for AMED itself, so
its files made before the plugin stay valid). A missing, unreadable or foreign file is a miss:
the predictor is trained again and the file replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir
from safetensors import SafetensorError
from safetensors.torch import load, save

from studio.core.atomic import atomic_write_bytes
from studio.engine.amed.fit import FitOptions, FitResult, Progress, check_fittable, fit_predictor
from studio.engine.amed.plan import Variant
from studio.engine.amed.predictor import AmedPredictor
from studio.engine.amed.scheduler import AmedScheduler
from studio.engine.analytic.estimate import schedule_config
from studio.engine.analytic.sources import default_emoji_dataset
from studio.engine.analytic.store import model_fingerprint
from studio.engine.loading import LoadedModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: spare evaluation first, grid power 0.3
PLUGIN_FORMAT = 3  # 2: one learned interval, the last; 3: its grid power chosen per NFE


def default_cache_dir() -> Path:
    """`<user cache>/studio/amed`."""
    return Path(user_cache_dir("studio")) / "amed"


def predictor_key(
    fingerprint: str, scheduler_config: dict[str, Any], nfe: int, variant: Variant = Variant.solver
) -> str:
    fields: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "model": fingerprint,
        "schedule": schedule_config(scheduler_config),
        "nfe": nfe,
    }
    if variant is not Variant.solver:
        fields["variant"] = variant.value
        fields["variant_format"] = PLUGIN_FORMAT
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredPredictor:
    """A predictor with what its file says about how it was trained."""

    predictor: AmedPredictor
    info: dict[str, str]

    @property
    def grid_power(self) -> float | None:
        """The grid power the predictor was trained on, where its fit chose one."""
        value = self.info.get("grid_power")
        return None if value is None else float(value)


def save_predictor(path: Path, key: str, fit: FitResult, options: FitOptions) -> Path:
    info = {
        "key": key,
        "format": str(FORMAT_VERSION),
        "variant": fit.variant.value,
        "feature_dim": str(fit.predictor.feature_dim),
        "guidance": f"{fit.guidance:g}",
        "samples": str(options.samples),
        "substeps": str(options.substeps),
        "epochs": str(options.epochs),
        "loss_before": f"{fit.loss_before:.6g}",
        "loss_after": f"{fit.loss_after:.6g}",
        "mean_r": json.dumps([round(v, 4) for v in fit.mean_r]),
        "mean_c": json.dumps([round(v, 5) for v in fit.mean_c]),
    }
    if fit.grid_power is not None:
        info["grid_power"] = f"{fit.grid_power:g}"
        info["grid_losses"] = json.dumps({f"{p:g}": round(v, 6) for p, v in fit.power_losses})
    tensors = {k: v.detach().cpu().contiguous() for k, v in fit.predictor.state_dict().items()}
    return atomic_write_bytes(path, save(tensors, metadata=info))


def _read(path: Path, key: str) -> StoredPredictor:
    data = path.read_bytes()
    tensors = load(data)
    info = read_metadata(data)
    if info.get("format") != str(FORMAT_VERSION) or info.get("key") != key:
        raise ValueError("the file belongs to another model, NFE or format")
    if "grid_power" in info and not 0.0 < float(info["grid_power"]) <= 1.0:
        raise ValueError(f"its grid power {info['grid_power']} is outside (0, 1]")
    predictor = AmedPredictor(int(info["feature_dim"]))
    predictor.load_state_dict(tensors)
    return StoredPredictor(predictor.eval().requires_grad_(False), info)


def read_metadata(data: bytes) -> dict[str, str]:
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    return dict(header.get("__metadata__", {}))


def load_predictor(path: Path, key: str) -> StoredPredictor | None:
    """The cached predictor, or None when the file is missing or unusable (logged)."""
    if not path.is_file():
        return None
    try:
        return _read(path, key)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        log.warning("ignoring the AMED predictor cache %s: %s", path, exc)
        return None


def _ignore(task: str, done: int, total: int) -> None:
    return None


class AmedPredictors:
    """Gives each loaded model its AMED predictor per NFE: memory, disk cache, else training."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        options: FitOptions | None = None,
        dataset: Path | None = None,
    ) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        self.options = options or FitOptions()
        self.dataset = dataset or default_emoji_dataset()
        self._known: dict[str, StoredPredictor] = {}

    def key_for(self, loaded: LoadedModel, nfe: int, variant: Variant = Variant.solver) -> str:
        fingerprint = model_fingerprint(loaded.pipe)
        return predictor_key(fingerprint, loaded.base_scheduler_config, nfe, variant)

    def path_for(self, loaded: LoadedModel, nfe: int, variant: Variant = Variant.solver) -> Path:
        stem = "amed" if variant is Variant.solver else f"amed-{variant.value}"
        key = self.key_for(loaded, nfe, variant)
        return self.cache_dir / f"{stem}-{key[:32]}-nfe{nfe}.safetensors"

    def stored_for(
        self,
        loaded: LoadedModel,
        nfe: int,
        progress: Progress | None = None,
        force: bool = False,
        variant: Variant = Variant.solver,
    ) -> StoredPredictor:
        """The model's predictor of `variant` at `nfe`; trained (reporting `progress`) and
        cached when missing or forced."""
        check_fittable(loaded.pipe, loaded.ref.display_name)
        key = self.key_for(loaded, nfe, variant)
        path = self.path_for(loaded, nfe, variant)
        stored = None if force else self._known.get(key) or load_predictor(path, key)
        if stored is None:
            fit = fit_predictor(
                loaded.pipe,
                dict(loaded.base_scheduler_config),
                nfe,
                self.options,
                self.dataset,
                progress or _ignore,
                variant,
            )
            save_predictor(path, key, fit, self.options)
            stored = _read(path, key)
        self._known[key] = stored
        return stored

    def attach(self, scheduler: Any, loaded: LoadedModel, progress: Progress, nfe: int) -> None:
        """Give an AMED or AMED-Plugin scheduler its predictor for `nfe`; other schedulers are
        left alone."""
        if isinstance(scheduler, AmedScheduler):
            stored = self.stored_for(loaded, nfe, progress, variant=scheduler.variant)
            predictor = stored.predictor.to(loaded.pipe.unet.device)
            scheduler.use_predictor(nfe, predictor, stored.grid_power)

"""Finding and reading a student's adapter file: from the hub cache or a local folder, safely.

Hub files come from the local Hugging Face cache (one file, never the whole repository);
local files must lie inside their folder. Every file passes the content check of
`studio.core.weights_check` before torch reads it, and a pickle is read only when the user
allowed it for that one file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from studio.core.models import ModelSource
from studio.core.paths import resolve_inside
from studio.core.student_refs import AdapterRef
from studio.core.weights_check import WeightsError, describe_format, sniff_file
from studio.engine.loading import ModelLoadError
from studio.engine.weights import load_weights

CONFIG_FILE = "config.json"
PICKLE_OPT_IN = (
    "convert it to safetensors, or copy the preset into your user presets folder with"
    ' "allow_pickle": true in its adapter to allow this one file'
)


def _hub_file(repo: str, filename: str, local_only: bool) -> Path:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    offline = bool(constants.HF_HUB_OFFLINE)
    try:
        return Path(hf_hub_download(repo, filename, local_files_only=local_only or offline))
    except LocalEntryNotFoundError as exc:
        reason = "this machine is offline" if offline else "downloads are turned off"
        raise ModelLoadError(
            f"The adapter file {filename} of '{repo}' is not in the local cache and {reason}: "
            "download it once with a network connection, or use a local copy."
        ) from exc
    except EntryNotFoundError as exc:
        raise ModelLoadError(
            f"'{repo}' has no file {filename}: check the preset's adapter."
        ) from exc
    except OSError as exc:
        raise ModelLoadError(
            f"The adapter file {filename} of '{repo}' could not be downloaded: {exc}."
        ) from exc


def _folder_file(folder: str, relative: str) -> Path:
    root = Path(folder).expanduser()
    try:
        path = resolve_inside(root, relative)
    except ValueError as exc:
        raise ModelLoadError(f"The adapter file {relative} points outside {root}.") from exc
    if not path.is_file():
        raise ModelLoadError(f"The adapter file {relative} is not in {root}.")
    return path


def adapter_path(adapter: AdapterRef, *, local_only: bool, relative: str = "") -> Path:
    """The local path of the adapter's file (or of `relative`, a file beside it)."""
    name = relative or adapter.file
    if adapter.source is ModelSource.hub:
        return _hub_file(adapter.location, name, local_only)
    return _folder_file(adapter.location, name)


def read_adapter_weights(path: Path, adapter: AdapterRef, owner: str) -> dict[str, torch.Tensor]:
    """The tensors of an adapter file, after its content check; ModelLoadError says why not."""
    label = f"The adapter file {adapter.display_name} of {owner}"
    try:
        kind = sniff_file(path)
        if kind.is_pickle and not adapter.allow_pickle:
            raise ModelLoadError(
                f"{label} is {describe_format(kind)}, so the studio refuses it: {PICKLE_OPT_IN}."
            )
        return load_weights(path, allow_pickle=adapter.allow_pickle, name=label)
    except WeightsError as exc:
        raise ModelLoadError(str(exc)) from exc
    except OSError as exc:
        raise ModelLoadError(f"{label} could not be read: {exc.strerror or exc}.") from exc


def read_unet_config(adapter: AdapterRef, *, local_only: bool, expected: str) -> dict[str, Any]:
    """The config.json beside a full UNet file, checked to describe a `expected` model."""
    folder = adapter.file.rpartition("/")[0]
    relative = f"{folder}/{CONFIG_FILE}" if folder else CONFIG_FILE
    path = adapter_path(adapter, local_only=local_only, relative=relative)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(
            f"The UNet config {relative} of {adapter.location} is not valid JSON."
        ) from exc
    if not isinstance(config, dict) or config.get("_class_name") != expected:
        raise ModelLoadError(
            f"The UNet config {relative} of {adapter.location} does not describe a {expected}."
        )
    return config

"""Safe loading: weights told by content, damaged files and remote code refused before diffusers.

Each refusal is checked to happen before diffusers is asked to load anything, and the one
opt-in (pickle for a single file) to go through torch.load(weights_only=True) only.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import DiffusionPipeline

from studio.cli import main
from studio.core.models import ModelRef, ModelSource
from studio.core.weights_check import WeightsError
from studio.engine import loading
from studio.engine.loading import ModelLoadError, load_pipeline
from studio.engine.weights import load_weights

UNET_WEIGHTS = Path("unet") / "diffusion_pytorch_model.safetensors"


class RunsCode:
    """A pickle payload that would create `marker` if it were ever unpickled unsafely."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def diffusers_calls(monkeypatch) -> list[Path]:
    """Every folder handed to diffusers (the real load still runs)."""
    calls: list[Path] = []
    real = loading._from_pretrained

    def spy(folder: loading.ModelFolder, dtype: torch.dtype) -> Any:
        calls.append(folder.path)
        return real(folder, dtype)

    monkeypatch.setattr(loading, "_from_pretrained", spy)
    return calls


def sd_copy(tiny_sd_folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_sd_folder, tmp_path / "tiny-sd"))


def refused(ref: ModelRef, calls: list[Path]) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load_pipeline(ref)
    assert calls == [], "diffusers was asked to load a refused model"
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message
    return message


def folder_ref(folder: Path) -> ModelRef:
    return ModelRef(location=str(folder), source=ModelSource.folder)


def file_ref(path: Path, allow_pickle: bool = False) -> ModelRef:
    return ModelRef(location=str(path), source=ModelSource.file, allow_pickle=allow_pickle)


def rewrite_header(path: Path, edit) -> None:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    edit(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + length :])


def test_tiny_sd_folder_still_loads_without_remote_code(tiny_sd_folder, monkeypatch):
    seen: dict[str, Any] = {}
    real = DiffusionPipeline.from_pretrained.__func__  # type: ignore[attr-defined]

    def spy(cls: type, path: Path, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(cls, path, **kwargs)

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", classmethod(spy))
    loaded = load_pipeline(folder_ref(tiny_sd_folder))
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert seen["trust_remote_code"] is False and seen["custom_pipeline"] is None
    assert seen["use_safetensors"] is True and seen["local_files_only"] is True


def test_pickle_renamed_to_safetensors_is_refused_in_a_folder(
    tiny_sd_folder, tmp_path, diffusers_calls
):
    folder = sd_copy(tiny_sd_folder, tmp_path)
    torch.save({"w": torch.zeros(2)}, folder / UNET_WEIGHTS)
    message = refused(folder_ref(folder), diffusers_calls)
    assert message == (
        "diffusion_pytorch_model.safetensors in tiny-sd's unet is named .safetensors but is a "
        "PyTorch zip checkpoint, a pickle format that can run code when loaded, so the studio "
        "refuses it."
    )


def test_pickle_renamed_to_safetensors_is_refused_as_a_file(tmp_path, diffusers_calls):
    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    message = refused(file_ref(path), diffusers_calls)
    assert message.startswith("model.safetensors is a pickle format that can run code")
    assert message.endswith("allow pickle for this one file (--allow-pickle).")


def test_truncated_safetensors_is_refused(tiny_sd_folder, tmp_path, diffusers_calls):
    folder = sd_copy(tiny_sd_folder, tmp_path)
    weights = folder / UNET_WEIGHTS
    raw = weights.read_bytes()
    weights.write_bytes(raw[: len(raw) // 2])
    message = refused(folder_ref(folder), diffusers_calls)
    assert message.startswith(
        "diffusion_pytorch_model.safetensors in tiny-sd's unet is a damaged safetensors file: "
    )
    assert "lies outside the file" in message and "truncated?" in message


def out_of_range(header: dict[str, Any]) -> None:
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"][1] = 10**15


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (out_of_range, "lies outside the file"),
        (
            lambda h: h.update(extra={"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}),
            "overlaps",
        ),
        (lambda h: h.update(extra={"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}), "F99"),
    ],
)
def test_corrupt_header_is_refused(tiny_sd_folder, tmp_path, diffusers_calls, edit, reason):
    folder = sd_copy(tiny_sd_folder, tmp_path)
    rewrite_header(folder / UNET_WEIGHTS, edit)
    message = refused(folder_ref(folder), diffusers_calls)
    assert "is a damaged safetensors file" in message and reason in message


def test_bit_flipped_header_is_refused(tiny_sd_folder, tmp_path, diffusers_calls):
    folder = sd_copy(tiny_sd_folder, tmp_path)
    weights = folder / UNET_WEIGHTS
    raw = bytearray(weights.read_bytes())
    raw[8] ^= 0x01
    weights.write_bytes(bytes(raw))
    assert "is named .safetensors but is in no weights format" in refused(
        folder_ref(folder), diffusers_calls
    )
    raw[8] ^= 0x01
    raw[12] = ord("}")
    weights.write_bytes(bytes(raw))
    assert "is a damaged safetensors file" in refused(folder_ref(folder), diffusers_calls)


def edit_index(folder: Path, **changes: object) -> None:
    index_file = folder / "model_index.json"
    index_file.write_text(json.dumps({**json.loads(index_file.read_text()), **changes}))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"unet": ["evil_pkg", "Evil"]}, "asks for its unet from 'evil_pkg'"),
        ({"unet": ["diffusers", "os.system"]}, "'os.system', which is not a plain class name"),
        ({"../unet": ["diffusers", "UNet2DConditionModel"]}, "is not a plain name"),
        ({"_class_name": ["my_pipeline", "MyPipeline"]}, "asks for a custom pipeline"),
    ],
)
def test_model_index_asking_for_other_code_is_refused(
    tiny_sd_folder, tmp_path, diffusers_calls, changes, expected
):
    folder = sd_copy(tiny_sd_folder, tmp_path)
    (folder / "my_pipeline.py").write_text("raise SystemExit('ran')\n")
    edit_index(folder, **changes)
    assert expected in refused(folder_ref(folder), diffusers_calls)


def test_custom_pipeline_file_alone_is_refused(tiny_sd_folder, tmp_path, diffusers_calls):
    folder = sd_copy(tiny_sd_folder, tmp_path)
    (folder / "pipeline.py").write_text("raise SystemExit('ran')\n")
    assert "ships Python code (pipeline.py)" in refused(folder_ref(folder), diffusers_calls)


def test_component_folder_escaping_the_model_folder_is_refused(
    tiny_sd_folder, tmp_path, diffusers_calls
):
    folder = sd_copy(tiny_sd_folder, tmp_path)
    outside = Path(shutil.move(folder / "unet", tmp_path / "elsewhere"))
    (folder / "unet").symlink_to(outside, target_is_directory=True)
    message = refused(folder_ref(folder), diffusers_calls)
    assert message == (
        "tiny-sd's component unet points outside the model folder, so the studio refuses it."
    )


def test_shard_index_naming_a_file_elsewhere_is_refused(tiny_sd_folder, tmp_path, diffusers_calls):
    folder = sd_copy(tiny_sd_folder, tmp_path)
    index = {"weight_map": {"conv_in.weight": "../../secret.safetensors"}}
    (folder / "unet" / "diffusion_pytorch_model.safetensors.index.json").write_text(
        json.dumps(index)
    )
    assert "names the shard '../../secret.safetensors'" in refused(
        folder_ref(folder), diffusers_calls
    )


@pytest.mark.parametrize("zipped", [True, False])
def test_opt_in_reads_a_tiny_pickle_with_weights_only(tmp_path, monkeypatch, zipped):
    path = tmp_path / "tiny.bin"
    torch.save({"w": torch.arange(3.0)}, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(WeightsError, match=r"tiny\.bin is .*pickle"):
        load_weights(path)
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    tensors = load_weights(path, allow_pickle=True)
    assert torch.equal(tensors["w"], torch.arange(3.0))
    assert [c["weights_only"] for c in calls] == [True]


def test_opt_in_unwraps_a_checkpoint_state_dict(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "global_step": 7}, path)
    assert list(load_weights(path, allow_pickle=True)) == ["w"]


@pytest.mark.parametrize("zipped", [True, False])
def test_malicious_pickle_still_fails_with_the_opt_in(tmp_path, zipped):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.safetensors"
    if zipped:
        torch.save({"w": RunsCode(marker)}, path)
    else:
        path.write_bytes(pickle.dumps({"w": RunsCode(marker)}, protocol=2))
    with pytest.raises(WeightsError) as caught:
        load_weights(path, allow_pickle=True)
    assert str(caught.value) == (
        "evil.safetensors holds more than tensors (posix.system), so it is refused even with "
        "pickle allowed."
    )
    assert not marker.exists()


def test_file_ref_with_the_opt_in(tmp_path, diffusers_calls):
    good, evil = tmp_path / "tiny.bin", tmp_path / "evil.ckpt"
    torch.save({"w": torch.zeros(2)}, good)
    torch.save({"w": RunsCode(tmp_path / "ran")}, evil)
    assert refused(file_ref(good, allow_pickle=True), diffusers_calls).startswith(
        "tiny.bin holds no model the studio recognises"
    )
    assert "holds more than tensors" in refused(file_ref(evil, True), diffusers_calls)
    assert not (tmp_path / "ran").exists()


def test_the_opt_in_names_one_file_not_a_folder(tiny_sd_folder, diffusers_calls):
    ref = ModelRef(location=str(tiny_sd_folder), allow_pickle=True)
    assert refused(ref, diffusers_calls) == (
        "Pickle weights can be allowed for a single weights file only, and tiny-sd is not one."
    )


def test_cli_allow_pickle_reaches_the_loader(tmp_path, capsys):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.bin"
    torch.save({"w": RunsCode(marker)}, path)
    argv = ["generate", "--model", str(path), "--quiet", "--out", str(tmp_path / "x.png")]
    assert main(argv) == 1
    assert "evil.bin is a PyTorch zip checkpoint" in capsys.readouterr().err
    assert main([*argv, "--allow-pickle"]) == 1
    assert "evil.bin holds more than tensors (posix.system)" in capsys.readouterr().err
    assert not marker.exists()

"""LoRA students from the models folder: their names, the family a LoRA file was made for (from
its header), whether it fits a teacher, and the student reference it becomes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from studio.core.lora_students import (
    families_fit,
    family_mismatch,
    lora_base_family,
    lora_student_name,
    lora_student_ref,
    split_lora_student,
)
from studio.core.model_library import model_name, scan_models_folder
from studio.core.models import ModelRef, ModelSource
from studio.core.student_refs import AdapterKind, StudentRef

KOHYA_SD1 = "lora_unet_input_blocks_1_1_transformer_blocks_0_attn2_to_k"
PEFT_XL = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"


def lora_file(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    """A sound safetensors file of zeros (fp16) with these tensors."""
    header: dict[str, object] = {}
    offset = 0
    for key, shape in shapes.items():
        size = 2
        for n in shape:
            size *= n
        span = [offset, offset + size]
        header[key] = {"dtype": "F16", "shape": list(shape), "data_offsets": span}
        offset += size
    text = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(offset))
    return path


def kohya(width: int, rank: int = 4) -> dict[str, tuple[int, ...]]:
    return {
        f"{KOHYA_SD1}.lora_down.weight": (rank, width),
        f"{KOHYA_SD1}.lora_up.weight": (320, rank),
        f"{KOHYA_SD1}.alpha": (),
    }


@pytest.mark.parametrize(
    "shapes,family",
    [
        (kohya(768), "SD 1.x"),
        (kohya(1024), "SD 2.x"),
        ({f"{PEFT_XL}.lora_A.weight": (8, 2048), f"{PEFT_XL}.lora_B.weight": (640, 8)}, "SDXL"),
        ({"unet.x.attn2.processor.to_k_lora.down.weight": (4, 768)}, "SD 1.x"),
        ({"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 1280)}, "SDXL"),
        ({"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": (16, 3072)}, "FLUX"),
        ({"transformer.single_transformer_blocks.0.attn.to_k.lora_A.weight": (4, 3072)}, "FLUX"),
        ({"lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight": (4, 1536)}, "SD3"),
        ({f"{PEFT_XL}.lora_A.weight": (2, 32)}, ""),
        ({"lora_unet_down.lora_up.weight": (4,)}, ""),
    ],
)
def test_the_family_a_lora_was_made_for_comes_from_its_shapes(shapes, family):
    assert lora_base_family(shapes) == family


def test_a_scanned_lora_says_its_family(tmp_path):
    lora_file(tmp_path / "Lora" / "sd15-style.safetensors", kohya(768))
    lora_file(tmp_path / "Lora" / "tiny.safetensors", {f"{PEFT_XL}.lora_A.weight": (2, 32)})
    entries = {e.name: e for e in scan_models_folder(tmp_path)}
    known = entries["Lora/sd15-style.safetensors"]
    assert (known.is_lora, known.base_family, known.loadable) == (True, "SD 1.x", False)
    assert known.note == (
        "A LoRA adapter for SD 1.x: use it as the student adapter on a teacher of its family."
    )
    assert entries["Lora/tiny.safetensors"].base_family == ""


@pytest.mark.parametrize(
    "lora,teacher,fits",
    [
        ("SD 1.x", "SD 1.x", True),
        ("SD 1.x", "SD 1.x/2.x", True),
        ("SD 2.x", "SD 1.x/2.x", True),
        ("SDXL", "SD 1.x/2.x", False),
        ("SDXL", "SD 1.x", False),
        ("SD 1.x", "Emoji", False),
        ("", "SDXL", True),
        ("FLUX", "unknown", True),
        ("FLUX", "", True),
    ],
)
def test_families_fit(lora, teacher, fits):
    assert families_fit(lora, teacher) is fits


def test_a_mismatch_is_one_sentence_saying_what_to_do():
    assert family_mismatch("a.safetensors", "SD 1.x", "t", "SD 1.x") == ""
    assert family_mismatch("Lora/xl.safetensors", "SDXL", "dreamshaper.safetensors", "SD 1.x") == (
        "The LoRA Lora/xl.safetensors was made for SDXL models, but the teacher "
        "dreamshaper.safetensors is an SD 1.x model: choose an SDXL teacher first, then use the "
        "LoRA as the student adapter again."
    )
    flux = family_mismatch("a", "SD 1.x", "f", "FLUX")
    assert "is a FLUX model: choose an SD 1.x teacher" in flux


def test_names_carry_the_teacher_and_the_lora():
    teacher = model_name("/m/v2.safetensors", "sd21-base")
    name = lora_student_name(teacher, "/m/Lora/a.safetensors")
    assert name == "/m/v2.safetensors#config=sd21-base#lora=/m/Lora/a.safetensors"
    assert split_lora_student(name) == (teacher, "/m/Lora/a.safetensors")
    for plain in ("/m/v2.safetensors", "emoji-teacher", "preset:X", "#lora=/a", "/m/t#lora="):
        assert split_lora_student(plain) is None


def test_the_reference_is_the_teacher_with_a_local_lora(tmp_path):
    base = ModelRef(
        location="/m/dream.ckpt",
        source=ModelSource.file,
        label="shown",
        allow_pickle=True,
        config="sd15",
    )
    ref = lora_student_ref(base, tmp_path / "Lora" / "a.safetensors")
    assert isinstance(ref, StudentRef) and ref.adapter is not None
    assert (ref.location, ref.source, ref.allow_pickle, ref.config, ref.label) == (
        "/m/dream.ckpt",
        ModelSource.file,
        True,
        "sd15",
        "",
    )
    adapter = ref.adapter
    assert (adapter.kind, adapter.source, adapter.location, adapter.file) == (
        AdapterKind.lora,
        ModelSource.folder,
        str(tmp_path / "Lora"),
        "a.safetensors",
    )
    assert not adapter.allow_pickle
    assert ref.display_name == "dream.ckpt + a.safetensors"

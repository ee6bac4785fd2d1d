import json
from pathlib import Path

from studio.core.manifest import MANIFEST, AdapterManifest
from studio.lab.cards import Compute, compute_from_log, measured_section, write_card
from studio.lab.export import TRAINING_RECORD


def test_compute_sums_sessions(tmp_path: Path):
    log = tmp_path / "loss.csv"
    log.write_text("step,loss,lr,session_seconds\n50,1,1,1800\n100,1,1,3600\n150,1,1,1800\n")
    assert compute_from_log(log) == Compute(150, 1.5)
    assert compute_from_log(tmp_path / "missing.csv") == Compute(0, 0.0)


def test_teacher_card_reads_the_training_record(tmp_path: Path):
    (tmp_path / TRAINING_RECORD).write_text(json.dumps({"step": 12000, "hours": 4.25}))
    measured = measured_section("| model | x |", "studio eval --cards", 396)
    card = write_card(tmp_path, "interim", measured).read_text()
    assert card.startswith("# emoji-teacher")
    assert "**Status:** interim" in card
    assert "12,000" in card and "4.2 h" in card
    assert "- Device: CPU only (x86_64), bf16 autocast; thread count not recorded" in card
    assert "`studio eval --cards`" in card and "396 prompts" in card and "| model | x |" in card


def test_student_card_reads_the_manifest(tmp_path: Path):
    folder = tmp_path / "emoji-student-2step"
    folder.mkdir()
    manifest = AdapterManifest(
        base="emoji-teacher",
        lora="lora.safetensors",
        method="progressive distillation",
        guidance_distilled=True,
        num_inference_steps=2,
    )
    (folder / MANIFEST).write_text(json.dumps(manifest.to_json()))
    record = {"step": 4000, "hours": 2.0, "rank": 32, "device": "CUDA: NVIDIA H100"}
    (folder / TRAINING_RECORD).write_text(json.dumps(record))
    card = write_card(folder, "final", "numbers").read_text()
    assert "- Device: CUDA: NVIDIA H100\n" in card
    assert card.startswith("# emoji-student-2step")
    assert "progressive distillation" in card and "2 steps" in card and "rank 32" in card
    assert "4,000" in card and "numbers" in card


def test_a_chained_students_card_tells_its_run_from_the_chain(tmp_path: Path):
    folder = tmp_path / "emoji-student-1step"
    folder.mkdir()
    manifest = AdapterManifest(
        base="emoji-teacher", lora="l.safetensors", guidance_distilled=True, num_inference_steps=1
    )
    (folder / MANIFEST).write_text(json.dumps(manifest.to_json()))
    record = {"step": 5000, "hours": 2.24, "run_step": 1500, "run_hours": 0.53}
    (folder / TRAINING_RECORD).write_text(json.dumps({**record, "from": "emoji-student-2step"}))
    card = write_card(folder, "final", "numbers").read_text()
    assert "- This run, from `emoji-student-2step`: 1,500 optimiser steps, 0.5 wall-clock" in card
    assert "- The whole chain from the teacher: 5,000 optimiser steps, 2.2 wall-clock hours" in card
    assert "not CPU-hours" in card and "Optimiser steps: 5,000" not in card


def test_the_device_line_names_the_precision_the_run_used():
    from studio.lab.cards import device_line

    assert device_line(False).endswith(", float32") or device_line(False).startswith("CUDA")
    assert device_line(True).endswith(", bf16 autocast") or device_line(True).startswith("CUDA")


def test_shortcut_card_says_what_the_model_is(tmp_path: Path):
    folder = tmp_path / "emoji-shortcut"
    folder.mkdir()
    record = {"step": 6000, "hours": 3.5, "method": "shortcut model"}
    (folder / TRAINING_RECORD).write_text(json.dumps(record))
    card = write_card(folder, "interim", "numbers").read_text()
    assert card.startswith("# emoji-shortcut") and "shortcut model (Frans" in card
    assert "1, 2, 4, 8, 16, 32, 64, 128 steps" in card and "6,000" in card
    assert "(classifier-free guidance, scale\n3, folded in)" in card, "unrecorded: the default"
    chain = {"guidance": 4.5, "guidance_chain": "3 to step 21,500, then 4.5"}
    (folder / TRAINING_RECORD).write_text(json.dumps({**record, **chain}))
    card = write_card(folder, "interim", "numbers").read_text()
    assert "scale\n3 to step 21,500, then 4.5, folded in" in card


def test_sid_card_lists_the_options_of_the_training_record(tmp_path: Path):
    folder = tmp_path / "emoji-student-sid"
    folder.mkdir()
    manifest = AdapterManifest(
        base="emoji-teacher",
        lora="lora.safetensors",
        method="score identity distillation",
        guidance_distilled=True,
        num_inference_steps=1,
    )
    (folder / MANIFEST).write_text(json.dumps(manifest.to_json()))
    sid = {"alpha": 1.2, "t_max": 0.8, "weighting": "w", "guidance": 3.0}
    sid |= {"generator_init": "emoji-student-1step", "batch_size": 32}
    sid |= {"generator_lr": 3e-05, "fake_lr": 3e-05}
    record = {"step": 7000, "hours": 5.8, "rank": 32, "sid": sid}
    (folder / TRAINING_RECORD).write_text(json.dumps(record))
    card = write_card(folder, "interim", "numbers").read_text()
    assert "alpha 1.2" in card and "`emoji-student-1step`" in card and "batch 32" in card
    assert "fake score network from the teacher;" in card
    sid["fake_warmup"] = 400
    (folder / TRAINING_RECORD).write_text(json.dumps({**record, "sid": sid}))
    card = write_card(folder, "interim", "numbers").read_text()
    assert "trained alone for 400 updates on the generator's samples" in card
    assert "(6,600 of this run's 7,000 steps updated the generator)" in card
    (folder / TRAINING_RECORD).write_text(json.dumps({**record, "run_step": 250, "sid": sid}))
    card = write_card(folder, "interim", "numbers").read_text()
    assert "generator's first (the generator not updated yet);" in card
    (folder / TRAINING_RECORD).write_text(json.dumps({**record, "run_step": 1000, "sid": sid}))
    card = write_card(folder, "interim", "numbers").read_text()
    assert "(600 of this run's 1,000 steps updated the generator)" in card
    assert "guidance 4.5 (SiD-LSG" not in card
    sid["fake_guidance"] = 4.5
    (folder / TRAINING_RECORD).write_text(json.dumps({**record, "sid": sid}))
    card = write_card(folder, "interim", "numbers").read_text()
    assert "trained and evaluated with classifier-free guidance 4.5 (SiD-LSG's" in card

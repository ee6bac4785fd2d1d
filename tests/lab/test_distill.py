"""Distillation maths on cases with known answers, and resumable runs on a tiny UNet."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel

from studio.lab.batch import Batch
from studio.lab.compact import freeze_non_matrices, fuse_lora, lora_from_delta, save_lora
from studio.lab.consistency import ConsistencyConfig, ConsistencyRun, boundary_scalings
from studio.lab.distill_common import VpSchedule
from studio.lab.distill_jobs import Teacher, folded_guidance
from studio.lab.progressive import ProgressiveConfig, ProgressiveRun, progressive_target
from studio.lab.text_cache import PromptTable
from studio.lab.train_teacher import CaptionedImages


class DiracTeacher:
    """The exact v-prediction model for data that is a single image x*."""

    def __init__(self, x_star: torch.Tensor, sched: VpSchedule) -> None:
        self.x_star, self.sched = x_star, sched

    def v(self, z, t, batch):
        a, s = self.sched.coefficients(t)
        eps = (z - a * self.x_star) / s
        return a * eps - s * self.x_star


@pytest.mark.parametrize(("n", "teacher_steps"), [(1, 0), (2, 0), (4, 0), (16, 0), (4, 16), (1, 8)])
def test_progressive_target_is_the_data_for_an_exact_teacher(n, teacher_steps):
    sched = VpSchedule(torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    x_star = torch.rand((1, 12, 4, 4), generator=gen) * 2 - 1
    k = torch.arange(1, n + 1)
    t = sched.grid(k, n)
    a, s = sched.coefficients(t)
    z = a * x_star + s * torch.randn((n, 12, 4, 4), generator=gen)
    batch = Batch(x0=x_star.expand(n, -1, -1, -1), states=None, mask=None, pooled=None)
    target = progressive_target(DiracTeacher(x_star, sched), sched, z, k, n, batch, teacher_steps)
    torch.testing.assert_close(target, x_star.expand_as(target), atol=1e-4, rtol=1e-4)


class RecordingTeacher:
    """Records the timesteps it is asked about and predicts v = 0."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def v(self, z, t, batch):
        self.calls.append(t.tolist())
        return torch.zeros_like(z)


def test_multi_step_teacher_walks_its_finer_grid_inside_the_student_interval():
    sched = VpSchedule(torch.device("cpu"))
    teacher = RecordingTeacher()
    z = torch.randn((1, 12, 4, 4))
    batch = Batch(x0=z, states=None, mask=None, pooled=None)
    progressive_target(teacher, sched, z, torch.tensor([2]), 4, batch, teacher_steps=16)
    assert teacher.calls == [[499], [437], [374], [311]]


def test_progressive_config_rejects_teachers_that_do_not_divide():
    assert ProgressiveConfig(rounds=(4, 2, 1), first_teacher_steps=16).teacher_grids() == (16, 4, 2)
    assert ProgressiveConfig(rounds=(8, 4)).teacher_grids() == (16, 8)
    with pytest.raises(ValueError, match="larger multiple"):
        ProgressiveConfig(rounds=(4,), first_teacher_steps=10)
    with pytest.raises(ValueError, match="larger multiple"):
        ProgressiveConfig(rounds=(2, 4))


def test_schedule_grid_is_trailing_and_ends_clean():
    sched = VpSchedule(torch.device("cpu"))
    assert sched.grid(torch.arange(4, -1, -1), 4).tolist() == [999, 749, 499, 249, -1]
    a, s = sched.coefficients(torch.tensor([999, -1]))
    assert a[0].item() == pytest.approx(0.0, abs=1e-6) and s[0].item() == pytest.approx(1.0)
    assert a[1].item() == 1.0 and s[1].item() == 0.0


def test_consistency_boundary_condition():
    cfg = ConsistencyConfig()
    c_skip, c_out = boundary_scalings(torch.tensor([0, 999]), cfg)
    assert c_skip[0].item() == 1.0 and c_out[0].item() == 0.0
    assert c_skip[1].item() < 1e-5 and c_out[1].item() == pytest.approx(1.0, abs=1e-5)


def tiny_unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=4,
        in_channels=12,
        out_channels=12,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8,
        attention_head_dim=2,
        norm_num_groups=4,
        class_embed_type="projection",
        projection_class_embeddings_input_dim=8,
    )


class TinyData(CaptionedImages):
    """Random 8x8 images with three random prompts, no text encoder."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.latents = torch.rand((6, 12, 4, 4), generator=gen) * 2 - 1
        self.table = PromptTable(
            ("", "a", "b"),
            torch.randn((3, 5, 8), generator=gen),
            torch.ones((3, 5), dtype=torch.int8),
            torch.randn((3, 8), generator=gen),
        )
        self.rows = torch.from_numpy(np.array([[1, 2, 1]] * 6))
        self.empty = 0


def test_progressive_rounds_resume_and_write_students(tmp_path):
    cfg = ProgressiveConfig(
        rounds=(2, 1), steps_per_round=3, batch_size=2, checkpoint_every=1, warmup=1, bf16=False
    )
    run = ProgressiveRun(tmp_path, TinyData(), tiny_unet(), cfg)
    run.train_step()
    run.save()
    again = ProgressiveRun(tmp_path, TinyData(), tiny_unet(), cfg)
    assert (again.round, again.step) == (0, 1)
    again.run(progress=False)
    assert (tmp_path / "student-2step.safetensors").exists()
    assert (tmp_path / "student-1step.safetensors").exists()
    done = ProgressiveRun(tmp_path, TinyData(), tiny_unet(), cfg)
    assert done.round == 2


def test_consistency_run_resumes(tmp_path):
    cfg = ConsistencyConfig(steps=2, batch_size=2, checkpoint_every=1, warmup=1, bf16=False)
    run = ConsistencyRun(tmp_path, TinyData(), tiny_unet(), cfg)
    loss = run.train_step()
    assert np.isfinite(loss)
    run.save()
    assert ConsistencyRun(tmp_path, TinyData(), tiny_unet(), cfg).step == 1


def test_students_change_only_matrices_and_lora_reproduces_delta():
    teacher = tiny_unet()
    student = tiny_unet()
    freeze_non_matrices(student)
    with torch.no_grad():
        for p in student.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    assert all(not p.requires_grad for p in student.parameters() if p.ndim < 2)
    factors = lora_from_delta(teacher, student, rank=10_000, dtype=torch.float64)
    name = "conv_in"
    down, up = factors[f"unet.{name}.lora_A.weight"], factors[f"unet.{name}.lora_B.weight"]
    delta = (up.flatten(1) @ down.flatten(1)).reshape(student.conv_in.weight.shape)
    torch.testing.assert_close(
        delta.float(), student.conv_in.weight - teacher.conv_in.weight, atol=1e-5, rtol=1e-4
    )


def test_teacher_run_restarts_from_an_export_without_checkpoint(tmp_path):
    from studio.lab.export import export_pipeline, read_training_record
    from studio.lab.train_teacher import TeacherConfig, TeacherRun

    first = TeacherRun(tmp_path / "a", TinyData(), TeacherConfig())
    with torch.no_grad():
        first.ema.conv_in.weight.add_(0.5)
    folder = export_pipeline(
        first.ema, tmp_path / "export" / "emoji-teacher", training={"step": 7, "hours": 0.1}
    )
    assert read_training_record(folder) == {"step": 7, "hours": 0.1}
    again = TeacherRun(tmp_path / "b", TinyData(), TeacherConfig(), init_from=folder)
    assert again.step == 7
    torch.testing.assert_close(
        again.unet.conv_in.weight, first.ema.conv_in.weight, atol=1e-2, rtol=1e-3
    )
    torch.testing.assert_close(again.ema.conv_in.weight, again.unet.conv_in.weight)


def test_only_the_first_round_folds_guidance_in(tmp_path):
    cfg = ProgressiveConfig(
        rounds=(4, 2, 1), steps_per_round=1, batch_size=2, guidance=3.0, warmup=1, bf16=False
    )
    guidance: list[float] = []
    run = ProgressiveRun(tmp_path, TinyData(), tiny_unet(), cfg)
    run.run(on_round=lambda r, n: guidance.append(r.teacher.guidance), progress=False)
    assert guidance == [3.0, 1.0, 1.0]


def test_a_saved_lora_fused_back_gives_the_student(tmp_path):
    teacher, student = tiny_unet(), tiny_unet()
    freeze_non_matrices(student)
    with torch.no_grad():
        for p in student.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    path = save_lora(lora_from_delta(teacher, student, rank=10_000, dtype=torch.float32), tmp_path)
    fused = fuse_lora(tiny_unet(), path)
    for (name, got), want in zip(fused.named_parameters(), student.parameters(), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4, msg=name)


def test_guidance_is_never_folded_twice():
    base = Teacher(tiny_unet(), tiny_unet(), "emoji-teacher", guidance_distilled=False)
    student = Teacher(tiny_unet(), tiny_unet(), "emoji-teacher", guidance_distilled=True)
    assert folded_guidance(base, None) == 3.0 and folded_guidance(base, 5.0) == 5.0
    assert folded_guidance(student, None) == 1.0 and folded_guidance(student, 1.0) == 1.0
    with pytest.raises(ValueError, match="twice"):
        folded_guidance(student, 3.0)


def test_a_chain_from_a_student_records_the_whole_chain(tmp_path):
    import json

    from studio.core.manifest import MANIFEST, AdapterManifest
    from studio.lab.distill_jobs import training_record

    student = tmp_path / "emoji-student-4step"
    student.mkdir()
    manifest = AdapterManifest(base="emoji-teacher", lora="l.safetensors", guidance_distilled=True)
    (student / MANIFEST).write_text(json.dumps(manifest.to_json()))
    (student / "training.json").write_text('{"step": 2000, "hours": 1.0, "teacher_step": 14000}')
    run = tmp_path / "run"
    run.mkdir()
    (run / "loss.csv").write_text(
        "step,loss,lr,session_seconds\n50,0.1,1e-4,900\n100,0.1,1e-4,1800\n"
    )
    record = training_record(run, str(student), 1500)
    device = record.pop("device")
    assert record == {
        "step": 3500,
        "hours": 1.5,
        "run_step": 1500,
        "run_hours": 0.5,
        "from": "emoji-student-4step",
        "teacher_step": 14000,
    }
    assert device.startswith(("CPU only", "CUDA")) and "then" not in device


def test_a_chain_names_each_device_it_ran_on(tmp_path, monkeypatch):
    import json

    from studio.core.manifest import MANIFEST, AdapterManifest
    from studio.lab import distill_jobs

    student = tmp_path / "emoji-student-4step"
    student.mkdir()
    manifest = AdapterManifest(base="emoji-teacher", lora="l.safetensors", guidance_distilled=True)
    (student / MANIFEST).write_text(json.dumps(manifest.to_json()))
    record = {"step": 2000, "hours": 1.0, "device": "CPU only (x86_64, 2 threads)"}
    (student / "training.json").write_text(json.dumps(record))
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setattr(
        distill_jobs, "device_line", lambda bf16=True: "CPU only (x86_64, 1 thread)"
    )
    chained = distill_jobs.training_record(run, str(student), 10)["device"]
    assert chained == "CPU only (x86_64, 2 threads); then CPU only (x86_64, 1 thread)"
    (student / "training.json").write_text(json.dumps({**record, "device": chained}))
    assert distill_jobs.training_record(run, str(student), 10)["device"] == chained


def test_a_resumed_run_names_each_device_its_sessions_ran_on(tmp_path, monkeypatch):
    import json

    from studio.lab import distill_jobs

    teacher = tmp_path / "emoji-teacher"
    teacher.mkdir()
    (teacher / "training.json").write_text(json.dumps({"step": 14000, "hours": 30.0}))
    run = tmp_path / "run"
    one, two = "CPU only (x86_64, 1 thread)", "CPU only (x86_64, 2 threads)"
    for device in (one, one, two, two, one):
        monkeypatch.setattr(distill_jobs, "device_line", lambda bf16=True, d=device: d)
        record = distill_jobs.training_record(run, str(teacher), 10)
    assert record["device"] == f"{one}; then {two}; then {one}"
    assert (run / distill_jobs.RUN_DEVICES).read_text().strip() == record["device"]


def test_chained_devices_fold_repeats_only_when_adjacent():
    from studio.lab.cards import chained_device

    assert chained_device(None, "A") == "A"
    assert chained_device("A", "A") == "A"
    assert chained_device("A; then B", "B") == "A; then B"
    assert chained_device("A; then B", "B; then A") == "A; then B; then A"
    assert chained_device("", "") == ""


def test_a_progressive_round_is_named_by_its_grids():
    from studio.lab.distill_jobs import progressive_manifest

    assert progressive_manifest(2, "t", 4).method == "progressive distillation (4 → 2 steps)"
    assert progressive_manifest(1, "t").method == "progressive distillation (2 → 1 step)"
    tract = progressive_manifest(4, "t", 16).method
    assert "TRACT-style round (16 → 4 steps" in tract and "4 teacher steps" in tract

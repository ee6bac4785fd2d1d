"""Shortcut models: equal to the teacher at init, the step-size input, training and resume."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, UNet2DConditionModel

from studio.engine.emoji_model import SCHEDULE_CONFIG
from studio.engine.shortcut_model import (
    STEP_COUNTS,
    check_steps,
    is_shortcut,
    shortcut_unet_from,
    step_size_embedding,
)
from studio.lab.distill_common import VpSchedule, predict_v
from studio.lab.shortcut import ShortcutConfig, ShortcutRun, consistency_loss, predict_v_at
from tests.engine.tiny import build_tiny_emoji_pipeline
from tests.lab.test_distill import TinyData, tiny_unet


def tiny_cfg(**overrides) -> ShortcutConfig:
    values = {"steps": 2, "batch_size": 4, "checkpoint_every": 1, "warmup": 1, "bf16": False}
    return ShortcutConfig(**(values | overrides))


def _inputs(n: int = 3):
    gen = torch.Generator().manual_seed(0)
    data = TinyData().sample(n, 0.0, gen, "cpu")
    z = torch.randn(data.x0.shape, generator=gen)
    t = torch.tensor([999, 500, 3])[:n]
    return z, t, data


def test_a_new_shortcut_model_is_its_teacher_for_every_step_size():
    teacher = tiny_unet().eval()
    model = shortcut_unet_from(teacher).eval()
    assert is_shortcut(model) and not is_shortcut(teacher)
    z, t, batch = _inputs()
    with torch.no_grad():
        expected = predict_v(teacher, z, t, batch, False)
        for steps in (0, *STEP_COUNTS):
            assert torch.equal(predict_v_at(model, z, t, batch, steps, False), expected), steps


def test_the_step_size_embedding_tells_the_sizes_apart():
    embedded = step_size_embedding(torch.tensor([0, 1, 2, 4, 128]))
    assert embedded.shape == (5, 64)
    distances = torch.cdist(embedded, embedded)
    assert (distances + torch.eye(5) * 10).min() > 0.1


def test_only_the_trained_step_counts_are_accepted():
    for steps in STEP_COUNTS:
        check_steps(steps)
    for steps in (0, 3, 6, 20, 256):
        with pytest.raises(ValueError, match="1, 2, 4, 8, 16, 32, 64, 128 steps, not"):
            check_steps(steps)


def test_at_init_the_consistency_target_is_two_teacher_steps_so_the_loss_is_the_gap():
    """Model = EMA = teacher at init: the loss is the progressive-distillation error of one step
    against two, positive and finite at every level."""
    model = shortcut_unet_from(tiny_unet()).eval()
    sched = VpSchedule(torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    batch = TinyData().sample(4, 0.0, gen, "cpu")
    for level in (1, 8, 128):
        loss = consistency_loss(model, model, sched, batch, level, gen, False)
        assert torch.isfinite(loss) and loss.item() > 0


def _state(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_training_moves_the_model_and_its_ema_never_the_teacher(tmp_path):
    run = ShortcutRun(tmp_path, TinyData(), tiny_unet(), tiny_cfg(lr=1e-3))
    teacher, model, ema = _state(run.teacher.unet), _state(run.model), _state(run.ema)
    cons, anchor = run.train_step()
    level = run.level
    assert np.isfinite(anchor) and np.isfinite(cons) and level in STEP_COUNTS
    assert all(torch.equal(teacher[k], v) for k, v in run.teacher.unet.state_dict().items())
    assert not torch.equal(
        model["time_embedding.cond_proj.weight"],
        run.model.state_dict()["time_embedding.cond_proj.weight"],
    )
    assert any(not torch.equal(ema[k], v) for k, v in run.ema.state_dict().items())
    assert all(p.grad is None for p in run.teacher.unet.parameters())


def test_resume_is_bit_exact(tmp_path):
    straight = ShortcutRun(tmp_path / "a", TinyData(), tiny_unet(), tiny_cfg(lr=1e-3))
    straight.train_step()
    straight.train_step()
    first = ShortcutRun(tmp_path / "b", TinyData(), tiny_unet(), tiny_cfg(lr=1e-3))
    first.train_step()
    first.save()
    again = ShortcutRun(tmp_path / "b", TinyData(), tiny_unet(), tiny_cfg(lr=1e-3))
    assert again.step == 1
    again.train_step()
    for name in ("model", "ema"):
        a, b = getattr(straight, name).state_dict(), getattr(again, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_the_emoji_pipeline_passes_the_step_size_and_refuses_other_counts():
    pipe = build_tiny_emoji_pipeline()
    pipe.scheduler = DDIMScheduler(**SCHEDULE_CONFIG)

    def run(steps: int):
        gen = torch.Generator().manual_seed(0)
        return pipe("a cat", num_inference_steps=steps, output_type="np", generator=gen).images

    plain = run(4)
    pipe.unet = shortcut_unet_from(pipe.unet).eval()
    seen = []
    pipe.unet.time_embedding.register_forward_hook(lambda m, args, out: seen.append(args[1]))
    same = run(4)
    np.testing.assert_array_equal(plain, same)  # zero projection: the teacher's image
    assert len(seen) == 4 and all(c is not None and c.shape[-1] == 64 for c in seen)
    expected = step_size_embedding(torch.tensor([4.0]))
    torch.testing.assert_close(seen[0][:1].double(), expected.double(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not 3"):
        run(3)


def test_the_batch_share_of_self_consistency_must_leave_both_terms_samples():
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="consistency_fraction"):
            tiny_cfg(consistency_fraction=bad)


def test_the_engine_refuses_what_a_shortcut_model_cannot_sample():
    from studio.engine.samplers import SamplerError
    from studio.engine.shortcut_model import check_recipe

    model = shortcut_unet_from(tiny_unet())
    check_recipe(model, "DDIM trailing", 8, 0.0, "emoji-shortcut")
    check_recipe(tiny_unet(), "DPM++ 2M", 20, 0.0, "emoji-teacher")  # not a shortcut model
    with pytest.raises(SamplerError, match=r"emoji-shortcut is a shortcut model.*not DPM\+\+ 2M"):
        check_recipe(model, "DPM++ 2M", 8, 0.0, "emoji-shortcut")
    with pytest.raises(SamplerError, match=r"with eta 0\.5"):
        check_recipe(model, "DDIM trailing", 8, 0.5, "emoji-shortcut")
    with pytest.raises(SamplerError, match="emoji-shortcut: a shortcut model takes 1, 2, 4"):
        check_recipe(model, "DDIM trailing", 20, 0.0, "emoji-shortcut")


def test_an_exported_shortcut_model_runs_through_the_runner_with_its_steps_only(tmp_path):
    from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
    from studio.core.models import ModelRef, ModelSource
    from studio.core.params import GenerationParams
    from studio.engine.cancel import CancelToken
    from studio.engine.model_cache import ModelCache
    from studio.engine.runner import Runner
    from studio.engine.samplers import SamplerError
    from studio.lab.evaluate import _Keep
    from studio.lab.export import export_pipeline

    unet = shortcut_unet_from(build_tiny_emoji_pipeline().unet)
    folder = export_pipeline(unet, tmp_path / "tiny-shortcut")
    ref = ModelRef(location=str(folder), source=ModelSource.folder)
    runner = Runner(ModelCache(capacity=1))

    def run(sampler: str, steps: int) -> _Keep:
        params = GenerationParams(
            prompt="a cat", sampler=sampler, num_inference_steps=steps, guidance_scale=1.0
        )
        job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions())
        sink = _Keep()
        runner.run(job, CancelToken(), sink)
        return sink

    assert len(run("DDIM trailing", 4).images) == 1
    with pytest.raises(SamplerError, match="shortcut model"):
        run("DPM++ 2M", 4)
    with pytest.raises(SamplerError, match="not 6"):
        run("DDIM trailing", 6)


def test_a_run_continued_from_a_shortcut_model_starts_from_its_weights(tmp_path):
    trained = shortcut_unet_from(tiny_unet())
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01 * torch.randn_like(p))
    run = ShortcutRun(tmp_path, TinyData(), tiny_unet(), tiny_cfg(lr=1e-3), init=trained)
    want = trained.state_dict()
    for module in (run.model, run.ema):
        assert all(torch.equal(v, want[k]) for k, v in module.state_dict().items())
    teacher = _state(run.teacher.unet)
    run.train_step()
    assert all(torch.equal(teacher[k], v) for k, v in run.teacher.unet.state_dict().items())
    assert any(not torch.equal(v, want[k]) for k, v in run.model.state_dict().items())


def test_a_run_continues_only_from_a_shortcut_model_of_the_teachers_shape(tmp_path):
    with pytest.raises(ValueError, match="continues only from a shortcut model"):
        ShortcutRun(tmp_path / "a", TinyData(), tiny_unet(), tiny_cfg(), init=tiny_unet())
    config = {k: v for k, v in tiny_unet().config.items() if not k.startswith("_")}
    other = shortcut_unet_from(UNet2DConditionModel.from_config(config | {"layers_per_block": 2}))
    with pytest.raises(ValueError, match="not shaped like this teacher"):
        ShortcutRun(tmp_path / "b", TinyData(), tiny_unet(), tiny_cfg(), init=other)


def test_a_continued_run_records_both_runs_and_their_totals(tmp_path, monkeypatch):
    from studio.lab import distill_jobs

    device = "CPU only (x86_64, 1 thread), bf16 autocast"
    monkeypatch.setattr(distill_jobs, "device_line", lambda bf16=True: device)
    teacher = tmp_path / "emoji-teacher"
    teacher.mkdir()
    (teacher / "training.json").write_text('{"step": 14000, "hours": 30.0}')
    start = tmp_path / "emoji-shortcut"
    start.mkdir()
    (start / "training.json").write_text(
        '{"step": 20000, "hours": 19.63, "device": "CPU only (x86_64, 1 thread), bf16 autocast",'
        ' "method": "shortcut model", "teacher_step": 14000}'
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "loss.csv").write_text("step,loss,lr,session_seconds\n500,0.1,1e-4,1800\n")
    record = distill_jobs.training_record(run, str(teacher), 500, start=str(start))
    assert record == {
        "step": 20500,
        "hours": 20.13,
        "run_step": 500,
        "run_hours": 0.5,
        "from": "emoji-shortcut",
        "device": "CPU only (x86_64, 1 thread), bf16 autocast",
        "teacher_step": 14000,
    }
    # The start model replaced mid-run (say, by this run's own export, shipped): a resumed
    # run still counts its chain from the weights it began with.
    (start / "training.json").write_text('{"step": 20500, "hours": 20.13}')
    (run / "loss.csv").write_text("step,loss,lr,session_seconds\n800,0.1,1e-4,2880\n")
    later = distill_jobs.training_record(run, str(teacher), 800, start=str(start))
    assert (later["step"], later["hours"], later["run_step"]) == (20800, 20.43, 800)


def test_the_learning_rate_warms_up_holds_and_anneals_to_zero_at_the_end():
    cfg = tiny_cfg(steps=10, warmup=2, lr=1e-3, anneal_from=6)
    rates = [cfg.lr_at(step) for step in range(10)]
    assert rates[:6] == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3])
    assert rates[6:] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert cfg.lr_at(10) == 0.0
    assert [tiny_cfg(steps=10, warmup=2, lr=1e-3).lr_at(s) for s in (1, 9)] == [1e-3, 1e-3]
    for bad in (-1, 10, 12):
        with pytest.raises(ValueError, match="decay must start before the last step"):
            tiny_cfg(steps=10, anneal_from=bad)


def test_an_annealed_run_steps_and_logs_the_decayed_rate(tmp_path):
    run = ShortcutRun(tmp_path / "r", TinyData(), tiny_unet(), tiny_cfg(steps=4, lr=1e-3))
    run.cfg = tiny_cfg(steps=100, lr=1e-3, anneal_from=50, checkpoint_every=1000)
    run.step = 74
    run.train_step()
    assert run.opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 26 / 50)
    run.cfg = tiny_cfg(steps=100, lr=1e-3, anneal_from=50, sample_every=1000, checkpoint_every=1000)
    run.step = 49
    run.run(progress=False)
    rows = (tmp_path / "r" / "loss.csv").read_text().splitlines()[1:]
    logged = {int(row.split(",")[0]): float(row.split(",")[2]) for row in rows}
    assert logged[50] == pytest.approx(1e-3)
    assert logged[100] == pytest.approx(1e-3 / 50)


def distill_options(method: str, init: str):
    from studio.lab.distill_jobs import DistillOptions

    return DistillOptions(
        method=method,
        teacher="emoji-teacher",
        rounds=(4,),
        steps_per_round=1,
        first_teacher_steps=0,
        steps=1,
        init=init,
        sid_alpha=1.2,
        sid_t_max=0.8,
        sid_lr=1e-5,
        batch=4,
        sample_every=1,
        fp32=True,
        guidance=None,
        rank=4,
        threads=1,
        progress=False,
    )


def test_a_runs_chain_continues_the_model_it_starts_from():
    from studio.lab.distill_jobs import SID_INIT, chain_source

    assert chain_source(distill_options("shortcut", "emoji-shortcut")).name == "emoji-shortcut"
    assert chain_source(distill_options("shortcut", "")).name == "emoji-teacher"
    assert chain_source(distill_options("sid", "")).name == SID_INIT
    assert chain_source(distill_options("sid", "emoji-student-sid")).name == "emoji-student-sid"
    assert chain_source(distill_options("progressive", "")).name == "emoji-teacher"


def test_init_is_refused_for_methods_that_do_not_take_it():
    from studio.lab.distill_jobs import option_refusal

    options = distill_options

    for method in ("sid", "shortcut"):
        assert option_refusal(options(method, "emoji-shortcut")) == ""
    annealed = replace(options("shortcut", ""), steps=100, anneal_from=60)
    assert option_refusal(annealed) == ""
    assert "not a sid one's" in option_refusal(replace(annealed, method="sid"))
    assert "from 0 to 99" in option_refusal(replace(annealed, anneal_from=100))
    assert option_refusal(replace(annealed, consistency_fraction=0.25)) == ""
    for fraction in (0.0, 1.0, -0.2):
        refusal = option_refusal(replace(annealed, consistency_fraction=fraction))
        assert "strictly between 0 and 1" in refusal
    assert "not a consistency one's" in option_refusal(
        replace(options("consistency", ""), consistency_fraction=0.25)
    )
    for method in ("progressive", "consistency"):
        assert option_refusal(options(method, "")) == ""
        assert "sid or shortcut run, not a" in option_refusal(options(method, "x"))
    warmed = replace(options("sid", "emoji-student-sid"), steps=500, sid_fake_warmup=400)
    assert option_refusal(warmed) == ""
    assert "from 0 to 399 steps" in option_refusal(replace(warmed, steps=400))
    assert "not a shortcut run's" in option_refusal(replace(warmed, method="shortcut"))
    lsg = replace(options("sid", "emoji-student-sid"), sid_fake_guidance=4.5)
    assert option_refusal(lsg) == ""
    assert "1 (none) or more, not 0.5" in option_refusal(replace(lsg, sid_fake_guidance=0.5))
    assert "guides a sid run's fake denoiser, not a shortcut" in option_refusal(
        replace(lsg, method="shortcut")
    )


def test_a_record_names_the_folded_guidance_and_a_chains_change_of_scale():
    from studio.lab.distill_jobs import guidance_record

    assert guidance_record(3.0, None) == {"guidance": 3.0}
    old = {"step": 21500, "method": "shortcut model"}  # recorded before scales were: the default
    assert guidance_record(3.0, old) == {"guidance": 3.0}
    changed = guidance_record(4.5, old)
    assert changed == {"guidance": 4.5, "guidance_chain": "3 to step 21,500, then 4.5"}
    later = {"step": 23000, **changed}
    assert guidance_record(4.5, later) == changed, "the same scale again adds nothing"
    assert guidance_record(2.0, later)["guidance_chain"] == (
        "3 to step 21,500, then 4.5 to step 23,000, then 2"
    )

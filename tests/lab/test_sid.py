"""Score identity Distillation: where each loss's gradients go, resume, and the loss on a toy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from studio.lab.batch import Batch
from studio.lab.data_parallel import ONE_PROCESS, DataParallel
from studio.lab.distill_common import VpSchedule, empty_prompt, guided, predict_v, run_steps
from studio.lab.sid import SidConfig, SidRun, generate, sid_generator_loss, sid_timesteps
from tests.lab.test_distill import TinyData, tiny_unet


def tiny_cfg(**overrides) -> SidConfig:
    return SidConfig(
        **{"steps": 2, "batch_size": 2, "checkpoint_every": 1, "warmup": 1, "bf16": False}
        | overrides
    )


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def make_run(tmp_path, parallel: DataParallel = ONE_PROCESS, **overrides) -> SidRun:
    torch.manual_seed(1)
    init = tiny_unet()
    with torch.no_grad():
        for p in init.parameters():
            p.add_(0.01 * torch.randn_like(p))
    cfg = tiny_cfg(**({"generator_lr": 1e-3, "fake_lr": 1e-3} | overrides))
    return SidRun(tmp_path, TinyData(), tiny_unet(), init, cfg, parallel)


@pytest.mark.parametrize("fake_guidance", [1.0, 3.0])
def test_the_fake_step_trains_only_the_fake_denoiser(tmp_path, fake_guidance):
    run = make_run(tmp_path, fake_guidance=fake_guidance)
    teacher, gen, fake = (snapshot(m) for m in (run.teacher.unet, run.generator, run.fake))
    run.fake_step()
    assert changed(teacher, run.teacher.unet) == set()
    assert changed(gen, run.generator) == set()
    assert changed(fake, run.fake)


@pytest.mark.parametrize("fake_guidance", [1.0, 3.0])
def test_the_generator_step_trains_only_the_generator_matrices(tmp_path, fake_guidance):
    run = make_run(tmp_path, fake_guidance=fake_guidance)
    teacher, gen, fake = (snapshot(m) for m in (run.teacher.unet, run.generator, run.fake))
    run.generator_step()
    assert changed(teacher, run.teacher.unet) == set()
    assert changed(fake, run.fake) == set()
    moved = changed(gen, run.generator)
    assert moved
    shapes = dict(run.generator.state_dict())
    assert all(shapes[k].ndim >= 2 for k in moved), "biases and norms stay the init's"
    assert all(p.grad is None for p in run.teacher.unet.parameters())
    assert all(p.grad is None for p in run.fake.parameters())


@pytest.mark.parametrize(("fake_warmup", "fake_guidance"), [(0, 1.0), (1, 1.0), (0, 3.0)])
def test_resume_is_bit_exact(tmp_path, fake_warmup, fake_guidance):
    kw = {"fake_warmup": fake_warmup, "fake_guidance": fake_guidance}
    straight = make_run(tmp_path / "a", **kw)
    straight.train_step()
    straight.train_step()
    resumed = make_run(tmp_path / "b", **kw)
    resumed.train_step()
    resumed.save()
    again = make_run(tmp_path / "b", **kw)
    assert again.step == 1
    again.train_step()
    for name in ("generator", "generator_ema", "fake"):
        a, b = getattr(straight, name).state_dict(), getattr(again, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_the_fake_warmup_trains_the_fake_denoiser_alone_before_the_generators_first(tmp_path):
    run = make_run(tmp_path, steps=4, fake_warmup=2, warmup=4, generator_lr=0.1, ema_rampup=10.0)
    gen, ema, fake = (snapshot(m) for m in (run.generator, run.generator_ema, run.fake))
    assert run.train_step()[0] is None
    assert run.train_step()[0] is None
    assert changed(gen, run.generator) == set() and changed(ema, run.generator_ema) == set()
    assert changed(fake, run.fake)
    assert run.generator_updates == 0
    before = snapshot(run.generator_ema)
    generator_loss, _ = run.train_step()
    assert generator_loss is not None and changed(gen, run.generator)
    # The generator's learning-rate warm-up and EMA ramp-up start at its own first update.
    assert run.g_opt.param_groups[0]["lr"] == pytest.approx(run.cfg.generator_lr / 4)
    decay = run.cfg.ema_decay(0)
    for name, value in run.generator_ema.named_parameters():
        expected = before[name].lerp(dict(run.generator.named_parameters())[name], 1 - decay)
        torch.testing.assert_close(value, expected)


def test_lsg_guides_the_fake_denoiser_in_both_of_its_roles(tmp_path):
    plain, lsg = (make_run(tmp_path / str(k), fake_guidance=k) for k in (1.0, 3.0))
    for name in ("generator", "fake"):
        a, b = getattr(plain, name).state_dict(), getattr(lsg, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), "both runs start alike"
    plain.fake_step()
    lsg.fake_step()
    assert changed(snapshot(plain.fake), lsg.fake), "its training target is the guided prediction"
    lsg.fake.load_state_dict(plain.fake.state_dict())
    plain.generator_step()
    lsg.generator_step()
    assert changed(snapshot(plain.generator), lsg.generator), "its score in G's loss is guided"


def test_a_guided_unet_combines_the_empty_and_the_prompts_predictions():
    torch.manual_seed(0)
    data, unet = TinyData(), tiny_unet()
    batch = data.sample(3, 0.0, torch.Generator().manual_seed(1), "cpu")
    z, t = torch.randn(batch.x0.shape), torch.tensor([3, 400, 999])
    assert guided(unet, data, 1.0) is unet
    with torch.no_grad():
        got = guided(unet, data, 4.0)(
            z,
            t,
            encoder_hidden_states=batch.states,
            encoder_attention_mask=batch.mask,
            class_labels=batch.pooled,
        ).sample
        cond = predict_v(unet, z, t, batch, False)
        states, mask, pooled = empty_prompt(data)
        empty = Batch(
            x0=batch.x0,
            states=states.expand(3, -1, -1),
            mask=mask.expand(3, -1),
            pooled=pooled.expand(3, -1),
        )
        uncond = predict_v(unet, z, t, empty, False)
    assert not torch.allclose(cond, uncond)
    torch.testing.assert_close(got, uncond + 4.0 * (cond - uncond), rtol=1e-4, atol=1e-5)


def test_the_fake_warmup_must_leave_generator_updates():
    with pytest.raises(ValueError, match="warm-up"):
        tiny_cfg(steps=2, fake_warmup=2)
    with pytest.raises(ValueError, match="warm-up"):
        tiny_cfg(fake_warmup=-1)
    with pytest.raises(ValueError, match="kappa"):
        tiny_cfg(fake_guidance=0.0)


def test_the_generator_loss_log_skips_the_fake_warmup(tmp_path):
    class Stepped:
        dir, step = tmp_path, 0
        cfg = SimpleNamespace(steps=150, checkpoint_every=1000, sample_every=1000)

        def train_step(self):
            self.step += 1
            return (None if self.step <= 60 else 2.0), 1.0

        def save(self):
            pass

    run_steps(Stepped(), "sid", {"loss.csv": 1e-5, "fake-loss.csv": 1e-5}, progress=False)
    generator = (tmp_path / "loss.csv").read_text().splitlines()[1:]
    fake = (tmp_path / "fake-loss.csv").read_text().splitlines()[1:]
    assert [row.split(",")[:2] for row in generator] == [["100", "2.000000"], ["150", "2.000000"]]
    assert [row.split(",")[0] for row in fake] == ["50", "100", "150"]


def test_a_run_samples_on_schedule_and_stops_at_its_length(tmp_path):
    samples = []
    run = make_run(tmp_path, sample_every=1)
    run.run(on_sample=lambda r: samples.append(r.step), progress=False)
    assert samples == [1, 2]
    assert make_run(tmp_path).step == 2


class DiracUNet(torch.nn.Module):
    """A UNet stand-in whose prediction is the exact v for data that is the single image c."""

    def __init__(self, c: torch.Tensor, sched: VpSchedule) -> None:
        super().__init__()
        self.c, self.sched = c, sched

    def forward(self, z, t, **_):
        a, s = self.sched.coefficients(t)
        eps = (z - a * self.c) / s
        return SimpleNamespace(sample=a * eps - s * self.c)


class GuidedDirac:
    def __init__(self, c: torch.Tensor, sched: VpSchedule) -> None:
        self.unet = DiracUNet(c, sched)

    def v_through(self, z, t, batch):
        return self.unet(z, t).sample


def test_the_generator_loss_pulls_samples_towards_the_teachers_data():
    sched = VpSchedule(torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    x_star = torch.rand((1, 12, 4, 4), generator=gen) * 2 - 1
    x_g = torch.zeros((1, 12, 4, 4), requires_grad=True)
    fake = DiracUNet(x_g.detach().clone(), sched)
    unused = torch.zeros((1, 1))
    batch = Batch(x0=x_g, states=unused, mask=unused, pooled=unused)
    loss = sid_generator_loss(x_g, GuidedDirac(x_star, sched), fake, sched, batch, gen, tiny_cfg())
    loss.backward()
    direction = -x_g.grad
    cosine = torch.nn.functional.cosine_similarity(direction.flatten(), x_star.flatten(), dim=0)
    assert cosine.item() == pytest.approx(1.0, abs=1e-3)


def test_the_time_range_follows_t_max():
    sched = VpSchedule(torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    full = sid_timesteps(4000, sched, tiny_cfg(t_max=1.0), gen)
    part = sid_timesteps(4000, sched, tiny_cfg(t_max=0.5), gen)
    a, s = sched.coefficients(torch.stack([full.max(), full.max() - 1]))
    ratio = (s / a).view(-1)
    assert full.min() >= 0 and ratio[1] < 80 <= ratio[0], "the top is sigma_max's timestep"
    a, s = sched.coefficients(part)
    lo, hi = 0.002 ** (1 / 7), 80 ** (1 / 7)
    assert (s / a).max().item() <= ((lo + 0.5 * (hi - lo)) ** 7) * 1.05
    with pytest.raises(ValueError, match="t_max"):
        tiny_cfg(t_max=0.0)


def test_the_generator_is_a_one_step_ddim_from_pure_noise(tmp_path):
    run = make_run(tmp_path)
    z, batch = run._noise_and_prompts()
    with torch.no_grad():
        x = generate(run.generator, z, batch, run.sched, False)
        v = run.generator(
            z,
            torch.full((2,), 999),
            encoder_hidden_states=batch.states,
            encoder_attention_mask=batch.mask,
            class_labels=batch.pooled,
        ).sample
    np.testing.assert_allclose(x.numpy(), -v.numpy(), atol=1e-3)


def test_sid_refuses_a_guided_student_as_its_frozen_score(tmp_path):
    from argparse import Namespace

    from studio.lab.distill_jobs import Teacher, _sid

    unet = tiny_unet()
    guided = Teacher(unet, unet, "emoji-teacher", guidance_distilled=True)
    with pytest.raises(ValueError, match="unguided"):
        _sid(Namespace(), tmp_path, TinyData(), guided, 1.0)

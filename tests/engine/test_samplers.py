"""The sampler registry: every catalogue sampler on tiny SD, SD3 and zero-SNR emoji pipelines."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler, HeunDiscreteScheduler

from studio.core.params import ScheduleOptions, Sigmas, Spacing
from studio.core.samplers import ModelKind, SamplerSpec, find_sampler
from studio.engine import samplers
from studio.engine.amed.predictor import AmedPredictor
from studio.engine.amed.scheduler import AmedScheduler, solver_hooks
from studio.engine.analytic.scheduler import AnalyticDDIMScheduler
from studio.engine.samplers import (
    SamplerError,
    available_samplers,
    check_fit,
    fitting_samplers,
    make_scheduler,
    model_kind_of,
    zero_snr_betas,
)
from tests.engine.gaussian import exact_table
from tests.engine.tiny import tiny_emoji_scheduler, tiny_sd_scheduler

VP = available_samplers(ModelKind.vp)
FLOW = available_samplers(ModelKind.flow)
EMOJI_MISFITS = {"Heun", "DPM2", "DPM2 a", "DPM++ 2M Karras", "DPM++ 2M SDE Karras"}
EMOJI_FITS = [s for s in VP if s.name not in EMOJI_MISFITS]
# The oracle below stands in for a model without a UNet; AMED needs the UNet's bottleneck, so
# its stability is checked on real tiny pipelines in test_amed.py.
ORACLE_FITS = [s for s in EMOJI_FITS if not s.needs_predictor]
DEFAULT = ScheduleOptions()


def spec_id(spec: SamplerSpec) -> str:
    return spec.name.replace(" ", "_")


def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def ready(scheduler, unet=None, steps: int = 2):
    """The scheduler, with the Gamma table of N(0, 0.5^2) data when it needs one, or an AMED
    predictor at its untrained start (the geometric midpoint)."""
    if isinstance(scheduler, AnalyticDDIMScheduler):
        scheduler.use_table(exact_table(scheduler.alphas_cumprod, std=0.5))
    if isinstance(scheduler, AmedScheduler):
        scheduler.use_predictor(steps, AmedPredictor(unet.mid_block.resnets[-1].out_channels))
    return scheduler


def config_of(scheduler) -> dict:
    """A scheduler's config as a loaded pipeline has it: with its class name."""
    return {**scheduler.config, "_class_name": type(scheduler).__name__}


@pytest.fixture(scope="module")
def sd_base() -> dict:
    return config_of(tiny_sd_scheduler())


@pytest.fixture(scope="module")
def emoji_base() -> dict:
    return config_of(tiny_emoji_scheduler())


@pytest.fixture(scope="module")
def flow_base() -> dict:
    return config_of(FlowMatchEulerDiscreteScheduler(shift=3.0))


@pytest.mark.parametrize("spec", VP, ids=spec_id)
def test_vp_sampler_runs_on_tiny_sd(tiny_sd_pipe, sd_base, spec):
    steps = max(2, spec.min_steps)
    scheduler = make_scheduler(sd_base, spec, DEFAULT, ModelKind.vp)
    tiny_sd_pipe.scheduler = ready(scheduler, tiny_sd_pipe.unet, steps)
    with solver_hooks(scheduler, tiny_sd_pipe.unet):
        images = tiny_sd_pipe(
            "a cat",
            num_inference_steps=steps,
            height=32,
            width=32,
            guidance_scale=1.0,
            generator=seeded(),
            output_type="np",
        ).images
    assert images.shape == (1, 32, 32, 3)
    assert np.isfinite(images).all()


@pytest.mark.parametrize("spec", VP, ids=spec_id)
def test_vp_sampler_runs_on_zero_snr_emoji_or_is_refused(tiny_emoji_pipe, emoji_base, spec):
    if spec.name in EMOJI_MISFITS:
        with pytest.raises(SamplerError, match="zero-terminal-SNR models such as emoji-teacher"):
            make_scheduler(emoji_base, spec, DEFAULT, ModelKind.vp, model_name="emoji-teacher")
        return
    steps = max(2, spec.min_steps)
    scheduler = make_scheduler(emoji_base, spec, DEFAULT, ModelKind.vp)
    scheduler = ready(scheduler, tiny_emoji_pipe.unet, steps)
    assert scheduler.config.prediction_type == "v_prediction"
    tiny_emoji_pipe.scheduler = scheduler
    with solver_hooks(scheduler, tiny_emoji_pipe.unet):
        pixels = tiny_emoji_pipe(
            "grinning face",
            num_inference_steps=steps,
            guidance_scale=1.0,
            generator=seeded(),
            output_type="pt",
        ).images
    assert pixels.shape == (1, 3, 32, 32)
    assert torch.isfinite(pixels).all()


@pytest.mark.parametrize("spec", FLOW, ids=spec_id)
def test_flow_sampler_runs_on_tiny_sd3(tiny_sd3_pipe, flow_base, spec):
    tiny_sd3_pipe.scheduler = make_scheduler(flow_base, spec, DEFAULT, ModelKind.flow)
    images = tiny_sd3_pipe(
        "a cat",
        num_inference_steps=2,
        height=32,
        width=32,
        guidance_scale=1.0,
        generator=seeded(),
        output_type="np",
        max_sequence_length=16,
    ).images
    assert images.shape == (1, 32, 32, 3)
    assert np.isfinite(images).all()


class GaussianOracle:
    """The exact v-prediction denoiser for data x0 ~ N(0, std^2) on a given alpha-bar table."""

    def __init__(self, alphas_cumprod: torch.Tensor, std: float = 0.5) -> None:
        self.abar = alphas_cumprod.double()
        self.log_sigma = 0.5 * torch.log((1 - self.abar) / self.abar.clamp(min=2**-24))
        self.std = std

    def alpha_bar(self, t: float) -> float:
        low = int(t)
        high, w = min(low + 1, len(self.abar) - 1), t - low
        if w == 0:
            return float(self.abar[low])
        log_sigma = (1 - w) * self.log_sigma[low] + w * self.log_sigma[high]
        return float(1 / (1 + torch.exp(2 * log_sigma)))

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        abar = self.alpha_bar(float(t))
        a, s = math.sqrt(abar), math.sqrt(1 - abar)
        x0 = a * self.std**2 / (abar * self.std**2 + s * s) * x
        return (a * x - x0) / s


def sample_std(scheduler, oracle: GaussianOracle, steps: int) -> float:
    scheduler.set_timesteps(steps)
    x = torch.randn(1, 4, 32, 32, generator=seeded()) * scheduler.init_noise_sigma
    accepts_generator = "generator" in inspect.signature(scheduler.step).parameters
    extra = {"generator": seeded()} if accepts_generator else {}
    for t in scheduler.timesteps:
        v = oracle(scheduler.scale_model_input(x, t).double(), float(t)).float()
        x = scheduler.step(v, t, x, **extra).prev_sample
    return x.std().item()


@pytest.mark.parametrize("spec", ORACLE_FITS, ids=spec_id)
def test_fitting_samplers_stay_stable_on_the_zero_snr_schedule(emoji_base, spec):
    oracle = GaussianOracle(tiny_emoji_scheduler().alphas_cumprod)
    scheduler = ready(make_scheduler(emoji_base, spec, DEFAULT, ModelKind.vp))
    std = sample_std(scheduler, oracle, steps=4)
    assert 0.1 < std < 0.6


def test_heun_blows_up_on_zero_snr_which_is_why_it_is_refused(emoji_base):
    oracle = GaussianOracle(tiny_emoji_scheduler().alphas_cumprod)
    heun = HeunDiscreteScheduler.from_config(emoji_base, trained_betas=zero_snr_betas(emoji_base))
    assert sample_std(heun, oracle, steps=4) > 5.0


def test_schedulers_without_zero_snr_support_get_the_model_betas(emoji_base):
    scheduler = make_scheduler(emoji_base, "LMS", DEFAULT, ModelKind.vp)
    expected = tiny_emoji_scheduler().alphas_cumprod
    assert torch.allclose(scheduler.alphas_cumprod[:-1], expected[:-1], rtol=1e-4)
    assert scheduler.alphas_cumprod[-1].item() == pytest.approx(2**-24, rel=1e-3)


def test_fitting_samplers_of_the_emoji_model(emoji_base):
    names = {s.name for s in fitting_samplers(emoji_base)}
    assert names == {s.name for s in VP} - EMOJI_MISFITS


def test_flow_sampler_on_vp_model_is_refused(emoji_base):
    message = "'Flow Euler' is for flow-matching models; emoji-teacher is a DDPM-family (VP) model."
    with pytest.raises(SamplerError) as caught:
        make_scheduler(emoji_base, "Flow Euler", DEFAULT, ModelKind.vp, model_name="emoji-teacher")
    assert str(caught.value) == message


def test_vp_sampler_on_flow_model_is_refused(flow_base):
    with pytest.raises(
        SamplerError, match=r"is for DDPM-family \(VP\) models; sd3 is a flow-matching"
    ):
        check_fit(find_sampler("DPM++ 2M"), ModelKind.flow, "sd3")


def test_missing_package_names_the_pip_install(monkeypatch, sd_base):
    monkeypatch.setattr(samplers, "package_missing", lambda package: package == "scipy")
    with pytest.raises(SamplerError, match=r"pip install scipy\.$"):
        make_scheduler(sd_base, "LMS", DEFAULT, ModelKind.vp)
    with pytest.raises(SamplerError, match=r"pip install scipy\.$"):
        make_scheduler(sd_base, "Euler", ScheduleOptions(sigmas=Sigmas.beta), ModelKind.vp)
    names = {s.name for s in available_samplers()}
    assert "LMS" not in names and "LMS Karras" not in names and "Euler" in names


def test_package_missing_looks_at_the_installed_packages():
    assert samplers.package_missing("surely_no_such_package_here")
    assert not samplers.package_missing("scipy")
    assert not samplers.package_missing("")


@pytest.mark.parametrize(
    ("sigmas", "key"),
    [
        (Sigmas.karras, "use_karras_sigmas"),
        (Sigmas.exponential, "use_exponential_sigmas"),
        (Sigmas.beta, "use_beta_sigmas"),
    ],
)
def test_sigma_options_map_to_config_keys(sd_base, sigmas, key):
    config = make_scheduler(sd_base, "Euler", ScheduleOptions(sigmas=sigmas), ModelKind.vp).config
    flags = {k: config[k] for k in samplers.SIGMA_KEYS.values()}
    assert flags == {k: k == key for k in flags}


def test_spacing_and_zero_snr_options_map_to_config_keys(sd_base):
    spaced = make_scheduler(sd_base, "DDIM", ScheduleOptions(spacing=Spacing.trailing))
    assert spaced.config.timestep_spacing == "trailing"
    v_base = {**sd_base, "prediction_type": "v_prediction"}
    rescaled = make_scheduler(v_base, "Euler", ScheduleOptions(rescale_zero_snr=True))
    assert rescaled.config.rescale_betas_zero_snr is True
    assert rescaled.config.timestep_spacing == "trailing"
    pndm = make_scheduler(v_base, "PNDM", ScheduleOptions(rescale_zero_snr=True))
    assert pndm.alphas_cumprod[-1].item() == pytest.approx(2**-24, rel=1e-3)


def test_zero_snr_on_an_epsilon_model_is_refused(sd_base):
    with pytest.raises(SamplerError, match="needs a v-prediction model; sd15 predicts epsilon"):
        make_scheduler(sd_base, "DDIM", ScheduleOptions(rescale_zero_snr=True), model_name="sd15")


def test_karras_on_ddim_is_a_clear_error(sd_base):
    with pytest.raises(SamplerError) as caught:
        make_scheduler(sd_base, "DDIM", ScheduleOptions(sigmas=Sigmas.karras), ModelKind.vp)
    assert str(caught.value) == (
        "Karras sigmas do not apply to DDIM; "
        "choose a sigma-based sampler such as Euler or DPM++ 2M."
    )


def test_spacing_on_a_sampler_without_spacing_is_refused(sd_base):
    with pytest.raises(SamplerError, match="Timestep spacing cannot be set for DPM\\+\\+ 2S"):
        make_scheduler(sd_base, "DPM++ 2S", ScheduleOptions(spacing=Spacing.leading))


def test_beta_sigmas_on_integer_timestep_solvers_are_refused(sd_base):
    with pytest.raises(SamplerError, match="IndexError"):
        make_scheduler(sd_base, "DPM++ 2M", ScheduleOptions(sigmas=Sigmas.beta))
    assert make_scheduler(
        sd_base, "LMS", ScheduleOptions(sigmas=Sigmas.beta)
    ).config.use_beta_sigmas


def test_karras_sigmas_on_zero_snr_multistep_solvers_are_refused(emoji_base):
    with pytest.raises(SamplerError, match="collide near pure noise"):
        make_scheduler(emoji_base, "UniPC", ScheduleOptions(sigmas=Sigmas.karras))
    assert make_scheduler(emoji_base, "Euler", ScheduleOptions(sigmas=Sigmas.karras))


def test_model_config_is_preserved_and_sampler_keys_reset(emoji_base):
    shipped = {**emoji_base, "use_karras_sigmas": True, "solver_order": 3}
    scheduler = make_scheduler(shipped, "DPM++ 2M", DEFAULT)
    config = scheduler.config
    assert config.prediction_type == "v_prediction" and config.rescale_betas_zero_snr
    assert config.timestep_spacing == "trailing"
    assert not config.use_karras_sigmas and config.solver_order == 2


def test_flow_heun_refuses_dynamic_shifting(flow_base):
    shifted = {**flow_base, "use_dynamic_shifting": True}
    with pytest.raises(SamplerError, match="resolution-dependent shift"):
        make_scheduler(shifted, "Flow Heun", DEFAULT, ModelKind.flow)


def test_unknown_sampler_name_is_refused(sd_base):
    with pytest.raises(SamplerError, match="Unknown sampler 'Nope'"):
        make_scheduler(sd_base, "Nope", DEFAULT, ModelKind.vp)


def test_model_kind_of_scheduler_configs(sd_base, flow_base):
    assert model_kind_of(flow_base) is ModelKind.flow
    assert model_kind_of(sd_base) is ModelKind.vp
    assert model_kind_of(config_of(DDIMScheduler())) is ModelKind.vp
    assert model_kind_of({"_class_name": "UniPCMultistepScheduler", "use_flow_sigmas": True}) is (
        ModelKind.flow
    )

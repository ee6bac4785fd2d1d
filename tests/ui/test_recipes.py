"""Recipe warnings: settings that are valid but have no effect or work against the model."""

from __future__ import annotations

from studio.core.params import GenerationParams, ScheduleOptions, Sigmas, Spacing
from studio.core.recipes import NEGATIVE_IGNORED, recipe_warnings
from studio.core.settings import Settings


def warn(params: GenerationParams, *, distilled: bool = False, eta: bool = False) -> list[str]:
    return recipe_warnings(params, guidance_distilled=distilled, sampler_uses_eta=eta)


def test_default_recipes_have_no_warnings() -> None:
    s = Settings()
    assert warn(s.teacher.params(s.shared)) == []
    assert warn(s.student.params(s.shared), distilled=True, eta=True) == []


def test_negative_prompt_without_guidance() -> None:
    params = GenerationParams(negative_prompt="blurry", guidance_scale=1.0)
    assert warn(params) == [NEGATIVE_IGNORED]
    assert warn(params.with_(guidance_scale=3.0)) == []


def test_guidance_on_a_distilled_student() -> None:
    (message,) = warn(GenerationParams(guidance_scale=2.5), distilled=True)
    assert "guidance-distilled" in message and "CFG 1" in message


def test_guidance_between_zero_and_one() -> None:
    (message,) = warn(GenerationParams(guidance_scale=0.5))
    assert "same as CFG 1" in message


def test_eta_on_a_sampler_that_ignores_it() -> None:
    (message,) = warn(GenerationParams(sampler="Euler", eta=0.3))
    assert message == "Eta 0.3 is ignored: Euler does not use eta."
    assert warn(GenerationParams(sampler="DDIM", eta=0.3), eta=True) == []


def test_karras_sigmas_on_a_sampler_without_sigmas() -> None:
    params = GenerationParams(sampler="DDIM", schedule=ScheduleOptions(sigmas=Sigmas.karras))
    (message,) = warn(params)
    assert message.startswith("Karras sigmas do not apply to DDIM")
    assert warn(params.with_(sampler="Euler")) == []


def test_many_steps_on_a_few_step_sampler() -> None:
    (message,) = warn(GenerationParams(sampler="LCM", num_inference_steps=250))
    assert "few-step sampler" in message
    assert warn(GenerationParams(sampler="LCM", num_inference_steps=8)) == []


def test_zero_snr_with_leading_spacing() -> None:
    schedule = ScheduleOptions(rescale_zero_snr=True, spacing=Spacing.leading)
    (message,) = warn(GenerationParams(schedule=schedule))
    assert "trailing" in message


def test_several_warnings_and_bad_types() -> None:
    params = GenerationParams(
        sampler="Euler", negative_prompt="x", guidance_scale=1.0, eta=0.5, num_inference_steps=10
    )
    assert len(warn(params)) == 2
    assert warn(GenerationParams(guidance_scale="high")) == []  # type: ignore[arg-type]
    assert warn(GenerationParams(sampler="Nope", negative_prompt="x", guidance_scale=1)) == [
        NEGATIVE_IGNORED
    ]

"""The sampler catalogue: names, lookups and which models each sampler fits."""

from __future__ import annotations

import pytest

from studio.core.samplers import (
    SAMPLER_NAMES,
    SAMPLERS,
    ModelKind,
    find_sampler,
    sampler_fits,
)


def test_catalogue_has_many_unique_names() -> None:
    assert len(SAMPLER_NAMES) >= 20
    assert len({name.lower() for name in SAMPLER_NAMES}) == len(SAMPLER_NAMES)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_lookup_ignores_case_and_spaces(name: str) -> None:
    spec = find_sampler(name)
    assert spec is not None and spec.name == name
    assert find_sampler(name.upper()) is spec
    assert find_sampler(f"  {name.lower()} ") is spec


def test_unknown_names_are_none() -> None:
    assert find_sampler("Euler b") is None
    assert find_sampler("") is None


def test_flow_samplers_fit_only_flow_models() -> None:
    flow = [s for s in SAMPLERS if s.scheduler.startswith("FlowMatch")]
    assert {s.name for s in flow} >= {"Flow Euler", "Flow Heun"}
    for spec in SAMPLERS:
        is_flow = spec in flow
        assert sampler_fits(spec, ModelKind.flow) is is_flow, spec.name
        assert sampler_fits(spec, ModelKind.vp) is not is_flow, spec.name


def test_specs_are_immutable_plain_data() -> None:
    spec = find_sampler("DPM++ 2M Karras")
    assert spec is not None
    assert spec.overrides["use_karras_sigmas"] is True
    with pytest.raises(TypeError):
        spec.overrides["use_karras_sigmas"] = False  # type: ignore[index]


def test_eta_samplers_are_marked() -> None:
    uses_eta = {s.name for s in SAMPLERS if s.uses_eta}
    assert {"DDIM", "TCD"} <= uses_eta
    assert "Euler" not in uses_eta

"""Training an AMED predictor for one (model, NFE) against a many-step trajectory of the model.

For each batch of prompts and starting noise, the reference is DPM++ 2M (the convergence
reference's solver) on a fine grid that contains every point of the AMED grid, `substeps` steps
per AMED interval, with the same classifier-free guidance. The solver then walks the AMED grid
from the same noise with its variant's rule (`rules`): a DDIM step, then AMED (or plugin) steps;
each learned step's result is compared with the reference at the same grid point (mean squared
error in x), and the gradient reaches the predictor through the scale c and, through the
intermediate sigma, the second evaluation's input and time. The UNet stays frozen. Each step
starts from the solver's own previous result (and the plugin's history), detached, as at
sampling time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.engine.amed.plan import (
    PLUGIN_POWER_CHOICES,
    AmedPlan,
    StepKind,
    Variant,
    make_plan,
    mid_sigma,
    per_sample,
    sigma_table,
    split_output,
    timestep_of,
)
from studio.engine.amed.predictor import AmedPredictor
from studio.engine.amed.rules import make_rule
from studio.engine.amed.scheduler import pooled
from studio.engine.analytic.sources import (
    plain_cross_attention,
    proxy_prompts,
    read_emoji_rows,
    uses_dataset,
)
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.samplers import SamplerError, make_scheduler

REFERENCE_SAMPLER = "DPM++ 2M"
REFERENCE_TASK = "AMED: reference trajectories"
GRID_TASK = "AMED: choosing the grid"
TRAINING_TASK = "AMED: training the predictor"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class FitOptions:
    """How an AMED predictor is trained: data size, reference accuracy, optimiser."""

    samples: int = 64
    batch_size: int = 16
    substeps: int = 12
    epochs: int = 3
    lr: float = 5e-3
    guidance: float | None = None
    seed: int = 0
    grid_powers: tuple[float, ...] = PLUGIN_POWER_CHOICES


@dataclass(frozen=True, slots=True)
class FitResult:
    """A trained predictor and how far the solver ended from the reference before and after."""

    predictor: AmedPredictor
    guidance: float
    loss_before: float
    loss_after: float
    mean_r: tuple[float, ...]
    mean_c: tuple[float, ...]
    variant: Variant = Variant.solver
    grid_power: float | None = None
    power_losses: tuple[tuple[float, float], ...] = ()


def default_guidance(pipe: Any) -> float:
    return 3.0 if isinstance(pipe, EmojiPipeline) else 7.5


def check_fittable(pipe: Any, model_name: str) -> None:
    if isinstance(pipe, EmojiPipeline) or plain_cross_attention(pipe):
        return
    raise SamplerError(
        f"AMED trains its predictor on the embedded emoji models and Stable Diffusion 1.x/2.x; "
        f"{model_name} is a {type(pipe).__name__}."
    )


class GuidedCall:
    """Calls a pipeline's UNet with classifier-free guidance on rows of fixed prompts."""

    def __init__(self, pipe: Any, prompts: Sequence[str], guidance: float) -> None:
        self.unet, self.guidance = pipe.unet, guidance
        n = len(prompts)
        if isinstance(pipe, EmojiPipeline):
            states, mask, pool = pipe.encode_prompt(list(prompts), [""] * n, True)
            self.parts = {"encoder_hidden_states": states, "encoder_attention_mask": mask}
            self.parts["class_labels"] = pool
        else:
            cond, uncond = pipe.encode_prompt(
                list(prompts), pipe.device, 1, True, negative_prompt=[""] * n
            )
            self.parts = {"encoder_hidden_states": torch.cat([uncond, cond])}
        self.count = n

    def __call__(self, x: torch.Tensor, t: torch.Tensor, rows: slice) -> torch.Tensor:
        picks = list(range(self.count))[rows]
        index = torch.tensor(picks + [p + self.count for p in picks])
        kwargs = {k: v[index.to(v.device)] for k, v in self.parts.items()}
        x2 = torch.cat([x, x]).to(self.unet.device, self.unet.dtype)
        t2 = torch.cat([t, t]).to(self.unet.device)
        out = self.unet(x2, t2, **kwargs).sample.float()
        uncond, cond = out.chunk(2)
        return uncond + self.guidance * (cond - uncond)


@contextlib.contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    saved = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), saved, strict=True):
            p.requires_grad_(flag)


def fine_timesteps(plan: AmedPlan, substeps: int) -> list[int]:
    """The reference grid: `substeps` steps in each AMED interval, every AMED point on it."""
    points: list[int] = []
    for t, t_next in zip(plan.timesteps[:-1], plan.timesteps[1:], strict=True):
        end = max(t_next, 0)
        for k in range(substeps):
            points.append(round(t + (end - t) * k / substeps))
    points.append(0)
    return sorted(set(points), reverse=True)


@torch.no_grad()
def reference_points(
    call: GuidedCall,
    base_config: dict,
    plan: AmedPlan,
    noise: torch.Tensor,
    rows: slice,
    substeps: int,
) -> dict[int, torch.Tensor]:
    """The reference x at each AMED grid point after the first (by grid index)."""
    scheduler: Any = make_scheduler(base_config, REFERENCE_SAMPLER)
    fine = fine_timesteps(plan, substeps)
    scheduler.set_timesteps(timesteps=fine, device=call.unet.device)
    wanted = {t: j for j, t in enumerate(plan.timesteps) if j > 0}
    x = noise * scheduler.init_noise_sigma
    found: dict[int, torch.Tensor] = {}
    steps = [int(t) for t in scheduler.timesteps]
    for k, t in enumerate(steps):
        model_in = scheduler.scale_model_input(x, scheduler.timesteps[k])
        out = call(model_in, torch.full((len(x),), float(t)), rows)
        x = scheduler.step(out, scheduler.timesteps[k], x).prev_sample.float()
        after = steps[k + 1] if k + 1 < len(steps) else -1
        if after in wanted:
            found[wanted[after]] = x.clone()
    return found


class FeatureTap:
    """Keeps the pooled output of a UNet's mid block from its latest call."""

    def __init__(self, unet: Any) -> None:
        self.value: torch.Tensor | None = None
        self.handle = unet.mid_block.register_forward_hook(self._keep)

    def _keep(self, module: Any, args: Any, output: Any) -> None:
        self.value = pooled(output)

    def features(self, batch: int) -> torch.Tensor:
        assert self.value is not None
        return self.value[-batch:]

    def close(self) -> None:
        self.handle.remove()


@dataclass(frozen=True, slots=True)
class Walker:
    """Runs the AMED solver on one plan with a guided model, a feature tap and a predictor."""

    call: GuidedCall
    tap: FeatureTap
    predictor: AmedPredictor
    plan: AmedPlan
    prediction: str
    sigmas: Any

    def __call__(
        self,
        noise: torch.Tensor,
        rows: slice,
        targets: dict[int, torch.Tensor] | None = None,
        train: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """The solver's result, its per-step losses to `targets` (with a graph when `train`)
        and the (r, c) of each AMED step."""
        call, plan, prediction = self.call, self.plan, self.prediction
        rule = make_rule(plan)
        x, losses, picks = noise.float(), [], []
        n = len(x)
        for i, kind in enumerate(plan.kinds):
            sigma, sigma_next = plan.sigmas[i], plan.sigmas[i + 1]
            t, t_next = plan.timesteps[i], plan.timesteps[i + 1]
            with torch.no_grad():
                out = call(x, torch.full((n,), float(t)), rows)
            eps, x0 = split_output(out, x, sigma, prediction)
            if kind is StepKind.ddim:
                x = rule.plain(x, eps, x0, i)
                continue
            with torch.set_grad_enabled(train):
                r, c = self.predictor(self.tap.features(n), t, t_next)
                mid = mid_sigma(r, sigma, sigma_next)
                x_mid = rule.to_mid(x, eps, x0, i, mid)
                out_mid = call(x_mid, timestep_of(mid, self.sigmas), rows)
                eps_mid, x0_mid = split_output(out_mid, x_mid, per_sample(mid, x), prediction)
                x_next = rule.land(x, x_mid, eps_mid, x0_mid, i, mid, c)
                if targets is not None:
                    losses.append(((x_next - targets[i + 1]) ** 2).mean())
            picks.append((r.detach(), c.detach()))
            rule.detach()
            x = x_next.detach()
        return x, losses, picks


def fit_prompts(pipe: Any, count: int, dataset: Path | None, seed: int) -> list[str]:
    if dataset is not None and uses_dataset(pipe, dataset):
        return read_emoji_rows(dataset, count, seed)[1]
    return proxy_prompts(pipe, count)


def fit_predictor(
    pipe: Any,
    base_config: dict,
    nfe: int,
    options: FitOptions,
    dataset: Path | None,
    progress: Progress,
    variant: Variant = Variant.solver,
) -> FitResult:
    """Train a predictor of `variant` for `pipe` at `nfe` evaluations (progress: (task, done,
    total))."""
    unet = pipe.unet
    scheduler: Any = make_scheduler(base_config, "DDIM trailing")
    alphas = scheduler.alphas_cumprod
    plugin = variant is Variant.plugin
    # The plugin learns only its last interval, whose end is the clean image: one reference
    # serves every grid it may choose, so it is taken on the time-uniform grid.
    plan = make_plan(alphas, nfe, variant, 1.0 if plugin else None)
    prediction = str(base_config.get("prediction_type", "epsilon"))
    guidance = options.guidance if options.guidance is not None else default_guidance(pipe)
    prompts = fit_prompts(pipe, options.samples, dataset, options.seed)
    call = GuidedCall(pipe, prompts, guidance)
    shape = (unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
    gen = torch.Generator("cpu").manual_seed(options.seed)
    noise = torch.randn((len(prompts), *shape), generator=gen).to(unet.device)
    size = max(1, options.batch_size)
    batches = [slice(i, min(i + size, len(prompts))) for i in range(0, len(prompts), size)]
    targets = []
    for done, rows in enumerate(batches, start=1):
        targets.append(
            reference_points(call, base_config, plan, noise[rows], rows, options.substeps)
        )
        progress(REFERENCE_TASK, done, len(batches))
    torch.manual_seed(options.seed)
    predictor = AmedPredictor(unet.mid_block.resnets[-1].out_channels).to(unet.device)
    optimiser = torch.optim.Adam(predictor.parameters(), lr=options.lr)
    tap = FeatureTap(unet)
    sigmas = sigma_table(alphas)
    trial = Trial(call, tap, predictor, prediction, sigmas, noise, batches, targets)
    power: float | None = None
    power_losses: tuple[tuple[float, float], ...] = ()
    try:
        with frozen(unet):
            if plugin:
                power, power_losses = trial.choose_power(alphas, nfe, options.grid_powers, progress)
                plan = make_plan(alphas, nfe, variant, power)
            walker = trial.walker(plan)
            before = (
                dict(power_losses)[power]
                if power is not None
                else _mean_loss(walker, noise, batches, targets)
            )
            total = options.epochs * len(batches)
            for epoch in range(options.epochs):
                for b, rows in enumerate(batches):
                    _, losses, _ = walker(noise[rows], rows, targets[b], train=True)
                    optimiser.zero_grad()
                    torch.stack(losses).sum().backward()
                    optimiser.step()
                    progress(TRAINING_TASK, epoch * len(batches) + b + 1, total)
            after = _mean_loss(walker, noise, batches, targets)
            picks = _mean_picks(walker, noise, batches)
    finally:
        tap.close()
    predictor.eval().requires_grad_(False)
    return FitResult(predictor, guidance, before, after, *picks, variant, power, power_losses)


@dataclass(frozen=True, slots=True)
class Trial:
    """A fit's fixed parts (guided model, tap, predictor, data and references): walkers on any
    plan, and the plugin's choice of grid."""

    call: GuidedCall
    tap: FeatureTap
    predictor: AmedPredictor
    prediction: str
    sigmas: Any
    noise: torch.Tensor
    batches: list[slice]
    targets: list[dict[int, torch.Tensor]]

    def walker(self, plan: AmedPlan, predictor: AmedPredictor | None = None) -> Walker:
        chosen = self.predictor if predictor is None else predictor
        return Walker(self.call, self.tap, chosen, plan, self.prediction, self.sigmas)

    def choose_power(
        self, alphas: torch.Tensor, nfe: int, powers: Sequence[float], progress: Progress
    ) -> tuple[float, tuple[tuple[float, float], ...]]:
        """The grid power whose plugin, untrained (r = 1/2, c = 1), ends nearest the
        reference, and each candidate's distance."""
        if not powers:
            raise ValueError("The AMED-Plugin's fit needs at least one grid power to try.")
        neutral = AmedPredictor(self.predictor.feature_dim).to(self.noise.device)
        losses = []
        for done, power in enumerate(powers, start=1):
            walker = self.walker(make_plan(alphas, nfe, Variant.plugin, power), neutral)
            losses.append((power, _mean_loss(walker, self.noise, self.batches, self.targets)))
            progress(GRID_TASK, done, len(powers))
        return min(losses, key=lambda pair: pair[1])[0], tuple(losses)


def _mean_loss(walker: Walker, noise: torch.Tensor, batches: list[slice], targets: list) -> float:
    total = 0.0
    for b, rows in enumerate(batches):
        _, losses, _ = walker(noise[rows], rows, targets[b])
        total += float(torch.stack(losses).sum())
    return total / len(batches)


def _mean_picks(
    walker: Walker, noise: torch.Tensor, batches: list[slice]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    count = len(walker.plan.amed_intervals)
    rs: list[list[float]] = [[] for _ in range(count)]
    cs: list[list[float]] = [[] for _ in range(count)]
    for rows in batches:
        _, _, picks = walker(noise[rows], rows)
        for k, (r, c) in enumerate(picks):
            rs[k] += r.tolist()
            cs[k] += c.tolist()
    return tuple(sum(v) / len(v) for v in rs), tuple(sum(v) / len(v) for v in cs)

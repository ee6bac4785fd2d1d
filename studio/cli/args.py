"""Arguments and values every command group shares: model names, recipes, sizes, progress.

A leaf of the `studio.cli` package: it imports no other cli module, so every group can use it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from studio.core.events import Timings
from studio.core.jobs import PreviewDecoder, PreviewOptions
from studio.core.model_resolver import ModelResolver
from studio.core.models import EMBEDDED_SIDE, EMBEDDED_TEACHER, ModelRef
from studio.core.native_size import default_size as models_default_size
from studio.core.native_size import native_size
from studio.core.params import (
    GenerationParams,
    ScheduleOptions,
    Sigmas,
    Spacing,
    ValidationError,
    validate,
)
from studio.core.settings import DEFAULT_PROMPT
from studio.core.skip_tuning import SkipTuning


@cache
def model_resolver() -> ModelResolver:
    """The CLI's model resolver: the shipped models, and the shipped and the user's presets."""
    return ModelResolver.shipped()


def model_ref(text: str) -> ModelRef:
    """A model argument (see `studio.core.model_names`): an embedded name, a folder, a file
    (`#config=`), a hub id, `preset:<name>` or a LoRA student (`#lora=`)."""
    try:
        return model_resolver().resolve(text)
    except ValueError as exc:
        raise SystemExit(f"studio: {exc}") from None


def model_arg(
    parser: argparse.ArgumentParser, default: str = EMBEDDED_TEACHER, help: str | None = None
) -> None:
    """`--model` / `-m`: an embedded name, a folder, a file or a hub id."""
    parser.add_argument("--model", "-m", default=default, help=help)


def quiet_arg(parser: argparse.ArgumentParser, help: str = "no progress bar") -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help=help)


def threads_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")


def progress(args: argparse.Namespace) -> bool | None:
    """What a headless run shows: nothing with --quiet, else a bar when stderr is a terminal."""
    return False if args.quiet else None


def fail(text: str, code: int = 1) -> int:
    """Say what went wrong in one line on stderr and return the exit code."""
    print(f"studio: {text}", file=sys.stderr)
    return code


def timings_text(t: Timings) -> str:
    """A lane's seconds, the model load apart from the generation (the engine's `total_s`,
    which comparisons and speed-ups use, leaves the load out): "load 9.80 s + generation
    10.90 s (encode 0.12 s, denoise 10.31 s, decode 0.47 s) = 20.70 s"; a model that was
    already loaded shows "load 0 s (cached)"."""
    load = f"load {t.load_s:.2f} s" if t.load_s > 0 else "load 0 s (cached)"
    phases = f"encode {t.encode_s:.2f} s, denoise {t.denoise_s:.2f} s, decode {t.decode_s:.2f} s"
    return f"{load} + generation {t.total_s:.2f} s ({phases}) = {t.load_s + t.total_s:.2f} s"


def recipe_args(
    parser: argparse.ArgumentParser,
    prefix: str = "",
    steps: int = 25,
    guidance: float = 3.0,
    sampler: str = "DPM++ 2M",
) -> None:
    """One lane's recipe options (`--steps`, or `--teacher-steps` with a prefix)."""
    dash = f"--{prefix}-" if prefix else "--"
    dest = f"{prefix}_" if prefix else ""
    parser.add_argument(f"{dash}sampler", dest=f"{dest}sampler", default=sampler)
    parser.add_argument(f"{dash}steps", dest=f"{dest}steps", type=int, default=steps)
    parser.add_argument(f"{dash}guidance", dest=f"{dest}guidance", type=float, default=guidance)
    parser.add_argument(f"{dash}eta", dest=f"{dest}eta", type=float, default=0.0)
    parser.add_argument(
        f"{dash}classifier-scale",
        dest=f"{dest}classifier_scale",
        type=float,
        default=0.0,
        help="classifier guidance toward the prompt's emoji subgroup (embedded models; 0: off)",
    )
    parser.add_argument(
        f"{dash}sigmas", dest=f"{dest}sigmas", choices=[s.value for s in Sigmas], default="default"
    )
    parser.add_argument(
        f"{dash}spacing",
        dest=f"{dest}spacing",
        choices=[s.value for s in Spacing],
        default="default",
    )
    parser.add_argument(
        f"{dash}zero-snr",
        dest=f"{dest}zero_snr",
        action="store_true",
        help="rescale the schedule to zero terminal SNR",
    )
    for end, where in (("top", "outermost"), ("bottom", "innermost")):
        parser.add_argument(
            f"{dash}skip-{end}",
            dest=f"{dest}skip_{end}",
            type=float,
            default=1.0,
            metavar="RHO",
            help=f"Skip-Tuning factor of the {where} UNet skip connections (1 = off)",
        )


def shared_args(parser: argparse.ArgumentParser) -> None:
    """Prompt, seed, size, batch, output file and progress: the same for every lane."""
    parser.add_argument("--prompt", "-p", default=DEFAULT_PROMPT)
    parser.add_argument("--negative", "-n", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--out", "-o", type=Path, default=None)
    quiet_arg(parser)


def output_file(out: Path | None, default_name: str) -> Path:
    """Where a command writes its picture: `default_name` here without --out, inside the folder
    when --out names one, else --out itself; ValidationError, before any work, when --out's
    folder does not exist."""
    if out is None:
        return Path(default_name)
    if out.is_dir():
        return out / default_name
    if not out.parent.is_dir():
        raise ValidationError([f"--out {out}: there is no folder {out.parent} to write into."])
    return out


def lane_params(args: argparse.Namespace, prefix: str = "") -> GenerationParams:
    """The validated parameters of one lane (`prefix`: "teacher" or "student" on compare)."""

    def get(name: str):
        return getattr(args, f"{prefix}_{name}" if prefix else name)

    schedule = ScheduleOptions(
        sigmas=Sigmas(get("sigmas")),
        spacing=Spacing(get("spacing")),
        rescale_zero_snr=get("zero_snr"),
    )
    return validate(
        GenerationParams(
            prompt=args.prompt,
            negative_prompt=args.negative,
            sampler=get("sampler"),
            num_inference_steps=get("steps"),
            guidance_scale=get("guidance"),
            eta=get("eta"),
            classifier_scale=get("classifier_scale"),
            seed=args.seed,
            width=args.width or EMBEDDED_SIDE,
            height=args.height or EMBEDDED_SIDE,
            batch_size=args.batch,
            schedule=schedule,
            skip_tuning=SkipTuning(rho_top=get("skip_top"), rho_bottom=get("skip_bottom")),
        )
    )


def model_side(ref: ModelRef) -> int:
    """The default image side for a model: its family's (see `studio.core.native_size`)."""
    return max(native_size(ref, model_resolver().presets))


def default_size(args: argparse.Namespace, refs: Sequence[ModelRef]) -> None:
    """Fill in --width / --height left out with the models' family size (the largest of a
    comparison's two); a size given on the command line is kept."""
    if args.width and args.height:
        return
    width, height = models_default_size(refs, model_resolver().presets)
    args.width, args.height = args.width or width, args.height or height


def engine_token(args: argparse.Namespace) -> str:
    """The served engine's token: from --token-file, else $STUDIO_SERVE_TOKEN, else none."""
    from studio.core.remote_api import TOKEN_ENV

    path = getattr(args, "token_file", None)
    if path is None:
        import os

        return os.environ.get(TOKEN_ENV, "").strip()
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"studio: the token file {path} cannot be read ({exc}).") from None
    if not token or len(token) < 16:
        raise SystemExit(f"studio: the token in {path} must be at least 16 characters.")
    return token


def token_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-file",
        type=Path,
        help="a file holding the served engine's token (default: $STUDIO_SERVE_TOKEN)",
    )


def remote_model_ref(text: str) -> ModelRef:
    """A model for a served engine, by name: one of its embedded models or of its models folder
    (the server resolves it, and refuses what it does not serve)."""
    return ModelRef.embedded(text.strip())


def preview_decoder_args(parser: argparse.ArgumentParser) -> None:
    """How --animate's frames (the step previews) are decoded from a latent model's latents."""
    parser.add_argument(
        "--preview-decoder",
        choices=[d.value for d in PreviewDecoder],
        default=PreviewDecoder.linear.value,
        help="with --animate: the previews' decoder: the linear latent->RGB map (default), the "
        "family's tiny VAE (TAESD, TAESDXL, TAESD3, TAEF1) or the model's own VAE",
    )
    parser.add_argument(
        "--tiny-vae",
        type=Path,
        default=None,
        metavar="DIR",
        help="a folder holding tiny VAEs (taesd/, taesdxl/, ... or one decoder); without it, "
        "the Hugging Face cache",
    )
    parser.add_argument(
        "--download-tiny-vae",
        action="store_true",
        help="fetch a missing tiny VAE from the hub (a few MB), with progress; never otherwise",
    )


def preview_options(args: argparse.Namespace) -> PreviewOptions:
    """The previews --animate asks for: every step, in the chosen decoder; none without it."""
    return PreviewOptions(
        every=1 if args.animate is not None else 0,
        decoder=PreviewDecoder(args.preview_decoder),
        tiny_vae_dir=str(args.tiny_vae or ""),
        download_tiny=args.download_tiny_vae,
    )

"""`studio samplers` and `studio params`: the sampler catalogue, and the parameters in a PNG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.cli.args import fail


def register(sub: argparse._SubParsersAction) -> None:
    sam = sub.add_parser("samplers", help="list the sampler registry")
    sam.add_argument("--kind", choices=["vp", "flow"], default=None)
    sam.set_defaults(func=cmd_samplers)
    par = sub.add_parser(
        "params",
        help="print the generation parameters stored in a PNG (Studio, A1111, ComfyUI, InvokeAI)",
    )
    par.add_argument("image", type=Path)
    par.set_defaults(func=cmd_params)


def cmd_samplers(args: argparse.Namespace) -> int:
    from studio.core.samplers import SAMPLERS, ModelKind

    width = max(len(spec.name) for spec in SAMPLERS)
    for spec in SAMPLERS:
        if args.kind and ModelKind(args.kind) not in spec.kinds:
            continue
        kinds = ",".join(sorted(k.value for k in spec.kinds))
        print(f"{spec.name:<{width}} {spec.scheduler:<34} {kinds:<5} {spec.summary}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from studio.core.metadata import MetadataError, to_json_dict
    from studio.core.png_parameters import read_png_parameters

    try:
        parsed = read_png_parameters(args.image)
    except (MetadataError, OSError) as exc:
        return fail(str(exc))
    if parsed is None:
        return fail(f"{args.image} has no generation parameters.")
    print(json.dumps(to_json_dict(parsed), indent=2, ensure_ascii=False))
    return 0

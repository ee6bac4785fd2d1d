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
    par = sub.add_parser("params", help="print the generation parameters stored in a PNG")
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
    from studio.core.metadata import MetadataError, parse_parameters, to_json_dict
    from studio.core.pngio import read_parameters

    try:
        text = read_parameters(args.image)
        if text is None:
            return fail(f"{args.image} has no generation parameters.")
        parsed = parse_parameters(text)
    except (MetadataError, OSError) as exc:
        return fail(str(exc))
    print(json.dumps(to_json_dict(parsed), indent=2, ensure_ascii=False))
    return 0

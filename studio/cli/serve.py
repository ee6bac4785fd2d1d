"""`studio serve`: the engine as a Ray Serve application, for windows on other machines."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from studio.cli.args import engine_token, fail, token_arg

NEEDS_EXTRA = (
    "`studio serve` needs the cluster extra (Ray): pip install '.[cluster]' in a Python "
    "install of Studio, or: bash packaging/bootstrap.sh --cluster"
)


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve the engine on a Ray cluster (Ray Serve) for windows on other machines",
        description="Serve the engine over HTTP from a Ray cluster: each engine replica holds "
        "one GPU where CUDA exists, one CPU otherwise. Connect with `studio --engine URL`.",
    )
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="start a Ray instance here")
    where.add_argument(
        "--address",
        default="auto",
        help="the Ray cluster to join (default: the one `ray start --head` runs here)",
    )
    serve.add_argument("--host", default="", help="default: 127.0.0.1, or 0.0.0.0 with a token")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--replicas", type=int, default=1, help="engine replicas (default 1)")
    serve.add_argument("--min-replicas", type=int, default=0, help="autoscaling lower bound")
    serve.add_argument("--max-replicas", type=int, default=0, help="autoscaling upper bound")
    serve.add_argument(
        "--gpus-per-replica",
        type=float,
        default=None,
        help="default: 1 when the cluster has GPUs, else 0 (one CPU each)",
    )
    serve.add_argument("--models", type=Path, help="the folder of models it serves by name")
    serve.add_argument(
        "--allow-hub", action="store_true", help="let clients name Hugging Face hub models"
    )
    serve.add_argument(
        "--engine-thread",
        action="store_true",
        help="run each replica's engine on a thread of the replica, not in its own child process "
        "(the default: faster, and an engine crash does not take the replica down)",
    )
    serve.add_argument(
        "--runner", default="default", choices=("default", "pretend"), help=argparse.SUPPRESS
    )
    token_arg(serve)
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import ray

        from studio.cluster import serve_app
    except ImportError:
        return fail(NEEDS_EXTRA, 2)
    from studio.core.remote_api import token_digest

    token = engine_token(args)
    host = args.host or ("0.0.0.0" if token else "127.0.0.1")
    if args.models is not None and not args.models.is_dir():
        return fail(f"the models folder {args.models} does not exist.", 2)
    settings = serve_app.ServeSettings(
        host=host,
        port=args.port,
        replicas=args.replicas,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        models_root=str(args.models.resolve()) if args.models else "",
        allow_hub=args.allow_hub,
        token_digest=token_digest(token),
        runner=args.runner,
        engine_in_thread=args.engine_thread,
    )
    found = settings.problems()
    if found:
        return fail(" ".join(found), 2)
    address = "local" if args.local else args.address
    try:
        url = serve_app.start(settings, address=address, gpus=args.gpus_per_replica)
    except ConnectionError as exc:
        return fail(
            f"no Ray cluster at {address} ({exc}); start one with `ray start --head` "
            "or use --local.",
            2,
        )
    print(f"Serving the engine at {url} ({settings.replica_words} replica(s)).")
    if not token:
        print(serve_app.NO_TOKEN_HOST)
    print("Connect with: studio --engine " + url + ("  --token-file FILE" if token else ""))
    print("Ctrl+C stops serving.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    print("Stopping…", file=sys.stderr)
    serve_app.stop()
    ray.shutdown()
    return 0

"""`studio serve`'s application: engine replicas behind one HTTP ingress, on Ray Serve."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import ray
from ray import serve
from ray.serve import Application

from studio.cluster.board import board_handle
from studio.cluster.ingress import PARTS_PER_REPLICA, EngineIngress, IngressSettings
from studio.cluster.replica import EngineReplica
from studio.core.engine_options import EngineOptions
from studio.core.remote_api import LOOPBACK

APP_NAME = "studio"
ENGINE = "EngineReplica"
INGRESS = "EngineIngress"
NO_TOKEN_HOST = (
    "Without a token the engine answers only on this machine (127.0.0.1): give it a token "
    "(--token-file or $STUDIO_SERVE_TOKEN) to serve other machines."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeSettings:
    """How `studio serve` runs: where it listens, how many replicas and what each holds."""

    host: str = "127.0.0.1"
    port: int = 8000
    replicas: int = 1
    min_replicas: int = 0
    max_replicas: int = 0
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    models_root: str = ""
    allow_hub: bool = False
    token_digest: str = ""
    runner: str = "default"
    options: EngineOptions | None = None
    engine_in_thread: bool = False

    def problems(self) -> list[str]:
        found = []
        if not self.token_digest and self.host not in LOOPBACK:
            found.append(NO_TOKEN_HOST)
        if not 1 <= self.port <= 65535:
            found.append(f"The port must be 1 to 65535, not {self.port}.")
        if self.autoscaling:
            if not 1 <= self.min_replicas <= self.max_replicas:
                found.append("Autoscaling needs 1 <= --min-replicas <= --max-replicas.")
        elif self.replicas < 1:
            found.append(f"The replica count must be at least 1, not {self.replicas}.")
        if self.gpus_per_replica < 0 or self.cpus_per_replica <= 0:
            found.append("A replica needs a positive CPU share and no negative GPU share.")
        return found

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas > 0

    @property
    def replica_words(self) -> str:
        if self.autoscaling:
            return f"{self.min_replicas}-{self.max_replicas}"
        return str(self.replicas)


def application(settings: ServeSettings) -> Application:
    """The Serve application of these settings (nothing runs until `serve.run`)."""
    resources = {"num_cpus": settings.cpus_per_replica}
    if settings.gpus_per_replica:
        resources["num_gpus"] = settings.gpus_per_replica
    scaling: dict = (
        {
            "autoscaling_config": {
                "min_replicas": settings.min_replicas,
                "max_replicas": settings.max_replicas,
                "target_ongoing_requests": 1,
            }
        }
        if settings.autoscaling
        else {"num_replicas": settings.replicas}
    )
    replica = serve.deployment(
        name=ENGINE,
        max_ongoing_requests=PARTS_PER_REPLICA,
        ray_actor_options=resources,
        health_check_period_s=2,
        **scaling,
    )(EngineReplica)
    engine = replica.bind(
        settings.runner,
        settings.options,
        settings.models_root,
        settings.allow_hub,
        settings.engine_in_thread,
    )
    ingress_settings = IngressSettings(
        token_digest=settings.token_digest,
        models_root=settings.models_root,
        allow_hub=settings.allow_hub,
        replicas=settings.replica_words,
        replica_count=settings.max_replicas if settings.autoscaling else settings.replicas,
        device="cuda" if settings.gpus_per_replica else "cpu",
    )
    ingress = serve.deployment(name=INGRESS, num_replicas=1, ray_actor_options={"num_cpus": 0})
    return ingress(EngineIngress).bind(engine, ingress_settings)


def start(settings: ServeSettings, address: str = "local", gpus: float | None = None) -> str:
    """Run the application on the Ray cluster at `address` ("local" starts one here) and
    return the URL clients connect to. `gpus` per replica: None takes 1 when the cluster has a
    GPU, else 0."""
    found = settings.problems()
    if found:
        raise ValueError(" ".join(found))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, configure_logging=False)
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) else 0.0
    settings = replace(settings, gpus_per_replica=gpus)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    board_handle(create=True)
    serve.run(application(settings), name=APP_NAME, route_prefix="/", blocking=False)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def stop() -> None:
    """Take the application down and let go of the cluster (the cluster itself stays up)."""
    serve.delete(APP_NAME)
    serve.shutdown()
    ray.kill(board_handle())

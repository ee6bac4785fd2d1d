"""One clear sentence for each way a job can fail."""

from __future__ import annotations

from studio.core import logs

OUT_OF_MEMORY = "The device ran out of memory: try a smaller size or batch, or close other models."


def _is_out_of_memory(exc: BaseException) -> bool:
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or "out of memory" in str(exc).lower()
    )


def describe_failure(exc: BaseException) -> str:
    """What went wrong, for the user; the traceback goes to the log."""
    if _is_out_of_memory(exc):
        return OUT_OF_MEMORY
    if type(exc).__name__ in {
        "ValidationError",
        "ModelLoadError",
        "SamplerError",
        "TextEncoderMissing",
        "DatasetSourceMissing",
        "NonFiniteImage",
    }:
        return str(exc)
    return (
        f"The job failed ({failure_detail(exc)}): try it again, or another model or "
        f"sampler, and see the full error in {logs.log_path()}."
    )


def failure_detail(exc: BaseException, limit: int = 200) -> str:
    """'TypeError: the first line of its message', shortened to `limit` characters."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:limit] if text else 'no details'}"

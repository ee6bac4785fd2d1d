"""One clear sentence for each way a job can fail."""

from __future__ import annotations

from studio import logs

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
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "no details"
    return (
        f"The job failed ({type(exc).__name__}: {text}): try it again, or another model or "
        f"sampler, and see the full error in {logs.log_path()}."
    )

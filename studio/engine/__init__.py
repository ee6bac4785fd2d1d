"""torch + diffusers: model loading, samplers, the runner, step previews, the embedded model."""

import logging


class _NoTorchvisionFallbackNotice(logging.Filter):
    """Drops transformers' notice that an image processor falls back to PIL without torchvision.

    Studio has no image processors in its path; the notice fires when diffusers imports its
    pipeline modules and would be the first thing every command prints.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "requires torchvision (not installed)" not in record.getMessage()


logging.getLogger("transformers.utils.import_utils").addFilter(_NoTorchvisionFallbackNotice())

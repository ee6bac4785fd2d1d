"""The generation parameters in a PNG, whichever tool wrote it: Studio and A1111-style tools
("parameters"), ComfyUI ("prompt", else "workflow") and InvokeAI ("invokeai_metadata", or
InvokeAI 2's "sd-metadata"), tried in that order."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from studio.core.comfyui_metadata import read_comfyui
from studio.core.invokeai_metadata import read_invokeai, read_legacy_invokeai
from studio.core.metadata import (
    MAX_PARAMETERS_CHARS,
    MetadataError,
    ParsedParameters,
    parse_parameters,
)
from studio.core.pngio import PARAMETERS_KEY, read_text_chunks

KEYS = (PARAMETERS_KEY, "prompt", "workflow", "invokeai_metadata", "sd-metadata", "Dream")
TOOLS = "Studio, A1111, ComfyUI or InvokeAI"


def parameters_from_chunks(chunks: Mapping[str, str]) -> ParsedParameters | None:
    """The parameters the text chunks hold, or None when none is one that Studio reads;
    MetadataError (one sentence) when the one found cannot be read."""
    if PARAMETERS_KEY in chunks:
        text = chunks[PARAMETERS_KEY]
        if len(text) > MAX_PARAMETERS_CHARS:
            raise MetadataError(
                f"The parameters text has {len(text)} characters, more than the"
                f" {MAX_PARAMETERS_CHARS} allowed."
            )
        return parse_parameters(text)
    if "prompt" in chunks or "workflow" in chunks:
        return read_comfyui(chunks.get("prompt"), chunks.get("workflow"))
    if "invokeai_metadata" in chunks:
        return read_invokeai(chunks["invokeai_metadata"])
    if "sd-metadata" in chunks:
        return read_legacy_invokeai(chunks["sd-metadata"])
    if "Dream" in chunks:
        raise MetadataError(
            'The PNG holds only InvokeAI 1\'s "Dream" command line, which Studio does not read.'
        )
    return None


def read_png_parameters(path: str | os.PathLike[str]) -> ParsedParameters | None:
    """The parameters of the PNG at `path` (see `parameters_from_chunks`); MetadataError naming
    the file when it cannot be read."""
    source = Path(path)
    chunks = read_text_chunks(source, KEYS)
    try:
        return parameters_from_chunks(chunks)
    except MetadataError as exc:
        raise type(exc)(f"{source.name}: {exc}") from None

"""Writes the tiny byte-level CLIP tokenizer used by the engine tests (vocab.json, merges.txt).

Run from anywhere: `python tests/data/make_tiny_tokenizer.py`. The output is committed, so the
tests never build it; rerun only to change the vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "tiny-clip-tokenizer"
MERGES = (("t", "h"), ("th", "e</w>"), ("a", "n"), ("an", "d</w>"), ("i", "n"), ("o", "n</w>"))
SPECIAL = ("<|startoftext|>", "<|endoftext|>")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable unicode symbols.

    Printable bytes map to themselves and come first; the others map to 256, 257, ... in
    byte order, so the vocabulary starts with "!" as CLIP's does.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in mapping]
    mapping |= {b: chr(256 + i) for i, b in enumerate(others)}
    return mapping


def build_vocab() -> dict[str, int]:
    symbols = list(bytes_to_unicode().values())
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in MERGES), *SPECIAL]
    return {token: index for index, token in enumerate(tokens)}


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab()
    (OUT_DIR / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", "utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in MERGES)]
    (OUT_DIR / "merges.txt").write_text("\n".join(lines) + "\n", "utf-8")
    print(f"wrote {len(vocab)} tokens and {len(MERGES)} merges to {OUT_DIR}")


if __name__ == "__main__":
    main()

"""Prompt encodings computed once: a small LRU of what a pipeline's text encoders returned.

During one `pipe(...)` call, `PromptCache.serving(pipe)` puts a memoizing wrapper over the
`forward` of each text encoder the pipeline holds (an instance attribute, removed on exit; the
way accelerate's offload hooks wrap it too). The pipeline's own `encode_prompt` still runs, so
every family (SD 1.x/2.x, SDXL with its pooled embeddings and clip skip, SD3, Flux, LCM, the
embedded emoji pipeline) post-processes the encodings exactly as it always did; only a forward
pass already computed is not run again. A hit returns a copy of the very tensors the miss
produced, so images are bit-identical with and without the cache.

The key is what decides a forward's result: the encoder (by object: a student made with
`from_pipe` shares its teacher's encoders, and the embedded models share one MiniLM), its
dtype, the device it runs on, the LoRA adapters active on it and their scales, and the call's
arguments, token ids and attention mask by value (so the tokenizer, its max length, the text
and clip skip's `output_hidden_states` are all in it). Diffusers' SD-family pipelines encode
the prompt and the negative prompt in separate forwards, so a teacher with guidance and a
student without share the prompt's; the emoji pipeline encodes negative and prompt in one
batch, so its lanes share only when both use guidance or both do not.

Encoders are taken to keep their weights while loaded (LoRA students add adapters, which are
keyed; adapters are fused before a model is first used); an encoder that is garbage collected
takes its entries with it, and the cache is bounded by entries and by bytes, so it never holds
unbounded (GPU) memory.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")
DEFAULT_ENTRIES = 32
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class _Uncacheable(Exception):
    """A call whose arguments cannot be part of a key; it runs uncached."""


def _frozen(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, torch.device | torch.dtype):
        return str(value)
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.numel() > 1 << 16:
            raise _Uncacheable
        host = value.detach().cpu()
        return ("tensor", tuple(host.shape), str(host.dtype), host.numpy().tobytes())
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    raise _Uncacheable


def _copy(value: Any) -> Any:
    """`value` with every tensor in it cloned (same type: tuples, lists, model outputs)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, Mapping):
        return type(value)(**{k: _copy(v) for k, v in value.items()})
    if isinstance(value, tuple | list):
        return type(value)(_copy(v) for v in value)
    return value


def _nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_nbytes(v) for v in value)
    return 0


def _adapter_state(module: torch.nn.Module) -> tuple[Any, ...]:
    """The LoRA adapters active on `module` and their scales (empty when it has none)."""
    if not getattr(module, "peft_config", None):
        return ()
    state = []
    for name, layer in module.named_modules():
        scaling = getattr(layer, "scaling", None)
        if isinstance(scaling, dict):
            active = tuple(getattr(layer, "active_adapters", ()))
            disabled = bool(getattr(layer, "disable_adapters", False))
            state.append((name, disabled, active, tuple(sorted(scaling.items()))))
    return tuple(state)


def _placement(module: torch.nn.Module) -> tuple[str, str]:
    """Where `module` computes and in what dtype (an offloaded one: its execution device)."""
    first = next(module.parameters(), None)
    dtype = "" if first is None else str(first.dtype)
    hook = getattr(module, "_hf_hook", None)
    if hook is not None:
        return f"offloaded to {getattr(hook, 'execution_device', None)}", dtype
    return ("" if first is None else str(first.device)), dtype


class PromptCache:
    """A bounded LRU of text-encoder outputs keyed by encoder, its state and its inputs; serves
    a pipeline's text encoders during one call, and counts its hits and misses."""

    def __init__(self, capacity: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.capacity = max(0, capacity)
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._serials: dict[int, tuple[weakref.ref[Any], int]] = {}
        self._counter = itertools.count()
        self._dead: set[int] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Drop every entry (the runner does when its models are dropped)."""
        self._entries.clear()
        self._bytes = 0

    @contextlib.contextmanager
    def serving(self, pipe: Any) -> Iterator[None]:
        """While open, `pipe`'s text encoders answer from this cache when they can."""
        encoders = [getattr(pipe, name, None) for name in TEXT_ENCODERS]
        modules = list({id(m): m for m in encoders if isinstance(m, torch.nn.Module)}.values())
        if self.capacity == 0 or not modules:
            yield
            return
        with contextlib.ExitStack() as stack:
            for module in modules:
                stack.enter_context(self._wrapped(module))
            yield

    @contextlib.contextmanager
    def _wrapped(self, module: torch.nn.Module) -> Iterator[None]:
        shadowed = module.__dict__.get("forward")
        original = module.forward
        module.forward = self._memoized(module, original)  # type: ignore[method-assign]
        try:
            yield
        finally:
            if shadowed is None:
                del module.forward
            else:
                module.forward = shadowed  # type: ignore[method-assign]

    def _memoized(
        self, module: torch.nn.Module, original: Callable[..., Any]
    ) -> Callable[..., Any]:
        def forward(*args: Any, **kwargs: Any) -> Any:
            try:
                key = (
                    self._serial(module),
                    _placement(module),
                    module.training,
                    torch.is_grad_enabled(),
                    _adapter_state(module),
                    _frozen(args),
                    tuple(sorted((k, _frozen(v)) for k, v in kwargs.items())),
                )
            except _Uncacheable:
                return original(*args, **kwargs)
            return self._get_or_encode(key, lambda: original(*args, **kwargs))

        return forward

    def _get_or_encode(self, key: tuple[Any, ...], encode: Callable[[], Any]) -> Any:
        self._purge_dead()
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
            return _copy(self._entries[key][0])
        self.misses += 1
        value = encode()
        self._store(key, _copy(value))
        return value

    def _store(self, key: tuple[Any, ...], value: Any) -> None:
        size = _nbytes(value)
        if size > self.max_bytes:
            return
        self._entries[key] = (value, size)
        self._bytes += size
        while len(self._entries) > self.capacity or self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped

    def _serial(self, obj: Any) -> int:
        """A number for `obj` never given to another object, even after `obj` is gone."""
        known = self._serials.get(id(obj))
        if known is not None and known[0]() is obj:
            return known[1]
        serial = next(self._counter)

        def gone(_: weakref.ref[Any]) -> None:
            self._dead.add(serial)

        ref = weakref.ref(obj, gone)
        self._serials[id(obj)] = (ref, serial)
        return serial

    def _purge_dead(self) -> None:
        """Drop the entries of encoders garbage collected since the last call."""
        if not self._dead:
            return
        dead = set(self._dead)
        self._dead.difference_update(dead)
        self._serials = {i: v for i, v in self._serials.items() if v[1] not in dead}
        for key in [k for k in self._entries if k[0] in dead]:
            self._bytes -= self._entries.pop(key)[1]

"""Fuzzing the readers of ComfyUI's and InvokeAI's metadata, like the other readers: mutated
graphs (hostile values in any field, links to anywhere, cycles, deep nesting), hostile JSON and
bytes. Each returns parameters with short sentences of what it could not map, or refuses with
one short GraphError sentence, in bounded time; none raises anything else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from studio.core.comfyui_metadata import read_comfyui
from studio.core.foreign_metadata import GraphError
from studio.core.invokeai_metadata import read_invokeai, read_legacy_invokeai
from studio.core.metadata import ParsedParameters
from tests.core.foreign_fixtures import (
    comfy_prompt,
    comfy_workflow,
    invokeai2_metadata,
    invokeai5_metadata,
)
from tests.fuzzing import fuzz_settings, json_texts, json_values, mutate_dict, within

MAX_SENTENCE = 600
LINKS = st.tuples(
    st.sampled_from(["3", "4", "5", "6", "7", "8", "9", "x"]), st.integers(-1, 3)
).map(list)


def check(read: Any, text: str) -> None:
    with within():
        try:
            parsed = read(text)
        except GraphError as exc:
            message = str(exc)
            assert message.endswith(".") and len(message) <= MAX_SENTENCE, message[:200]
            return
    assert isinstance(parsed, ParsedParameters)
    for sentence in (*parsed.unmapped, *parsed.warnings):
        assert isinstance(sentence, str) and 0 < len(sentence) <= MAX_SENTENCE
    json.dumps(parsed.params.prompt).encode("utf-8")


@st.composite
def mutated_prompts(draw: st.DrawFn) -> str:
    graph = comfy_prompt()
    for node_id in draw(st.lists(st.sampled_from(sorted(graph)), max_size=3)):
        node = graph[node_id]
        inputs = draw(
            mutate_dict(node.get("inputs", {}))
            | st.dictionaries(st.text(max_size=6), LINKS, max_size=3)
        )
        graph[node_id] = draw(
            st.sampled_from([{**node, "inputs": inputs}, {"class_type": node["class_type"]}])
        )
    if draw(st.booleans()):
        graph[draw(st.text(max_size=4))] = draw(json_values(8))
    return json.dumps(graph, ensure_ascii=False)


@st.composite
def mutated_workflows(draw: st.DrawFn) -> str:
    workflow = comfy_workflow()
    nodes = workflow["nodes"]
    for index in draw(st.lists(st.integers(0, len(nodes) - 1), max_size=3)):
        nodes[index] = draw(mutate_dict(nodes[index]))
    if draw(st.booleans()):
        links = workflow["links"]
        links[draw(st.integers(0, len(links) - 1))] = draw(json_values(6))
    return json.dumps(workflow, ensure_ascii=False)


def as_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


@fuzz_settings()
@given(text=mutated_prompts() | json_texts(json_values()).map(as_text))
def test_comfyui_prompt_graphs_map_or_refuse(text: str) -> None:
    check(lambda t: read_comfyui(t, None), text)


@fuzz_settings()
@given(text=mutated_workflows() | json_texts(json_values()).map(as_text))
def test_comfyui_workflows_map_or_refuse(text: str) -> None:
    check(lambda t: read_comfyui(None, t), text)


@fuzz_settings()
@given(data=mutate_dict(invokeai5_metadata()), raw=json_texts(json_values()).map(as_text))
def test_invokeai_metadata_maps_or_refuses(data: dict, raw: str) -> None:
    check(read_invokeai, json.dumps(data, ensure_ascii=False))
    check(read_invokeai, raw)


@fuzz_settings()
@given(image=mutate_dict(invokeai2_metadata()["image"]), raw=json_texts(json_values()).map(as_text))
def test_invokeai2_metadata_maps_or_refuses(image: dict, raw: str) -> None:
    check(read_legacy_invokeai, json.dumps({**invokeai2_metadata(), "image": image}))
    check(read_legacy_invokeai, raw)

"""ComfyUI's graphs, from its PNG text chunks, as one bounded shape: nodes with named inputs.

ComfyUI's SaveImage writes two tEXt chunks, each `json.dumps` of a graph:

- "prompt", the API graph that ran: ``{"3": {"class_type": "KSampler", "inputs": {"seed": 5,
  "model": ["4", 0], ...}}, ...}``; an input holding ``[node_id, output_index]`` is a link.
- "workflow", the editor's graph: ``{"nodes": [{"id": 3, "type": "KSampler", "inputs":
  [{"name": "model", "type": "MODEL", "link": 1}], "widgets_values": [5, "randomize", 20, 8,
  "euler", "normal", 1], "mode": 0}], "links": [[1, 4, 0, 3, 0, "MODEL"], ...]}``: widget values
  are positional, so they are named here only for the node types in `WIDGETS`.

Both become `ComfyGraph`: node id -> `ComfyNode(class_type, inputs)`, a link being a `Link`.
Refused in one sentence (GraphError): text past the size limit, JSON nested too deep, more than
`MAX_NODES` nodes, a node or link of the wrong shape, a cycle, and a chain of links longer than
`MAX_LINK_DEPTH` when one is followed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from studio.core.foreign_metadata import GraphError, load_json
from studio.core.wording import shown

MAX_NODES = 5000
MAX_LINKS = 4 * MAX_NODES
MAX_LINK_DEPTH = 64
OFF_MODES = frozenset({2, 4})  # the editor's "muted" (never) and "bypassed" nodes

_SEED = ["seed", "control_after_generate"]
WIDGETS: dict[str, list[str]] = {
    "KSampler": [*_SEED, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": [
        "add_noise",
        "noise_seed",
        "control_after_generate",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
    ],
    "SamplerCustom": ["add_noise", "noise_seed", "control_after_generate", "cfg"],
    "KSamplerSelect": ["sampler_name"],
    "BasicScheduler": ["scheduler", "steps", "denoise"],
    "RandomNoise": ["noise_seed", "control_after_generate"],
    "CFGGuider": ["cfg"],
    "CLIPTextEncode": ["text"],
    "CheckpointLoaderSimple": ["ckpt_name"],
    "UNETLoader": ["unet_name", "weight_dtype"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "EmptySD3LatentImage": ["width", "height", "batch_size"],
    "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "CLIPSetLastLayer": ["stop_at_clip_layer"],
    "PrimitiveNode": ["value", "control_after_generate"],
    "PrimitiveInt": ["value", "control_after_generate"],
    "PrimitiveFloat": ["value"],
    "PrimitiveString": ["value"],
    "PrimitiveStringMultiline": ["value"],
    "PrimitiveBoolean": ["value"],
}


@dataclass(frozen=True, slots=True)
class Link:
    """An input fed by output `slot` of node `node`."""

    node: str
    slot: int


@dataclass(frozen=True, slots=True)
class ComfyNode:
    """One node: its id, type, named inputs (values or `Link`s), and whether it is switched off."""

    id: str
    class_type: str
    inputs: dict[str, Any]
    off: bool = False

    def label(self) -> str:
        return f"node {shown(self.id)} ({shown(self.class_type)})"


class ComfyGraph:
    """The nodes of one ComfyUI graph, acyclic, with bounded link-following."""

    def __init__(self, nodes: dict[str, ComfyNode], kind: str) -> None:
        if len(nodes) > MAX_NODES:
            raise GraphError(
                f"The ComfyUI {kind} has {len(nodes):,} nodes, more than {MAX_NODES:,}."
            )
        self.nodes = nodes
        self.kind = kind
        _refuse_cycles(nodes, kind)

    def ordered(self) -> list[ComfyNode]:
        """The nodes by id, numbers first in numeric order (the order the editor added them)."""
        return sorted(self.nodes.values(), key=_id_key)

    def follow(self, value: object, through: dict[str, dict[int, str]]) -> Iterator[ComfyNode]:
        """The nodes met walking back from `value` along links: each pass-through node in
        `through` (type -> output slot -> the input it passes on), then the source node."""
        for _ in range(MAX_LINK_DEPTH):
            if not isinstance(value, Link):
                return
            node = self.nodes.get(value.node)
            if node is None:
                return
            yield node
            passed = through.get(node.class_type, {}).get(value.slot)
            if passed is None:
                return
            value = node.inputs.get(passed)
        raise GraphError(
            f"The ComfyUI {self.kind} chains more than {MAX_LINK_DEPTH} nodes between two settings."
        )

    def upstream(self, start: ComfyNode) -> list[ComfyNode]:
        """Every node `start` depends on, nearest first (breadth first)."""
        seen, order, queue = {start.id}, [], [start]
        while queue:
            node = queue.pop(0)
            for value in node.inputs.values():
                if isinstance(value, Link) and value.node not in seen and value.node in self.nodes:
                    seen.add(value.node)
                    order.append(self.nodes[value.node])
                    queue.append(self.nodes[value.node])
        return order


def _id_key(node: ComfyNode) -> tuple[int, int, str]:
    return (0, int(node.id), "") if node.id.isdigit() and len(node.id) < 19 else (1, 0, node.id)


def _refuse_cycles(nodes: dict[str, ComfyNode], kind: str) -> None:
    """Depth-first colouring without recursion: a link back to a node still open is a cycle."""
    state: dict[str, int] = {}  # 1 open, 2 done
    for root in nodes:
        if root in state:
            continue
        stack = [(root, iter(_links_of(nodes[root])))]
        state[root] = 1
        while stack:
            current, links = stack[-1]
            step = next(links, None)
            if step is None:
                state[current] = 2
                stack.pop()
            elif state.get(step) == 1:
                raise GraphError(f"The ComfyUI {kind} has a cycle through node {shown(step)}.")
            elif step not in state and step in nodes:
                state[step] = 1
                stack.append((step, iter(_links_of(nodes[step]))))


def _links_of(node: ComfyNode) -> list[str]:
    return [value.node for value in node.inputs.values() if isinstance(value, Link)]


# --- the API graph ("prompt") -----------------------------------------------------------------


def prompt_graph(text: object) -> ComfyGraph:
    """The API graph of a "prompt" chunk; GraphError when it is not one."""
    data = load_json(text, "ComfyUI prompt")
    if not isinstance(data, dict):
        raise GraphError(f"The ComfyUI prompt must be an object of nodes, not {_kind(data)}.")
    if len(data) > MAX_NODES:
        raise GraphError(f"The ComfyUI prompt has {len(data):,} nodes, more than {MAX_NODES:,}.")
    nodes = {}
    for node_id, raw in data.items():
        if not isinstance(raw, dict) or not isinstance(raw.get("class_type"), str):
            raise GraphError(f"The ComfyUI prompt's node {shown(node_id)} has no class_type.")
        inputs = raw.get("inputs", {})
        if not isinstance(inputs, dict):
            raise GraphError(
                f"The ComfyUI prompt's node {shown(node_id)} has inputs of {_kind(inputs)}."
            )
        named = {str(name): _api_value(value) for name, value in inputs.items()}
        nodes[node_id] = ComfyNode(node_id, raw["class_type"], named)
    return ComfyGraph(nodes, "prompt")


def _api_value(value: object) -> object:
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return Link(str(value[0]), value[1])
    return value


def _kind(value: object) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "text"}
    return names.get(type(value), type(value).__name__)


# --- the editor's graph ("workflow") ----------------------------------------------------------


def workflow_graph(text: object) -> ComfyGraph:
    """The editor's graph of a "workflow" chunk, its widget values named by `WIDGETS`."""
    data = load_json(text, "ComfyUI workflow")
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise GraphError("The ComfyUI workflow must be an object with a list of nodes.")
    raw_nodes, raw_links = data["nodes"], data.get("links", [])
    if len(raw_nodes) > MAX_NODES:
        raise GraphError(
            f"The ComfyUI workflow has {len(raw_nodes):,} nodes, more than {MAX_NODES:,}."
        )
    if not isinstance(raw_links, list) or len(raw_links) > MAX_LINKS:
        raise GraphError(f"The ComfyUI workflow's links must be a list of at most {MAX_LINKS:,}.")
    links = dict(_workflow_link(raw) for raw in raw_links)
    nodes = {}
    for raw in raw_nodes:
        node = _workflow_node(raw, links)
        if node.id in nodes:
            raise GraphError(f"The ComfyUI workflow has two nodes numbered {shown(node.id)}.")
        nodes[node.id] = node
    return ComfyGraph(nodes, "workflow")


def _workflow_link(raw: object) -> tuple[int, Link]:
    """[id, origin_id, origin_slot, target_id, target_slot, type], or the same as an object."""
    if isinstance(raw, dict):
        raw = [raw.get(key) for key in ("id", "origin_id", "origin_slot")]
    if isinstance(raw, list) and len(raw) >= 3:
        link_id, origin, slot = raw[0], raw[1], raw[2]
        if _is_id(link_id) and _is_id(origin) and _is_int(slot):
            return link_id, Link(str(origin), slot)
    raise GraphError(f"The ComfyUI workflow has a link of the wrong shape: {shown(raw)}.")


def _workflow_node(raw: object, links: dict[int, Link]) -> ComfyNode:
    if (
        not isinstance(raw, dict)
        or not _is_id(raw.get("id"))
        or not isinstance(raw.get("type"), str)
    ):
        raise GraphError(f"The ComfyUI workflow has a node of the wrong shape: {shown(raw)}.")
    node_id, class_type = str(raw["id"]), raw["type"]
    inputs: dict[str, Any] = _widget_values(class_type, raw.get("widgets_values"))
    slots = raw.get("inputs", [])
    if not isinstance(slots, list):
        raise GraphError(
            f"The ComfyUI workflow's node {shown(node_id)} has inputs of {_kind(slots)}."
        )
    for index, slot in enumerate(slots):
        if not isinstance(slot, dict):
            raise GraphError(f"The ComfyUI workflow's node {shown(node_id)} has an odd input.")
        name = slot.get("name")
        name = "input" if class_type == "Reroute" else name if isinstance(name, str) else str(index)
        link = slot.get("link")
        if _is_int(link) and link in links:
            inputs[name] = links[link]
    mode = raw.get("mode", 0)
    return ComfyNode(node_id, class_type, inputs, off=_is_int(mode) and mode in OFF_MODES)


def _widget_values(class_type: str, values: object) -> dict[str, Any]:
    if isinstance(values, dict):  # some custom nodes save their widgets by name
        return {str(name): value for name, value in values.items()}
    names = WIDGETS.get(class_type)
    if names is None or not isinstance(values, list):
        return {}
    return dict(zip(names, values, strict=False))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: object) -> bool:
    return _is_int(value) or (isinstance(value, str) and 0 < len(value) <= 64)

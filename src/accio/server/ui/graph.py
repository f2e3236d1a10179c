"""The workflow graph as inline SVG, laid out server-side by topological layers.

A node's column is its longest dependency chain from a source (``Workflow.nodes`` is already in
topological order, so one pass suffices); nodes keep their declaration order inside a column.
Edges are cubic curves from the right side of a producer to the left side of a consumer. No
JavaScript and no layout library: the picture is ready with the page and prints well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from accio.definitions.model import NodeRef, Workflow

NODE_W = 168
NODE_H = 46
GAP_X = 56
GAP_Y = 14
PAD = 8


@dataclass(frozen=True)
class NodeBadge:
    """What the graph shows of one node: a state (a CSS class) and a short caption."""

    state: str
    caption: str


def layers(workflow: Workflow) -> dict[str, int]:
    """Column of each node: 0 for sources, else one more than its deepest dependency."""
    layer: dict[str, int] = {}
    for node in workflow.nodes:
        deps = [layer[d] for d in node.dependencies() if d in layer]
        layer[node.name] = 1 + max(deps) if deps else 0
    return layer


def graph_svg(
    workflow: Workflow,
    badges: Mapping[str, NodeBadge] | None = None,
    *,
    href: str | None = None,
) -> Markup:
    """An ``<svg>`` of the workflow; ``badges`` colour nodes by state, ``href`` + ``#node-NAME``
    makes each node a link (to its row in the node table)."""
    badges = badges or {}
    layer = layers(workflow)
    columns: dict[int, list[str]] = {}
    for node in workflow.nodes:
        columns.setdefault(layer[node.name], []).append(node.name)
    tallest = max((len(c) for c in columns.values()), default=0)
    height = PAD * 2 + tallest * NODE_H + max(tallest - 1, 0) * GAP_Y
    width = PAD * 2 + len(columns) * NODE_W + max(len(columns) - 1, 0) * GAP_X
    pos: dict[str, tuple[int, int]] = {}
    for col, names in columns.items():
        column_h = len(names) * NODE_H + (len(names) - 1) * GAP_Y
        top = (height - column_h) // 2
        for i, name in enumerate(names):
            pos[name] = (PAD + col * (NODE_W + GAP_X), top + i * (NODE_H + GAP_Y))

    parts: list[str] = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="workflow graph">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7"'
        ' markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" class="arrowhead"/>'
        "</marker></defs>",
    ]
    for node in workflow.nodes:
        seen: set[str] = set()
        for port, source in node.inputs.items():
            if not isinstance(source, NodeRef) or source.node not in pos:
                continue
            if source.node in seen:
                continue
            seen.add(source.node)
            sx, sy = pos[source.node]
            tx, ty = pos[node.name]
            x1, y1 = sx + NODE_W, sy + NODE_H // 2
            x2, y2 = tx - 1, ty + NODE_H // 2
            mid = (x1 + x2) // 2
            parts.append(
                f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"'
                f' marker-end="url(#arrow)"><title>{escape(str(source))} → '
                f"{escape(node.name)}.{escape(port)}</title></path>"
            )
    for node in workflow.nodes:
        x, y = pos[node.name]
        badge = badges.get(node.name)
        state = badge.state if badge else "none"
        caption = badge.caption if badge else ""
        sub = node.op + (f" · {caption}" if caption else "")
        title = f"{node.name} ({node.op})" + (f": {caption}" if caption else "")
        group = (
            f'<g class="node state-{escape(state)}" transform="translate({x},{y})">'
            f"<title>{escape(title)}</title>"
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="7"/>'
            f'<text x="10" y="19" class="name">{escape(_clip(node.name, 21))}</text>'
            f'<text x="10" y="36" class="op">{escape(_clip(sub, 27))}</text></g>'
        )
        if href is not None:
            group = f'<a href="{escape(href)}#node-{escape(node.name)}">{group}</a>'
        parts.append(group)
    parts.append("</svg>")
    return Markup("".join(parts))


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"

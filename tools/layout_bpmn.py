"""Give a BPMN file a diagram (BPMN DI): lanes as bands, steps in columns, flows as right-angled lines.

    python tools/layout_bpmn.py bpmn/feasibility_review.bpmn [...]

Models are first written as plain BPMN (processes, lanes, flows); this draws them so that bpmn-js can
show and edit them, replacing any diagram the file had. Once a model is edited in the modeler, its
own diagram is the one to keep. One executable process per file; call activities are drawn as tasks.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
NS = {"bpmn": BPMN}

COLUMN, LANE_HEADER, POOL_HEADER, ROW, MARGIN = 160, 30, 30, 110, 20
SIZES = {"task": (100, 80), "gateway": (50, 50), "event": (36, 36)}


def _kind(tag: str) -> str:
    if tag.endswith("Gateway"):
        return "gateway"
    if tag.endswith("Event"):
        return "event"
    return "task"


def _columns(nodes: list[str], flows: list[tuple[str, str, str]], starts: list[str]) -> dict[str, int]:
    """Longest distance from a start node, ignoring the flows that loop back."""
    outgoing = defaultdict(list)
    for _, source, target in flows:
        outgoing[source].append(target)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}

    def visit(node: str) -> None:  # depth-first search marks the edges that close a loop
        state[node] = 1
        for nxt in outgoing[node]:
            if state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                visit(nxt)
        state[node] = 2

    for start in starts + nodes:
        if start not in state:
            visit(start)
    column = {node: 0 for node in nodes}
    for _ in nodes:  # relax forward edges until stable (a DAG once loops are removed)
        changed = False
        for _, source, target in flows:
            if (source, target) not in back and column[target] < column[source] + 1:
                column[target] = column[source] + 1
                changed = True
        if not changed:
            break
    return column


def layout(path: Path) -> None:
    tree = etree.parse(str(path), etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True))
    root = tree.getroot()
    for old in root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        root.remove(old)
    process = next(p for p in root.iterfind("bpmn:process", NS) if p.get("isExecutable") != "false")
    lanes = process.findall(".//bpmn:lane", NS) or [None]
    lane_of = {}
    for index, lane in enumerate(lanes):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS) if lane is not None else []:
            lane_of[ref.text.strip()] = index
    elements = {
        el.get("id"): el
        for el in process
        if isinstance(el.tag, str)
        and el.get("id")
        and etree.QName(el).localname
        not in (
            "sequenceFlow",
            "laneSet",
            "boundaryEvent",
            "documentation",
            "extensionElements",
            "textAnnotation",
            "association",
            "dataObject",
            "dataObjectReference",
        )
    }
    boundaries = process.findall("bpmn:boundaryEvent", NS)
    flows = [(f.get("id"), f.get("sourceRef"), f.get("targetRef")) for f in process.iterfind("bpmn:sequenceFlow", NS)]
    host_of = {b.get("id"): b.get("attachedToRef") for b in boundaries}
    node_flows = [(fid, host_of.get(s, s), t) for fid, s, t in flows]
    starts = [i for i, el in elements.items() if etree.QName(el).localname == "startEvent"]
    column = _columns(list(elements), node_flows, starts)

    # Rows: nodes of the same lane and column are stacked.
    slots: dict[tuple[int, int], list[str]] = defaultdict(list)
    for node in sorted(elements, key=lambda n: (column[n], list(elements).index(n))):
        slots[(lane_of.get(node, 0), column[node])].append(node)
    rows_in_lane = [max([len(v) for (lane, _), v in slots.items() if lane == i] or [1]) for i in range(len(lanes))]
    lane_top, y = [], MARGIN
    for rows in rows_in_lane:
        lane_top.append(y)
        y += rows * ROW + 20
    width = (max(column.values(), default=0) + 1) * COLUMN + LANE_HEADER + POOL_HEADER + 40
    bounds: dict[str, tuple[int, int, int, int]] = {}
    for (lane, col), nodes in slots.items():
        for row, node in enumerate(nodes):
            w, h = SIZES[_kind(etree.QName(elements[node]).localname)]
            cx = MARGIN + POOL_HEADER + LANE_HEADER + 20 + col * COLUMN + 50
            cy = lane_top[lane] + 10 + row * ROW + ROW // 2
            bounds[node] = (cx - w // 2, cy - h // 2, w, h)
    for index, boundary in enumerate(boundaries):
        hx, hy, hw, hh = bounds[boundary.get("attachedToRef")]
        bounds[boundary.get("id")] = (hx + hw - 30 - 40 * (index % 2), hy + hh - 18, 36, 36)

    diagram = etree.SubElement(root, f"{{{BPMNDI}}}BPMNDiagram", id=f"Diagram_{process.get('id')}")
    collaboration = root.find("bpmn:collaboration", NS)
    plane = etree.SubElement(
        diagram,
        f"{{{BPMNDI}}}BPMNPlane",
        id=f"Plane_{process.get('id')}",
        bpmnElement=collaboration.get("id") if collaboration is not None else process.get("id"),
    )

    def shape(element_id: str, x: int, y: int, w: int, h: int, **extra) -> None:
        el = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNShape", id=f"{element_id}_di", bpmnElement=element_id, **extra)
        etree.SubElement(el, f"{{{DC}}}Bounds", x=str(x), y=str(y), width=str(w), height=str(h))

    height = y - MARGIN
    if collaboration is not None:
        participant = collaboration.find("bpmn:participant", NS)
        shape(participant.get("id"), MARGIN, MARGIN, width, height, isHorizontal="true")
    for index, lane in enumerate(lanes):
        if lane is not None:
            lane_height = rows_in_lane[index] * ROW + 20
            shape(
                lane.get("id"),
                MARGIN + POOL_HEADER,
                lane_top[index],
                width - POOL_HEADER,
                lane_height,
                isHorizontal="true",
            )
    for node, (x, y0, w, h) in bounds.items():
        extra = (
            {"isMarkerVisible": "true"}
            if etree.QName(process.find(f".//*[@id='{node}']")).localname == "exclusiveGateway"
            else {}
        )
        shape(node, x, y0, w, h, **extra)
    bottom = y + 10
    for fid, source, target in flows:
        sx, sy, sw, sh = bounds[source]
        tx, ty, tw, th = bounds[target]
        if tx > sx:  # forward: out of the right side, across, into the left side
            start, end = (sx + sw, sy + sh // 2), (tx, ty + th // 2)
            mid = (start[0] + end[0]) // 2
            skips = tx - (sx + sw) > COLUMN  # passes over the steps between: go round above them
            if start[1] == end[1] and skips:
                above = min(sy, ty) - 15
                points = [
                    start,
                    (start[0] + 15, start[1]),
                    (start[0] + 15, above),
                    (end[0] - 15, above),
                    (end[0] - 15, end[1]),
                    end,
                ]
            elif start[1] == end[1]:
                points = [start, end]
            else:
                points = [start, (mid, start[1]), (mid, end[1]), end]
        else:  # a loop back: down under the lanes and back up
            start, end = (sx + sw // 2, sy + sh), (tx + tw // 2, ty + th)
            points = [start, (start[0], bottom), (end[0], bottom), end]
        edge = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNEdge", id=f"{fid}_di", bpmnElement=fid)
        for px, py in points:
            etree.SubElement(edge, f"{{{DI}}}waypoint", x=str(px), y=str(py))
    etree.cleanup_namespaces(root, top_nsmap={"bpmndi": BPMNDI, "dc": DC, "di": DI})
    tree.write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        layout(Path(name))
        print(f"{name}: diagram drawn")

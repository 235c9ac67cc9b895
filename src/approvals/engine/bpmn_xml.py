"""Safe parsing of uploaded BPMN/DMN XML.

lxml no longer resolves external entities, but still expands internal ones, so we refuse any
DOCTYPE outright (a BPMN file never needs one), never touch the network, and cap size and depth.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from ..text import msg
from .errors import ModelRejected, Problem

_DOCTYPE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# XInclude is never processed here, but a file carrying it is refused so that no later tool does.
_XINCLUDE_NS = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
_ASCII_SUPERSETS = {"us-ascii", "ascii", "iso-8859-1", "latin1", "latin-1", "iso-8859-15", "windows-1252", "cp1252"}
_DECLARED_ENCODING = re.compile(r"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _parser() -> etree.XMLParser:
    # huge_tree=False keeps libxml2's depth and text-size limits in force.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_xml(data: bytes, *, max_bytes: int, what: str = "BPMN file") -> etree._ElementTree:
    """Parse ``data`` or raise ModelRejected saying what is wrong with it."""
    if len(data) > max_bytes:
        raise ModelRejected(
            [
                Problem(
                    None,
                    msg(
                        "{what} is {len} bytes; the limit is {max_bytes}", what=what, len=len(data), max_bytes=max_bytes
                    ),
                )
            ]
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelRejected(
            [Problem(None, msg("{what} must be UTF-8 encoded ({reason})", what=what, reason=exc.reason))]
        ) from None
    declared = _DECLARED_ENCODING.match(text)
    if (
        declared
        and declared.group(1).lower().replace("_", "-") not in ("utf-8", "utf8")
        and not (
            # Bytes that are all ASCII read the same in UTF-8 and in every encoding that extends ASCII.
            declared.group(1).lower().replace("_", "-") in _ASCII_SUPERSETS and text.isascii()
        )
    ):
        raise ModelRejected(
            [Problem(None, msg("{what} declares encoding {value}; only UTF-8", what=what, value=declared.group(1)))]
        )
    if _DOCTYPE.search(text):
        raise ModelRejected(
            [Problem(None, msg("{what} contains a DOCTYPE or ENTITY declaration, which is not allowed", what=what))]
        )
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser=_parser()))
    except etree.XMLSyntaxError as exc:
        raise ModelRejected(
            [
                Problem(
                    None,
                    msg(
                        "{what} is not well-formed XML: {msg} (line {lineno})",
                        what=what,
                        msg=exc.msg,
                        lineno=exc.lineno,
                    ),
                )
            ]
        ) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise ModelRejected([Problem(None, msg("{what} contains a DOCTYPE, which is not allowed", what=what))])
    for namespace in _XINCLUDE_NS:
        found = tree.getroot().find(f".//{{{namespace}}}*")
        if found is not None:
            message = f"{what} contains XInclude (line {found.sourceline}), which is not allowed"
            raise ModelRejected([Problem(None, message)])
    problems = _active_content(tree, what)
    if problems:
        raise ModelRejected(problems)
    return tree


# Markup a browser runs or renders as a document of its own. A model has no use for any of it, and
# a file carrying it would be a page of our origin if anything ever served it as XML. Other foreign
# namespaces (camunda:, zeebe:, bioc: colours…) are kept: they are inert data, and interchange
# files are full of them.
_ACTIVE_NS = {
    "http://www.w3.org/1999/xhtml": "XHTML",
    "http://www.w3.org/2000/svg": "SVG",
    "http://www.w3.org/1998/Math/MathML": "MathML",
    "http://www.w3.org/1999/XSL/Transform": "XSLT",
}


def _active_content(tree: etree._ElementTree, what: str) -> list[Problem]:
    problems = []
    for element in tree.getroot().iter(etree.Element):
        kind = _ACTIVE_NS.get(etree.QName(element).namespace or "")
        if kind is not None:
            owner = next((e.get("id") for e in element.iterancestors() if e.get("id")), None)
            problems.append(
                Problem(
                    owner,
                    msg(
                        "{what} contains {kind} markup <{localname}> (line {sourceline}); a model "
                        "may not carry markup a browser runs",
                        what=what,
                        kind=kind,
                        localname=etree.QName(element).localname,
                        sourceline=element.sourceline,
                    ),
                )
            )
    root = tree.getroot()
    instructions = [*root.itersiblings(preceding=True), *root.iter(etree.ProcessingInstruction)]
    for node in instructions:
        if isinstance(node, etree._ProcessingInstruction) and node.target.lower() == "xml-stylesheet":
            problems.append(
                Problem(None, msg("{what} contains an xml-stylesheet instruction, which is not allowed", what=what))
            )
    return problems


_DI = "http://www.omg.org/spec/BPMN/20100524/DI"
_DC = "http://www.omg.org/spec/DD/20100524/DC"


def diagram_layout(tree: etree._ElementTree) -> list[tuple[str, tuple[float, ...]]]:
    """Where each shape and edge of the diagram is drawn, as (element, coordinates), sorted: two
    files with the same layout draw the same picture, however their XML is written."""
    layout = []
    for el in tree.getroot().iter(f"{{{_DI}}}BPMNShape", f"{{{_DI}}}BPMNEdge"):
        points = [
            float(point.get(name) or 0)
            for point in el.iter(f"{{{_DC}}}Bounds", "{http://www.omg.org/spec/DD/20100524/DI}waypoint")
            for name in ("x", "y", "width", "height")
            if point.get(name) is not None
        ]
        layout.append((el.get("bpmnElement") or "", tuple(round(p, 1) for p in points)))
    return sorted(layout)


_LAYOUT_NAMESPACES = {
    _DI,
    _DC,
    "http://www.omg.org/spec/DD/20100524/DI",
    "https://www.omg.org/spec/DMN/20191111/DMNDI/",
    "http://www.omg.org/spec/DMN/20180521/DMNDI/",
    "https://www.omg.org/spec/DMN/20191111/DI/",
    "http://www.omg.org/spec/DMN/20180521/DI/",
}


def canonical_content(tree: etree._ElementTree) -> bytes:
    """The file's content without its drawing (DI) and without the whitespace between elements,
    in canonical XML: two files that say the same thing give the same bytes."""
    root = etree.fromstring(etree.tostring(tree.getroot()))
    for el in list(root.iter()):
        parent = el.getparent()
        if isinstance(el.tag, str) and etree.QName(el).namespace in _LAYOUT_NAMESPACES and parent is not None:
            parent.remove(el)
    for el in root.iter():
        if el.text is not None and not el.text.strip() and len(el):
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    canonical: bytes = etree.tostring(root, method="c14n")
    return canonical


def decision_table(tree: etree._ElementTree) -> dict[str, Any]:
    """A DMN decision's inputs (label and expression) and outputs (name and label), as a business
    rule task that calls it sees them."""
    decision = tree.getroot().find("{*}decision")
    table = decision.find("{*}decisionTable") if decision is not None else None
    if table is None:
        return {"inputs": [], "outputs": [], "rules": 0}
    return {
        "inputs": [
            {"label": el.get("label") or "", "expression": (el.findtext("{*}inputExpression/{*}text") or "").strip()}
            for el in table.findall("{*}input")
        ],
        "outputs": [
            {"name": el.get("name") or "", "label": el.get("label") or ""} for el in table.findall("{*}output")
        ],
        "rules": len(table.findall("{*}rule")),
    }


def business_rule_tasks(tree: etree._ElementTree) -> list[tuple[str, str]]:
    """(task id, decision key) of each business-rule task that calls a decision table."""
    found = []
    for task in tree.getroot().iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}businessRuleTask"):
        called = task.findtext("{*}extensionElements/{http://spiffworkflow.org/bpmn/schema/1.0/core}calledDecisionId")
        if called and called.strip():
            found.append((task.get("id") or "", called.strip()))
    return found


def call_activities(tree: etree._ElementTree) -> list[tuple[str, str, str]]:
    """(id, name, called process key) of each call activity, left to right as the diagram draws
    them (document order where it draws none): a lifecycle's stages in the order people read."""
    left = {
        shape.get("bpmnElement"): float(bounds.get("x") or 0)
        for shape in tree.getroot().iter(f"{{{_DI}}}BPMNShape")
        for bounds in shape.iter(f"{{{_DC}}}Bounds")
    }
    found = [
        (el.get("id") or "", el.get("name") or "", el.get("calledElement") or "")
        for el in tree.getroot().iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}callActivity")
    ]
    order = {item: index for index, item in enumerate(found)}
    return sorted(found, key=lambda item: (left.get(item[0], float(order[item])), order[item]))

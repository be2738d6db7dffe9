# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain XML in and out: parse, serialise (passwords masked) and compare (pure)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import io
import xml.etree.ElementTree as ET

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError


def parse_domain(xml_text):
    """Parse domain XML; keep its namespace prefixes (metadata, qemu:commandline)."""
    if not isinstance(xml_text, str):
        raise DomainXMLError("domain XML must be a string, got %s" % type(xml_text).__name__)
    try:
        for _event, (prefix, uri) in ET.iterparse(io.StringIO(xml_text), events=("start-ns",)):
            if prefix:
                try:
                    ET.register_namespace(prefix, uri)
                except ValueError:
                    pass  # ns0-style prefixes: ElementTree picks its own
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise DomainXMLError("domain XML does not parse: %s" % exc)
    if root.tag != "domain":
        raise DomainXMLError("root element is <%s>, not <domain>" % root.tag)
    return root


def _indent(elem, level=0):
    """Two-space indentation like libvirt's (ElementTree.indent needs Python 3.9)."""
    pad = "\n" + "  " * level
    children = list(elem)
    if children:
        if not (elem.text or "").strip():
            elem.text = pad + "  "
        for child in children:
            _indent(child, level + 1)
            if not (child.tail or "").strip():
                child.tail = pad + "  "
        if not (children[-1].tail or "").strip():
            children[-1].tail = pad
    elif level and not (elem.text or "").strip():
        elem.text = None


# Attributes libvirt only shows with VIR_DOMAIN_XML_SECURE (graphics passwords).
SECRET_ATTRIBUTES = ("passwd",)
MASK = "********"


def to_string(root, mask=False):
    """Serialise a domain element (indented; the same for before and after in a diff).

    ``mask`` replaces secret attribute values, for output that ends up in logs.
    """
    root = copy.deepcopy(root)
    if mask:
        for element in root.iter():
            for name in SECRET_ATTRIBUTES:
                if name in element.attrib:
                    element.set(name, MASK)
    _indent(root)
    root.tail = None
    return ET.tostring(root, encoding="unicode") + "\n"


def canonical(node):
    """A comparable structure of an element: tag, attributes, text; whitespace ignored."""
    if isinstance(node, str):
        node = parse_domain(node)
    return (
        node.tag,
        tuple(sorted(node.attrib.items())),
        (node.text or "").strip(),
        tuple(canonical(child) for child in node),
    )


def xml_equal(first, second):
    """Whether two domain XML strings (or elements) mean the same, formatting aside."""
    return canonical(first) == canonical(second)

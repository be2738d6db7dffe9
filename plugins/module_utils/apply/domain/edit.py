# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewrite the owned sections of a domain's XML for a plan and produce the diff (pure)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import xml.etree.ElementTree as ET

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import (
    LIVE_SECTIONS,
    SECTIONS,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import (
    parse_domain,
    to_string,
    xml_equal,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import (
    check_domain,
    desired_state,
    domain_facts,
    tuning_state,
)


# Where a missing top-level element goes: after the last of these that exists.
_AFTER = {
    "memoryBacking": ("name", "uuid", "genid", "title", "description", "metadata",
                      "maxMemory", "memory", "currentMemory"),
    "vcpu": ("name", "uuid", "genid", "title", "description", "metadata", "maxMemory",
             "memory", "currentMemory", "blkiotune", "memtune", "memoryBacking"),
    "cputune": ("name", "uuid", "memory", "currentMemory", "memoryBacking", "vcpu",
                "vcpus", "iothreads", "iothreadids", "defaultiothread"),
    "numatune": ("name", "uuid", "memory", "currentMemory", "memoryBacking", "vcpu",
                 "vcpus", "iothreads", "iothreadids", "defaultiothread", "cputune"),
}
# cputune children that come after the pins in libvirt's order.
_CPUTUNE_AFTER_PINS = ("vcpusched", "iothreadsched", "emulatorsched", "cachetune",
                       "memorytune")


def _place(root, tag):
    """Find or create a top-level element, created after its usual predecessors."""
    element = root.find(tag)
    if element is not None:
        return element
    element = ET.Element(tag)
    children = list(root)
    index = len(children)
    predecessors = _AFTER.get(tag, ())
    positions = [pos for pos, child in enumerate(children) if child.tag in predecessors]
    if positions:
        index = positions[-1] + 1
    root.insert(index, element)
    return element


def _drop_if_empty(root, element):
    if element is not None and not len(element) and not (element.text or "").strip() \
            and not element.attrib:
        root.remove(element)


def _write_vcpu(root, facts, state):
    vcpu = _place(root, "vcpu")
    if not (vcpu.text or "").strip():
        vcpu.text = str(facts["vcpus"])
    vcpu.set("placement", state["placement"])
    if "cpuset" in vcpu.attrib:
        del vcpu.attrib["cpuset"]


def _write_pins(root, state):
    cputune = _place(root, "cputune")
    for child in list(cputune):
        if child.tag in ("vcpupin", "emulatorpin", "iothreadpin"):
            cputune.remove(child)
    pins = []
    for vcpu in sorted(state["vcpupin"]):
        pins.append(ET.Element("vcpupin", {"vcpu": str(vcpu),
                                           "cpuset": format_cpulist(state["vcpupin"][vcpu])}))
    if state["emulatorpin"] is not None:
        pins.append(ET.Element("emulatorpin",
                               {"cpuset": format_cpulist(state["emulatorpin"])}))
    for thread in sorted(state["iothreadpin"]):
        pins.append(ET.Element("iothreadpin", {
            "iothread": str(thread), "cpuset": format_cpulist(state["iothreadpin"][thread])}))
    children = list(cputune)
    index = len(children)
    for pos, child in enumerate(children):
        if child.tag in _CPUTUNE_AFTER_PINS:
            index = pos
            break
    for offset, pin in enumerate(pins):
        cputune.insert(index + offset, pin)
    _drop_if_empty(root, cputune)


def _write_numatune(root, state):
    numatune = _place(root, "numatune")
    for child in list(numatune):
        if child.tag in ("memory", "memnode"):
            numatune.remove(child)
    elements = []
    memory = state["memory"]
    if memory is not None:
        attrs = {"mode": memory["mode"]}
        if memory["nodeset"]:
            attrs["nodeset"] = format_cpulist(memory["nodeset"])
        if memory["placement"] != "static" or not memory["nodeset"]:
            attrs["placement"] = memory["placement"]
        elements.append(ET.Element("memory", attrs))
    for cell in sorted(state["memnode"]):
        node = state["memnode"][cell]
        elements.append(ET.Element("memnode", {
            "cellid": str(cell), "mode": node["mode"],
            "nodeset": format_cpulist(node["nodeset"])}))
    for offset, element in enumerate(elements):
        numatune.insert(offset, element)
    _drop_if_empty(root, numatune)


def _write_hugepages(root, state):
    pages = state["hugepages"]
    backing = root.find("memoryBacking")
    if pages is None:
        if backing is not None:
            for child in backing.findall("hugepages"):
                backing.remove(child)
            _drop_if_empty(root, backing)
        return
    backing = _place(root, "memoryBacking")
    for child in backing.findall("hugepages"):
        backing.remove(child)
    hugepages = ET.Element("hugepages")
    for page in pages:
        attrs = {"size": str(page["size_kib"]), "unit": "KiB"}
        if page["nodeset"]:
            attrs["nodeset"] = format_cpulist(page["nodeset"])
        ET.SubElement(hugepages, "page", attrs)
    backing.insert(0, hugepages)  # libvirt's order: hugepages first


def apply_plan(xml_text, guest):
    """Rewrite a domain's XML for one validated guest entry.

    Returns a dict: ``xml`` (the new document, to define), ``before`` and ``after``
    (both serialised the same way and with passwords masked, for a diff),
    ``changed`` (the parsed documents differ), ``sections`` (owned sections that
    changed), ``errors`` (the plan does not fit the domain: then ``after`` equals
    ``before``), ``facts``, ``current`` and ``desired`` (see tuning_state()).
    """
    root = parse_domain(xml_text)
    original = copy.deepcopy(root)
    facts = domain_facts(root)
    current = tuning_state(root)
    desired = desired_state(facts, guest)
    errors = check_domain(facts, guest)
    sections = []
    if not errors:
        sections = [name for name in SECTIONS if current[name] != desired[name]]
        if "vcpu" in sections:
            _write_vcpu(root, facts, desired["vcpu"])
        if set(sections) & set(LIVE_SECTIONS):
            _write_pins(root, desired)
        if "numatune" in sections:
            _write_numatune(root, desired["numatune"])
        if "memoryBacking" in sections:
            _write_hugepages(root, desired["memoryBacking"])
    return {
        "xml": to_string(root),
        "before": to_string(original, mask=True),
        "after": to_string(root, mask=True),
        "changed": not xml_equal(original, root),
        "sections": sections,
        "errors": errors,
        "facts": facts,
        "current": current,
        "desired": desired,
    }

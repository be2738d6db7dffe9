# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain's facts and tuning as read from its XML, and the tuning a plan wants.

Both tunings have the same shape (see tuning_state()), so the owned sections are
compared by meaning: CPU and node sets as sorted lists, sizes in KiB, libvirt's
defaults filled in. Pure, no libvirt.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    parse_cpulist,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError


# libvirt's scaled integer units (formatdomain "Memory Allocation").
_UNITS = {
    "b": 1, "bytes": 1,
    "kb": 1000, "k": 1024, "kib": 1024,
    "mb": 1000 ** 2, "m": 1024 ** 2, "mib": 1024 ** 2,
    "gb": 1000 ** 3, "g": 1024 ** 3, "gib": 1024 ** 3,
    "tb": 1000 ** 4, "t": 1024 ** 4, "tib": 1024 ** 4,
    "pb": 1000 ** 5, "p": 1024 ** 5, "pib": 1024 ** 5,
    "eb": 1000 ** 6, "e": 1024 ** 6, "eib": 1024 ** 6,
}


def _scaled_kib(value, unit, where):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainXMLError("%s: %r is not an integer" % (where, value))
    factor = _UNITS.get((unit or "KiB").lower())
    if factor is None:
        raise DomainXMLError("%s: unknown unit %r" % (where, unit))
    return number * factor // 1024


def _xml_int(element, name, where, default=None):
    value = element.get(name, default)
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainXMLError("%s: attribute %s=%r is not an integer" % (where, name, value))


def _xml_cpus(text, where):
    try:
        return parse_cpulist(text or "")
    except CpulistError as exc:
        raise DomainXMLError("%s: %s" % (where, exc))


def domain_facts(root):
    """What the plan is checked against: name, vCPU count, memory, IOThreads, cells
    (``current_memory_kib``: ``<currentMemory>``, the balloon target; ``<memory>`` when absent)."""
    vcpu = root.find("vcpu")
    try:
        vcpus = int((vcpu.text or "").strip()) if vcpu is not None else 1
    except ValueError:
        raise DomainXMLError("<vcpu> holds %r, not a count" % vcpu.text)
    memory = root.find("memory")
    memory_kib = None
    if memory is not None:
        memory_kib = _scaled_kib(memory.text, memory.get("unit"), "<memory>")
    current = root.find("currentMemory")
    current_kib = memory_kib
    if current is not None:
        current_kib = _scaled_kib(current.text, current.get("unit"), "<currentMemory>")
    iothread_ids = []
    ids = root.find("iothreadids")
    if ids is not None and len(ids.findall("iothread")):
        for thread in ids.findall("iothread"):
            iothread_ids.append(_xml_int(thread, "id", "<iothreadids>"))
    else:
        count = root.find("iothreads")
        if count is not None and (count.text or "").strip():
            try:
                iothread_ids = list(range(1, int(count.text.strip()) + 1))
            except ValueError:
                raise DomainXMLError("<iothreads> holds %r, not a count" % count.text)
    cells = []
    for index, cell in enumerate(root.findall("cpu/numa/cell")):
        cells.append(_xml_int(cell, "id", "<cpu><numa><cell>", index))
    return {
        "name": (root.findtext("name") or "").strip(),
        "vcpus": vcpus,
        "memory_kib": memory_kib,
        "current_memory_kib": current_kib,
        "iothread_ids": sorted(iothread_ids),
        "numa_cells": sorted(cells),
    }


def tuning_state(root):
    """The meaning of the owned sections, comparable with desired_state().

    CPU and node sets are sorted lists, sizes KiB, libvirt's defaults filled in.
    """
    state = {}
    vcpu = root.find("vcpu")
    cpuset = None
    placement = "static"
    if vcpu is not None:
        placement = vcpu.get("placement", "static")
        if vcpu.get("cpuset") is not None:
            cpuset = _xml_cpus(vcpu.get("cpuset"), "<vcpu cpuset>")
    state["vcpu"] = {"placement": placement, "cpuset": cpuset}

    cputune = root.find("cputune")
    vcpupin, iothreadpin, emulatorpin = {}, {}, None
    if cputune is not None:
        for pin in cputune.findall("vcpupin"):
            vcpupin[_xml_int(pin, "vcpu", "<vcpupin>")] = _xml_cpus(pin.get("cpuset"), "<vcpupin>")
        for pin in cputune.findall("iothreadpin"):
            thread = _xml_int(pin, "iothread", "<iothreadpin>")
            iothreadpin[thread] = _xml_cpus(pin.get("cpuset"), "<iothreadpin>")
        pin = cputune.find("emulatorpin")
        if pin is not None:
            emulatorpin = _xml_cpus(pin.get("cpuset"), "<emulatorpin>")
    state["vcpupin"] = vcpupin
    state["emulatorpin"] = emulatorpin
    state["iothreadpin"] = iothreadpin

    numatune = root.find("numatune")
    memory, memnodes = None, {}
    if numatune is not None:
        element = numatune.find("memory")
        if element is not None:
            nodeset = element.get("nodeset")
            nodes = _xml_cpus(nodeset, "<numatune><memory nodeset>") if nodeset else None
            memory = {
                "mode": element.get("mode", "strict"),
                "placement": element.get("placement", "static" if nodes else "auto"),
                "nodeset": nodes,
            }
        for element in numatune.findall("memnode"):
            memnodes[_xml_int(element, "cellid", "<memnode>")] = {
                "mode": element.get("mode", "strict"),
                "nodeset": _xml_cpus(element.get("nodeset"), "<memnode nodeset>"),
            }
    state["numatune"] = {"memory": memory, "memnode": memnodes}

    pages = None
    hugepages = root.find("memoryBacking/hugepages")
    if hugepages is not None:
        pages = []
        for page in hugepages.findall("page"):
            nodeset = page.get("nodeset")
            pages.append({
                "size_kib": _scaled_kib(page.get("size"), page.get("unit"), "<page size>"),
                "nodeset": _xml_cpus(nodeset, "<page nodeset>") if nodeset else None,
            })
        pages.sort(key=lambda item: (item["size_kib"], item["nodeset"] or []))
    state["memoryBacking"] = {"hugepages": pages}
    return state


def desired_state(facts, guest):
    """The owned sections as the plan wants them, for a domain described by ``facts``."""
    nodes = list(guest["memory_nodes"])
    state = {
        "vcpu": {"placement": "static", "cpuset": None},
        "vcpupin": dict((vcpu, list(cpus)) for vcpu, cpus in guest["vcpupin"].items()),
        "emulatorpin": list(guest["emulatorpin"]),
        "iothreadpin": dict((thread, list(guest["iothreadpin"]))
                            for thread in facts["iothread_ids"]),
        "numatune": {
            "memory": {"mode": "strict", "placement": "static", "nodeset": nodes},
            "memnode": dict((cell, {"mode": "strict", "nodeset": list(nodes)})
                            for cell in facts["numa_cells"]),
        },
        "memoryBacking": {"hugepages": None},
    }
    if guest["hugepages"]:
        state["memoryBacking"]["hugepages"] = [
            {"size_kib": guest["hugepage_size_kb"], "nodeset": None}]
    return state


def check_domain(facts, guest):
    """Reasons the plan does not fit this domain (empty list: it fits)."""
    errors = []
    if facts["vcpus"] != guest["vcpus"]:
        errors.append(
            "domain %s has %d vCPUs but the plan pins %d: change the domain or the plan "
            "(this module never changes the vCPU count)"
            % (guest["name"], facts["vcpus"], guest["vcpus"]))
    if guest["memory_mb"] is not None and facts["memory_kib"] is not None \
            and facts["memory_kib"] != guest["memory_mb"] * 1024:
        errors.append(
            "domain %s has %d KiB of memory but the plan placed %d MiB (%d KiB): the "
            "planned huge pages and node memory would not fit"
            % (guest["name"], facts["memory_kib"], guest["memory_mb"],
               guest["memory_mb"] * 1024))
    if guest["hugepages"] and facts["memory_kib"] is not None \
            and facts["memory_kib"] % guest["hugepage_size_kb"]:
        errors.append(
            "domain %s memory (%d KiB) is not a multiple of the %d KiB huge page size"
            % (guest["name"], facts["memory_kib"], guest["hugepage_size_kb"]))
    return errors

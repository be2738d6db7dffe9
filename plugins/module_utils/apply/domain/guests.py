# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate and normalise ``kvm_host_plan.guests`` entries (pure, no libvirt)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError


def _int(value, where, minimum=0):
    if isinstance(value, bool):
        raise DomainXMLError("%s must be an integer, got %r" % (where, value))
    if isinstance(value, float) and value != int(value):
        raise DomainXMLError("%s must be an integer, got %r" % (where, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DomainXMLError("%s must be an integer, got %r" % (where, value))
    if number < minimum:
        raise DomainXMLError("%s must be at least %d, got %r" % (where, minimum, value))
    return number


def _cpus(value, where, allow_empty=False):
    if isinstance(value, bool):
        raise DomainXMLError("%s must be CPU ids or a cpulist, got %r" % (where, value))
    try:
        cpus = parse_cpulist(value)
    except CpulistError as exc:
        raise DomainXMLError("%s: %s" % (where, exc))
    if not cpus and not allow_empty:
        raise DomainXMLError("%s must name at least one CPU" % where)
    return cpus


def _bool(value, where):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false",
                                                    "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    raise DomainXMLError("%s must be a boolean, got %r" % (where, value))


def validate_guests(guests, iothreadpin=None):
    """Check ``kvm_host_plan.guests`` entries; return them normalised.

    Raises DomainXMLError naming ``guests[i].key`` for the first bad value. Keys
    other than the ones used here (the plan carries more) are ignored. Each result:
    ``name``, ``vcpus``, ``memory_mb`` (or None), ``memory_nodes`` ([int]: ``memory_node``,
    or for a guest with ``spans_nodes`` every node its ``memory_mb_by_node`` uses),
    ``hugepages``, ``hugepage_size_kb``, ``vcpupin`` ({int: [int]}), ``emulatorpin``,
    ``iothreadpin`` ([int]: the guest's own ``iothreadpin``, else the module-wide one,
    else ``emulatorpin``), ``numa_node``, ``spans_nodes``.
    """
    if not isinstance(guests, (list, tuple)):
        raise DomainXMLError("guests must be a list of plan entries, got %s"
                             % type(guests).__name__)
    default_io = None
    if iothreadpin is not None:
        default_io = _cpus(iothreadpin, "iothreadpin")
    result = []
    seen = set()
    for index, entry in enumerate(guests):
        where = "guests[%d]" % index
        if not isinstance(entry, dict):
            raise DomainXMLError("%s must be a dict, got %s" % (where, type(entry).__name__))
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DomainXMLError("%s.name must be a non-empty string, got %r" % (where, name))
        where = "guests[%d] (%s)" % (index, name)
        if name in seen:
            raise DomainXMLError("%s: guest name %r is planned twice" % (where, name))
        seen.add(name)
        for key in ("vcpus", "vcpupin", "emulatorpin", "memory_node"):
            if entry.get(key) is None:
                raise DomainXMLError("%s.%s is missing" % (where, key))
        vcpus = _int(entry["vcpus"], where + ".vcpus", 1)
        pins = entry["vcpupin"]
        if not isinstance(pins, dict):
            raise DomainXMLError("%s.vcpupin must be a dict {vcpu: cpu}, got %s"
                                 % (where, type(pins).__name__))
        vcpupin = {}
        for key, value in pins.items():
            vcpu = _int(key, "%s.vcpupin key %r" % (where, key))
            if vcpu in vcpupin:
                raise DomainXMLError("%s.vcpupin names vCPU %d twice" % (where, vcpu))
            vcpupin[vcpu] = _cpus(value, "%s.vcpupin[%s]" % (where, key))
        if sorted(vcpupin) != list(range(vcpus)):
            raise DomainXMLError(
                "%s.vcpupin must pin every vCPU 0-%d exactly once, got vCPUs %s"
                % (where, vcpus - 1, format_cpulist(vcpupin) or "none"))
        emulatorpin = _cpus(entry["emulatorpin"], where + ".emulatorpin")
        if entry.get("iothreadpin") is not None:
            io_cpus = _cpus(entry["iothreadpin"], where + ".iothreadpin")
        else:
            io_cpus = default_io if default_io is not None else emulatorpin
        memory_node = entry["memory_node"]
        if isinstance(memory_node, (list, tuple, str)):
            memory_nodes = _cpus(memory_node, where + ".memory_node")
        else:
            memory_nodes = [_int(memory_node, where + ".memory_node")]
        spans_nodes = _bool(entry.get("spans_nodes", False), where + ".spans_nodes")
        by_node = entry.get("memory_mb_by_node")
        if spans_nodes and by_node:
            # The planner split this guest's memory (and its huge pages) over several
            # nodes: a strict policy on one of them would leave it without the rest.
            if not isinstance(by_node, dict):
                raise DomainXMLError("%s.memory_mb_by_node must be a dict {node: MiB}, got %s"
                                     % (where, type(by_node).__name__))
            memory_nodes = sorted(
                _int(node, "%s.memory_mb_by_node key %r" % (where, node))
                for node, size in by_node.items()
                if _int(size, "%s.memory_mb_by_node[%s]" % (where, node)) > 0)
            if not memory_nodes:
                raise DomainXMLError("%s.memory_mb_by_node places no memory" % where)
        hugepages = _bool(entry.get("hugepages", False), where + ".hugepages")
        size = entry.get("hugepage_size_kb")
        if hugepages:
            if size is None:
                raise DomainXMLError("%s.hugepage_size_kb is missing (hugepages is true)"
                                     % where)
            size = _int(size, where + ".hugepage_size_kb", 1)
        elif size is not None:
            size = _int(size, where + ".hugepage_size_kb", 1)
        memory_mb = entry.get("memory_mb")
        if memory_mb is not None:
            memory_mb = _int(memory_mb, where + ".memory_mb", 1)
            if hugepages and (memory_mb * 1024) % size:
                raise DomainXMLError(
                    "%s.memory_mb (%d MiB) is not a multiple of hugepage_size_kb (%d KiB)"
                    % (where, memory_mb, size))
        numa_node = entry.get("numa_node")
        if numa_node is not None:
            numa_node = _int(numa_node, where + ".numa_node")
        result.append({
            "name": name,
            "vcpus": vcpus,
            "memory_mb": memory_mb,
            "memory_nodes": memory_nodes,
            "hugepages": hugepages,
            "hugepage_size_kb": size,
            "vcpupin": vcpupin,
            "emulatorpin": emulatorpin,
            "iothreadpin": io_cpus,
            "numa_node": numa_node,
            "spans_nodes": spans_nodes,
        })
    return result


def planned_cpus(guest):
    """Every host CPU a validated guest entry pins something to (sorted)."""
    cpus = set(guest["emulatorpin"]) | set(guest["iothreadpin"])
    for value in guest["vcpupin"].values():
        cpus.update(value)
    return sorted(cpus)

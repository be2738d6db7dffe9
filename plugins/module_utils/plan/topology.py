# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU cores and NUMA nodes as the planner sees them, from the kvm_host facts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError, is_int


class Topology(object):
    """CPU cores and NUMA nodes, as the planner needs them."""

    def __init__(self, facts, warnings):
        if not isinstance(facts, dict):
            raise PlanError("facts", "must be the kvm_host dict, got %s" % type(facts).__name__)
        cpu = facts.get("cpu")
        if not isinstance(cpu, dict) or not isinstance(cpu.get("online"), list) or not cpu["online"]:
            raise PlanError("facts", "cpu.online is missing or empty (not kvm_host facts?)")
        try:
            self.online = parse_cpulist(cpu["online"])
        except CpulistError as exc:
            raise PlanError("facts", "cpu.online: %s" % exc)
        online = set(self.online)
        self.vendor = str(cpu.get("vendor") or "")
        flags = cpu.get("flags") or {}
        self.pdpe1gb = bool(flags.get("pdpe1gb")) if isinstance(flags, dict) else False

        groups = cpu.get("core_groups")
        cores = []
        seen = set()
        if isinstance(groups, list) and groups:
            for group in groups:
                try:
                    members = [c for c in parse_cpulist(group) if c in online and c not in seen]
                except CpulistError as exc:
                    raise PlanError("facts", "cpu.core_groups: %s" % exc)
                if members:
                    seen.update(members)
                    cores.append(tuple(members))
        else:
            warnings.append("facts have no cpu.core_groups: every CPU is treated as a core of its own")
        for cpu_id in self.online:
            if cpu_id not in seen:
                cores.append((cpu_id,))
        cores.sort()
        self.cores = cores
        self.core_of = {}
        for index, core in enumerate(cores):
            for cpu_id in core:
                self.core_of[cpu_id] = index

        memory = facts.get("memory")
        if not isinstance(memory, dict):
            memory = {}
        numa = facts.get("numa") or {}
        raw_nodes = numa.get("nodes") if isinstance(numa, dict) else None
        nodes = []
        if isinstance(raw_nodes, list) and raw_nodes:
            ids = set()
            for raw in raw_nodes:
                if not isinstance(raw, dict) or not is_int(raw.get("id")):
                    raise PlanError("facts", "numa.nodes entries need an integer id")
                if raw["id"] in ids:
                    raise PlanError("facts", "numa.nodes has node %d twice" % raw["id"])
                ids.add(raw["id"])
                try:
                    node_cpus = [c for c in parse_cpulist(raw.get("cpus") or []) if c in online]
                except CpulistError as exc:
                    raise PlanError("facts", "numa.nodes[%d].cpus: %s" % (raw["id"], exc))
                memory_kb = raw.get("memory_kb") or 0
                if not is_int(memory_kb) or memory_kb < 0:
                    raise PlanError("facts", "numa.nodes[%d].memory_kb must be a non-negative integer"
                                    % raw["id"])
                nodes.append({"id": raw["id"], "cpus": node_cpus, "memory_kb": memory_kb,
                              "distances": raw.get("distances") or []})
        else:
            nodes.append({"id": 0, "cpus": list(self.online),
                          "memory_kb": int(memory.get("total_kb") or 0), "distances": []})
        nodes.sort(key=lambda n: n["id"])
        placed = set()
        for node in nodes:
            node["cpus"] = [c for c in node["cpus"] if c not in placed]
            placed.update(node["cpus"])
        stray = [c for c in self.online if c not in placed]
        if stray:
            warnings.append("CPUs %s are in no NUMA node of the facts; counted on node %d"
                            % (format_cpulist(stray), nodes[0]["id"]))
            nodes[0]["cpus"] = sorted(nodes[0]["cpus"] + stray)
        self.nodes = nodes
        self.node_by_id = dict((n["id"], n) for n in nodes)
        self.node_of_cpu = {}
        for node in nodes:
            for cpu_id in node["cpus"]:
                self.node_of_cpu[cpu_id] = node["id"]
        # A core belongs to the node of its first thread.
        for node in nodes:
            node["cores"] = []
        for index, core in enumerate(cores):
            self.node_by_id[self.node_of_cpu[core[0]]]["cores"].append(index)
        self.boot_cpu = self.online[0]
        self.total_memory_kb = sum(n["memory_kb"] for n in nodes)
        sizes = memory.get("hugepage_sizes_kb")
        self.hugepage_sizes_kb = [s for s in (sizes or []) if is_int(s)]

    def memory_node_for(self, node_id):
        """The node whose memory serves CPUs of ``node_id`` (itself unless it has none)."""
        node = self.node_by_id[node_id]
        if node["memory_kb"] > 0:
            return node_id
        with_memory = [n for n in self.nodes if n["memory_kb"] > 0]
        if not with_memory:
            return node_id
        order = [n["id"] for n in self.nodes]
        distances = node["distances"]

        def distance(other):
            position = order.index(other["id"])
            if isinstance(distances, list) and position < len(distances) and is_int(distances[position]):
                return distances[position]
            return 10 ** 6
        return min(with_memory, key=lambda n: (distance(n), n["id"]))["id"]


def kernel_version(facts):
    """(major, minor) of the running kernel from the facts, or None when unknown."""
    kernel = facts.get("kernel") if isinstance(facts, dict) else None
    if not isinstance(kernel, dict):
        return None
    version = kernel.get("version_tuple")
    if isinstance(version, (list, tuple)) and len(version) >= 2 and all(is_int(v) for v in version[:2]):
        return (version[0], version[1])
    match = re.match(r"^\s*(\d+)\.(\d+)", str(kernel.get("release") or ""))
    if match:
        return (int(match.group(1)), int(match.group(2)))
    return None


def kernel_config_value(facts, name):
    """Value of CONFIG option ``name`` from facts kernel.config: 'y', 'm', other, '' (unset) or None (unknown)."""
    kernel = facts.get("kernel") if isinstance(facts, dict) else None
    config = kernel.get("config") if isinstance(kernel, dict) else None
    if not isinstance(config, dict) or not config:
        return None
    value = config.get(name)
    if value is None:
        value = config.get(name.replace("CONFIG_", "", 1))
    if value is True:
        return "y"
    if value in (None, False):
        return ""
    return str(value)

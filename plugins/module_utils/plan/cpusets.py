# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Housekeeping, emulator and isolated CPU sets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError, is_int


def choose_housekeeping(topo, policy, warnings):
    explicit = policy.get("housekeeping_cpus")
    if explicit is not None and explicit != "" and explicit != []:
        try:
            wanted = parse_cpulist(explicit)
        except CpulistError as exc:
            raise PlanError("housekeeping_cpus", str(exc))
        online = set(topo.online)
        missing = [c for c in wanted if c not in online]
        if missing:
            raise PlanError("housekeeping_cpus", "CPU(s) %s are not online (online: %s)"
                            % (format_cpulist(missing), format_cpulist(topo.online)))
        chosen = set(wanted)
        if not policy.get("allow_split_cores"):
            for core in topo.cores:
                inside = [c for c in core if c in chosen]
                if inside and len(inside) != len(core):
                    raise PlanError(
                        "housekeeping_cpus",
                        "CPU(s) %s split the physical core %s between housekeeping and guests; "
                        "give whole cores or set allow_split_cores"
                        % (format_cpulist(inside), format_cpulist(core)))
        for node in topo.nodes:
            if node["cpus"] and not chosen.intersection(node["cpus"]):
                warnings.append("NUMA node %d keeps no housekeeping CPU (housekeeping_cpus)" % node["id"])
        return chosen
    per_node = policy.get("housekeeping_cores_per_node")
    if per_node is None:
        per_node = 1
    if not is_int(per_node) or per_node < 1:
        raise PlanError("housekeeping_cores_per_node", "must be an integer >= 1, got %r" % (per_node,))
    chosen = set()
    for node in topo.nodes:
        cores = node["cores"]
        if not cores:
            continue
        if len(cores) <= per_node:
            warnings.append("NUMA node %d has %d core(s): all are housekeeping, none is left for guests"
                            % (node["id"], len(cores)))
        for index in cores[:per_node]:
            chosen.update(topo.cores[index])
    return chosen


def choose_emulator_cores(topo, policy, housekeeping, warnings):
    """Dedicated emulator cores: one whole non-housekeeping core per node with CPUs."""
    by_node = {}
    if policy.get("emulator_threads") != "dedicated":
        return by_node
    for node in topo.nodes:
        if not node["cores"]:
            continue
        free = [i for i in node["cores"] if not housekeeping.intersection(topo.cores[i])]
        if len(free) < 1:
            warnings.append("NUMA node %d has no core left for emulator threads; they use its "
                            "housekeeping CPUs" % node["id"])
            continue
        if len(free) == 1:
            warnings.append("NUMA node %d: its last guest core goes to emulator threads" % node["id"])
        by_node[node["id"]] = list(topo.cores[free[0]])
    return by_node

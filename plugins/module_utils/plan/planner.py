# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host plan: a pure function of the ``kvm_host`` facts and a policy.

Every number the collection writes to a host (CPU sets, huge page counts, kernel
arguments, guest pinning) is decided here and nowhere else. docs/plan.md explains
the policy, the formulas and the kernel documentation each kernel argument follows.

Entry points:

- ``ARGUMENT_SPEC`` / ``MUTUALLY_EXCLUSIVE``: the options (used by the action plugin);
- ``normalize_policy(policy)``: the same validation without Ansible's action machinery;
- ``plan(facts, policy)``: returns the ``kvm_host_plan`` dict or raises ``PlanError``,
  whose message always starts with the name of the option (or ``facts``) at fault.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
)

KB_PER_MB = 1024
PAGE_SIZES_KB = {"2M": 2048, "1G": 1048576}

# Default host reserve per node (docs/plan.md "Memory reserve").
RESERVE_FIXED_MB = 1024
RESERVE_PERCENT = 4

GUEST_OPTIONS = dict(
    name=dict(type="str", required=True),
    vcpus=dict(type="int", required=True),
    memory_mb=dict(type="int", required=True),
    numa_node=dict(type="int"),
    hugepages=dict(type="bool", default=True),
    smt=dict(type="str", default="exclusive", choices=["exclusive", "shared"]),
)

ARGUMENT_SPEC = dict(
    facts=dict(type="dict"),
    housekeeping_cores_per_node=dict(type="int", default=1),
    housekeeping_cpus=dict(type="raw"),
    allow_split_cores=dict(type="bool", default=False),
    isolation=dict(type="str", default="none", choices=["none", "isolcpus", "nohz_full"]),
    emulator_threads=dict(type="str", default="housekeeping", choices=["housekeeping", "dedicated"]),
    hugepage_size=dict(type="str", default="auto", choices=["auto", "2M", "1G"]),
    hugepages_percent=dict(type="float"),
    hugepages_per_node=dict(type="dict"),
    host_reserved_memory_mb=dict(type="int"),
    zfs_arc_max_mb=dict(type="int"),
    guest_overhead_mb=dict(type="int", default=128),
    guest_spanning=dict(type="bool", default=True),
    iommu=dict(type="bool", default=False),
    iommu_passthrough=dict(type="bool", default=False),
    guests=dict(type="list", elements="dict", default=[], options=GUEST_OPTIONS),
)

MUTUALLY_EXCLUSIVE = [["hugepages_percent", "hugepages_per_node"]]

# Kernel versions that changed a parameter's accepted form (docs/plan.md).
ISOLCPUS_FLAGS_SINCE = (4, 15)     # isolcpus=[flag-list,]<cpu-list>, flag "domain"
MANAGED_IRQ_SINCE = (5, 6)         # isolcpus flag "managed_irq"
HUGEPAGES_NODE_FORMAT_SINCE = (5, 16)  # hugepages=<node>:<count>[,<node>:<count>]


class PlanError(ValueError):
    """An invalid policy or facts; ``option`` names the culprit, the message starts with it."""

    def __init__(self, option, message):
        self.option = option
        super(PlanError, self).__init__("%s: %s" % (option, message))


# --------------------------------------------------------------------------- policy

def normalize_policy(policy):
    """Validate ``policy`` against ARGUMENT_SPEC; return it with defaults filled in."""
    if policy is None:
        policy = {}
    if not isinstance(policy, dict):
        raise PlanError("policy", "must be a dict, got %s" % type(policy).__name__)
    guests = policy.get("guests")
    if guests is not None:
        if not isinstance(guests, list):
            raise PlanError("guests", "must be a list of dicts, got %s" % type(guests).__name__)
        for position, guest in enumerate(guests):
            if not isinstance(guest, dict):
                raise PlanError("guests", "entry %d must be a dict, got %s" % (position, type(guest).__name__))
    validator = ArgumentSpecValidator(ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE)
    result = validator.validate(dict(policy))
    if result.error_messages:
        error = result.errors.errors[0]
        message = result.error_messages[0]
        if isinstance(error, UnsupportedError):
            unknown = message.split(".")[0].split(",")[0].strip()
            raise PlanError(unknown, "unsupported parameter(s) %s" % message)
        raise PlanError(_first_option_named(message), message)
    return result.validated_parameters


def _first_option_named(message):
    quoted = re.findall(r"'([a-z_]+)'", message)
    for name in quoted:
        if name in ARGUMENT_SPEC:
            return name
        if name in GUEST_OPTIONS:
            return "guests"
    for name in sorted(ARGUMENT_SPEC, key=len, reverse=True):
        if re.search(r"\b%s\b" % name, message):
            return name
    return "policy"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- facts

class _Topology(object):
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
                if not isinstance(raw, dict) or not _is_int(raw.get("id")):
                    raise PlanError("facts", "numa.nodes entries need an integer id")
                if raw["id"] in ids:
                    raise PlanError("facts", "numa.nodes has node %d twice" % raw["id"])
                ids.add(raw["id"])
                try:
                    node_cpus = [c for c in parse_cpulist(raw.get("cpus") or []) if c in online]
                except CpulistError as exc:
                    raise PlanError("facts", "numa.nodes[%d].cpus: %s" % (raw["id"], exc))
                memory_kb = raw.get("memory_kb") or 0
                if not _is_int(memory_kb) or memory_kb < 0:
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
        self.hugepage_sizes_kb = [s for s in (sizes or []) if _is_int(s)]

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
            if isinstance(distances, list) and position < len(distances) and _is_int(distances[position]):
                return distances[position]
            return 10 ** 6
        return min(with_memory, key=lambda n: (distance(n), n["id"]))["id"]


def kernel_version(facts):
    """(major, minor) of the running kernel from the facts, or None when unknown."""
    kernel = facts.get("kernel") if isinstance(facts, dict) else None
    if not isinstance(kernel, dict):
        return None
    version = kernel.get("version_tuple")
    if isinstance(version, (list, tuple)) and len(version) >= 2 and all(_is_int(v) for v in version[:2]):
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


# --------------------------------------------------------------------------- CPU sets

def _choose_housekeeping(topo, policy, warnings):
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
    if not _is_int(per_node) or per_node < 1:
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


def _choose_emulator_cores(topo, policy, housekeeping, warnings):
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


# --------------------------------------------------------------------------- memory

def _size_label(size_kb):
    for label, value in PAGE_SIZES_KB.items():
        if value == size_kb:
            return label
    return "%dK" % size_kb


def _choose_page_size(topo, policy):
    wanted = policy.get("hugepage_size") or "auto"
    sizes = topo.hugepage_sizes_kb
    if wanted == "auto":
        if topo.pdpe1gb and (not sizes or PAGE_SIZES_KB["1G"] in sizes):
            return PAGE_SIZES_KB["1G"]
        return PAGE_SIZES_KB["2M"]
    size_kb = PAGE_SIZES_KB[wanted]
    if wanted == "1G" and not topo.pdpe1gb:
        raise PlanError("hugepage_size", "1G pages need the CPU flag pdpe1gb, which the facts "
                        "(cpu.flags.pdpe1gb) say this CPU lacks; use 2M")
    if sizes and size_kb not in sizes:
        raise PlanError("hugepage_size", "the kernel offers huge page sizes %s kB, not %s"
                        % (", ".join(str(s) for s in sizes), wanted))
    return size_kb


def default_reserve_mb(memory_mb, has_cpus):
    """Default host reserve of one node (docs/plan.md): 1 GiB per node with CPUs + 4 %."""
    if memory_mb <= 0:
        return 0
    reserve = -(-memory_mb * RESERVE_PERCENT // 100)
    if has_cpus:
        reserve += RESERVE_FIXED_MB
    return min(memory_mb, reserve)


def _arc_max_mb(facts, policy, warnings):
    option = policy.get("zfs_arc_max_mb")
    if option is not None:
        if not _is_int(option) or option < 0:
            raise PlanError("zfs_arc_max_mb", "must be a non-negative integer, got %r" % (option,))
        return option
    zfs = facts.get("zfs") if isinstance(facts, dict) else None
    if not isinstance(zfs, dict) or not zfs.get("present"):
        return 0
    arc = zfs.get("arc") or {}
    arc_max = arc.get("max") if isinstance(arc, dict) else None
    if _is_int(arc_max) and arc_max > 0:
        return -(-arc_max // (1024 * 1024))
    warnings.append("ZFS is present but its ARC has no maximum (zfs_arc_max=0): the ARC may take "
                    "memory the plan counts as free; set zfs_arc_max_mb")
    return 0


class _Memory(object):
    """Per node: total, reserve (incl. ARC share), huge page pool and normal memory left."""

    def __init__(self, topo, facts, policy, page_kb, warnings):
        self.page_kb = page_kb
        self.page_mb = page_kb / KB_PER_MB
        explicit = policy.get("host_reserved_memory_mb")
        if explicit is not None and (not _is_int(explicit) or explicit < 0):
            raise PlanError("host_reserved_memory_mb", "must be a non-negative integer, got %r" % (explicit,))
        overhead = policy.get("guest_overhead_mb")
        if overhead is None:
            overhead = 128
        if not _is_int(overhead) or overhead < 0:
            raise PlanError("guest_overhead_mb", "must be a non-negative integer, got %r" % (overhead,))
        self.overhead_mb = overhead
        arc_mb = _arc_max_mb(facts, policy, warnings)
        total_mb = topo.total_memory_kb // KB_PER_MB
        self.total_mb = {}
        self.reserve_mb = {}
        self.arc_mb = {}
        self.available_mb = {}
        for node in topo.nodes:
            node_mb = node["memory_kb"] // KB_PER_MB
            self.total_mb[node["id"]] = node_mb
            if explicit is not None:
                reserve = min(explicit, node_mb)
            else:
                reserve = default_reserve_mb(node_mb, bool(node["cpus"]))
            share = -(-arc_mb * node_mb // total_mb) if total_mb and arc_mb else 0
            self.reserve_mb[node["id"]] = reserve
            self.arc_mb[node["id"]] = share
            self.available_mb[node["id"]] = max(0, node_mb - reserve - share)
        if arc_mb and arc_mb >= total_mb:
            raise PlanError("zfs_arc_max_mb", "ARC maximum %d MiB is not below the host memory %d MiB"
                            % (arc_mb, total_mb))
        self.fixed_pool = None  # node -> pages when the pool is given (percent or counts)
        self.pages = dict((n["id"], 0) for n in topo.nodes)
        self.normal_used = dict((n["id"], 0) for n in topo.nodes)
        self.hp_used_pages = dict((n["id"], 0) for n in topo.nodes)
        self._set_pool(topo, policy)

    def _set_pool(self, topo, policy):
        percent = policy.get("hugepages_percent")
        counts = policy.get("hugepages_per_node")
        if percent is not None:
            if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
                raise PlanError("hugepages_percent", "must be a number from 0 to 100, got %r" % (percent,))
            pool = {}
            for node in topo.nodes:
                avail_kb = self.available_mb[node["id"]] * KB_PER_MB
                pool[node["id"]] = int(avail_kb * percent / 100) // self.page_kb
            self.fixed_pool = pool
        elif counts is not None:
            if not isinstance(counts, dict):
                raise PlanError("hugepages_per_node", "must be a dict of node id to page count")
            pool = dict((n["id"], 0) for n in topo.nodes)
            for key, count in counts.items():
                try:
                    node_id = int(str(key).strip())
                except ValueError:
                    raise PlanError("hugepages_per_node", "key %r is not a NUMA node id" % (key,))
                if node_id not in topo.node_by_id:
                    raise PlanError("hugepages_per_node", "node %d does not exist (nodes: %s)"
                                    % (node_id, ", ".join(str(n["id"]) for n in topo.nodes)))
                if isinstance(count, str) and count.strip().lstrip("-").isdigit():
                    count = int(count.strip())
                if not _is_int(count):
                    raise PlanError("hugepages_per_node", "node %d: count must be an integer, got %r"
                                    % (node_id, count))
                if count < 0:
                    raise PlanError("hugepages_per_node", "node %d: count must not be negative, got %d"
                                    % (node_id, count))
                want_mb = count * self.page_kb // KB_PER_MB
                if want_mb > self.total_mb[node_id]:
                    raise PlanError("hugepages_per_node", "node %d: %d pages of %s (%d MiB) are more than "
                                    "the node holds (%d MiB)" % (node_id, count, _size_label(self.page_kb),
                                                                 want_mb, self.total_mb[node_id]))
                if want_mb > self.available_mb[node_id]:
                    raise PlanError(
                        "hugepages_per_node",
                        "node %d: %d pages of %s (%d MiB) would leave the node below its reserve "
                        "(%d MiB of %d MiB may hold huge pages: reserve %d MiB, ZFS ARC share %d MiB; "
                        "see host_reserved_memory_mb)"
                        % (node_id, count, _size_label(self.page_kb), want_mb, self.available_mb[node_id],
                           self.total_mb[node_id], self.reserve_mb[node_id], self.arc_mb[node_id]))
                pool[node_id] = count
            self.fixed_pool = pool
        if self.fixed_pool is not None:
            self.pages = dict(self.fixed_pool)

    def clone(self):
        other = _Memory.__new__(_Memory)
        other.__dict__.update(self.__dict__)
        other.pages = dict(self.pages)
        other.normal_used = dict(self.normal_used)
        other.hp_used_pages = dict(self.hp_used_pages)
        return other

    def pages_for(self, memory_mb):
        return -(-memory_mb * KB_PER_MB // self.page_kb)

    def normal_free_mb(self, node_id):
        pool_mb = self.pages[node_id] * self.page_kb // KB_PER_MB
        return self.available_mb[node_id] - pool_mb - self.normal_used[node_id]

    def fits(self, node_id, memory_mb, hugepages):
        """Whether a guest part of ``memory_mb`` fits on memory node ``node_id``."""
        normal_free = self.normal_free_mb(node_id)
        if not hugepages:
            return normal_free >= memory_mb + self.overhead_mb
        pages = self.pages_for(memory_mb)
        if self.fixed_pool is not None:
            return (self.pages[node_id] - self.hp_used_pages[node_id] >= pages
                    and normal_free >= self.overhead_mb)
        return normal_free >= pages * self.page_kb // KB_PER_MB + self.overhead_mb

    def take(self, node_id, memory_mb, hugepages):
        self.normal_used[node_id] += self.overhead_mb
        if not hugepages:
            self.normal_used[node_id] += memory_mb
            return
        pages = self.pages_for(memory_mb)
        self.hp_used_pages[node_id] += pages
        if self.fixed_pool is None:
            self.pages[node_id] += pages

    def free_fraction(self, node_id, hugepages):
        if hugepages and self.fixed_pool is not None:
            total = self.pages[node_id] or 1
            return (self.pages[node_id] - self.hp_used_pages[node_id]) / total
        return self.normal_free_mb(node_id) / (self.available_mb[node_id] or 1)

    def free_for(self, node_id, hugepages):
        """MiB a (huge page) guest could still get on ``node_id``."""
        normal = max(0, self.normal_free_mb(node_id) - self.overhead_mb)
        if hugepages and self.fixed_pool is not None:
            if self.normal_free_mb(node_id) < self.overhead_mb:
                return 0
            return (self.pages[node_id] - self.hp_used_pages[node_id]) * self.page_kb // KB_PER_MB
        if hugepages:
            return normal * KB_PER_MB // self.page_kb * self.page_kb // KB_PER_MB
        return normal


# --------------------------------------------------------------------------- guests

class _CpuState(object):
    """Free isolated cores of one node: whole free cores and shared-guest partial cores."""

    def __init__(self, topo, node, usable):
        self.topo = topo
        self.free_cores = [i for i in node["cores"] if set(topo.cores[i]) <= usable]
        self.partial = {}   # core index -> free cpus (cores used by shared guests)
        self.whole_threads = sum(len(topo.cores[i]) for i in self.free_cores)
        self.partial_threads = 0
        self.capacity = self.whole_threads

    def clone(self):
        other = _CpuState.__new__(_CpuState)
        other.topo = self.topo
        other.free_cores = list(self.free_cores)
        other.partial = dict((k, list(v)) for k, v in self.partial.items())
        other.whole_threads = self.whole_threads
        other.partial_threads = self.partial_threads
        other.capacity = self.capacity
        return other

    def free_for(self, smt):
        return self.whole_threads if smt == "exclusive" else self.whole_threads + self.partial_threads

    def take(self, vcpus, smt):
        """Return the CPUs for ``vcpus`` vCPUs, in vCPU order (siblings next to each other)."""
        cores = self.topo.cores
        chosen = []
        if smt == "exclusive":
            while len(chosen) < vcpus:
                index = self.free_cores.pop(0)
                self.whole_threads -= len(cores[index])
                chosen.extend(cores[index])
            return chosen[:vcpus]
        remaining = vcpus
        while remaining > 0:
            whole = None
            for index in self.free_cores:
                if len(cores[index]) <= remaining:
                    whole = index
                    break
            if whole is not None:
                self.free_cores.remove(whole)
                self.whole_threads -= len(cores[whole])
                chosen.extend(cores[whole])
                remaining -= len(cores[whole])
                continue
            fitting = [(len(free), index) for index, free in self.partial.items() if len(free) >= remaining]
            if fitting:
                index = min(fitting)[1]
            elif self.free_cores:
                index = self.free_cores.pop(0)
                self.whole_threads -= len(cores[index])
                self.partial[index] = list(cores[index])
                self.partial_threads += len(cores[index])
            else:
                index = max((len(free), -index) for index, free in self.partial.items())
                index = -index[1]
            free = self.partial[index]
            used = free[:remaining]
            self.partial[index] = free[len(used):]
            if not self.partial[index]:
                del self.partial[index]
            self.partial_threads -= len(used)
            chosen.extend(used)
            remaining -= len(used)
        return chosen


def _validate_guests(guests, topo, memory, isolated):
    names = set()
    checked = []
    guest_capacity = len(isolated)
    memory_capacity = sum(memory.available_mb.values())
    for position, guest in enumerate(guests or []):
        if not isinstance(guest, dict):
            raise PlanError("guests", "entry %d must be a dict" % position)
        name = guest.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PlanError("guests", "entry %d needs a name" % position)
        label = "guests[%s]" % name
        if name in names:
            raise PlanError("guests", "duplicate guest name %r" % name)
        names.add(name)
        vcpus = guest.get("vcpus")
        if not _is_int(vcpus) or vcpus < 1:
            raise PlanError(label + ".vcpus", "must be an integer >= 1, got %r" % (vcpus,))
        memory_mb = guest.get("memory_mb")
        if not _is_int(memory_mb) or memory_mb < 1:
            raise PlanError(label + ".memory_mb", "must be an integer >= 1, got %r" % (memory_mb,))
        smt = guest.get("smt") or "exclusive"
        if smt not in ("exclusive", "shared"):
            raise PlanError(label + ".smt", "must be exclusive or shared, got %r" % (smt,))
        hugepages = guest.get("hugepages", True)
        if not isinstance(hugepages, bool):
            raise PlanError(label + ".hugepages", "must be a boolean, got %r" % (hugepages,))
        node = guest.get("numa_node")
        if node is not None:
            if not _is_int(node) or node not in topo.node_by_id:
                raise PlanError(label + ".numa_node", "node %r does not exist (nodes: %s)"
                                % (node, ", ".join(str(n["id"]) for n in topo.nodes)))
            if not topo.node_by_id[node]["cpus"]:
                raise PlanError(label + ".numa_node", "node %d has no CPUs (memory-only node)" % node)
        if vcpus > guest_capacity:
            raise PlanError(label + ".vcpus", "%d vCPUs is larger than the host: it has %d CPUs for "
                            "guests (%d online)" % (vcpus, guest_capacity, len(topo.online)))
        if memory_mb > memory_capacity:
            raise PlanError(label + ".memory_mb", "%d MiB is larger than the host: its nodes have %d MiB "
                            "above their reserves" % (memory_mb, memory_capacity))
        checked.append({"name": name, "vcpus": vcpus, "memory_mb": memory_mb, "numa_node": node,
                        "hugepages": hugepages, "smt": smt, "position": position})
    return checked


def _orders(topo, memory, usable):
    """Guest orders tried by the placement, the first one is best-fit decreasing.

    The plan keeps the order that places the most guests on one node each (ties: the
    most vCPUs, then memory, then the earlier order), so the result is deterministic.
    """
    threads = max([len(core) for core in topo.cores] or [1])
    total_cpus = float(len(usable) or 1)
    total_mb = float(sum(memory.available_mb.values()) or 1)

    def cost(guest):  # threads a guest really takes: exclusive guests hold whole cores
        if guest["smt"] == "exclusive":
            return -(-guest["vcpus"] // threads) * threads
        return guest["vcpus"]

    def size(guest):
        return cost(guest) / total_cpus + guest["memory_mb"] / total_mb

    return (
        # best-fit decreasing: most constrained first (explicit node, exclusive, big)
        lambda g: (g["numa_node"] is None, g["smt"] != "exclusive", -g["vcpus"], -g["memory_mb"], g["name"]),
        lambda g: (g["numa_node"] is None, -size(g), g["name"]),
        lambda g: (g["numa_node"] is None, -g["memory_mb"], -g["vcpus"], g["name"]),
        # smallest first: the most guests when the host cannot take them all
        lambda g: (g["numa_node"] is None, size(g), g["name"]),
        lambda g: (g["numa_node"] is None, cost(g), g["memory_mb"], g["name"]),
        lambda g: (g["numa_node"] is None, g["memory_mb"], cost(g), g["name"]),
    )


class _Placement(object):
    def __init__(self, topo, memory, cpu_states, memory_node, fit="best"):
        self.fit = fit
        self.topo = topo
        self.memory = memory.clone()
        self.cpus = dict((k, v.clone()) for k, v in cpu_states.items())
        self.memory_node = memory_node
        self.placed = {}
        self.unplaced = {}

    def place_local(self, guest):
        candidates = [guest["numa_node"]] if guest["numa_node"] is not None else sorted(self.cpus)
        best = None
        for node_id in candidates:
            state = self.cpus.get(node_id)
            if state is None:
                continue
            free = state.free_for(guest["smt"])
            if free < guest["vcpus"]:
                continue
            mem_node = self.memory_node[node_id]
            if not self.memory.fits(mem_node, guest["memory_mb"], guest["hugepages"]):
                continue
            cpu_left = (free - guest["vcpus"]) / (state.capacity or 1)
            mem_left = self.memory.free_fraction(mem_node, guest["hugepages"])
            score = (cpu_left + mem_left, node_id)
            if self.fit == "worst":
                score = (-(cpu_left + mem_left), node_id)
            if best is None or score < best[0]:
                best = (score, node_id)
        if best is None:
            return False
        node_id = best[1]
        cpus = self.cpus[node_id].take(guest["vcpus"], guest["smt"])
        mem_node = self.memory_node[node_id]
        self.memory.take(mem_node, guest["memory_mb"], guest["hugepages"])
        self.placed[guest["name"]] = {"guest": guest, "node": node_id, "cpus": cpus,
                                      "memory": {mem_node: guest["memory_mb"]}, "spans": False}
        return True

    def place_spanning(self, guest):
        """Spread a guest over several nodes: most free CPUs first, memory in proportion."""
        smt = guest["smt"]
        order = sorted(self.cpus, key=lambda n: (-self.cpus[n].free_for(smt), n))
        plan = []
        remaining = guest["vcpus"]
        for node_id in order:
            if remaining <= 0:
                break
            free = self.cpus[node_id].free_for(smt)
            if free <= 0:
                continue
            take = min(free, remaining)
            plan.append((node_id, take))
            remaining -= take
        if remaining > 0 or len(plan) < 2:
            return False
        parts = {}
        assigned = 0
        for position, (node_id, take) in enumerate(plan):
            if position == len(plan) - 1:
                part = guest["memory_mb"] - assigned
            else:
                part = guest["memory_mb"] * take // guest["vcpus"]
            assigned += part
            mem_node = self.memory_node[node_id]
            parts[mem_node] = parts.get(mem_node, 0) + part
        trial = self.memory.clone()
        for mem_node in sorted(parts):
            if parts[mem_node] <= 0:
                continue
            if not trial.fits(mem_node, parts[mem_node], guest["hugepages"]):
                return False
            trial.take(mem_node, parts[mem_node], guest["hugepages"])
        self.memory = trial
        cpus = []
        for node_id, take in plan:
            cpus.extend(self.cpus[node_id].take(take, smt))
        main = max(plan, key=lambda item: (item[1], -item[0]))[0]
        self.placed[guest["name"]] = {"guest": guest, "node": main, "cpus": cpus,
                                      "memory": dict((k, v) for k, v in parts.items() if v > 0),
                                      "spans": True}
        return True

    def reason(self, guest):
        smt = guest["smt"]
        kind = "whole free cores (smt exclusive)" if smt == "exclusive" else "free CPUs"
        node = guest["numa_node"]
        nodes = [node] if node is not None else sorted(self.cpus)
        nodes = [n for n in nodes if n in self.cpus]
        cpu_ok = [n for n in nodes if self.cpus[n].free_for(smt) >= guest["vcpus"]]
        if not cpu_ok:
            most = max([(self.cpus[n].free_for(smt), -n) for n in nodes] or [(0, 0)])
            if node is not None:
                return "NUMA node %d lacks %s for %d vCPUs (it has %d)" % (node, kind, guest["vcpus"], most[0])
            return "no NUMA node has %s for %d vCPUs (most: %d on node %d)" % (
                kind, guest["vcpus"], most[0], -most[1])
        memory_kind = "huge page memory" if guest["hugepages"] else "memory"
        best = max(self.memory.free_for(self.memory_node[n], guest["hugepages"]) for n in cpu_ok)
        return ("no NUMA node with room for %d vCPUs has %d MiB of free %s above its reserve "
                "(most: %d MiB)" % (guest["vcpus"], guest["memory_mb"], memory_kind, best))


def _place_guests(topo, memory, isolated, emulator_by_node, guests, spanning):
    usable = set(isolated)
    for cpus in emulator_by_node.values():
        usable.difference_update(cpus)
    cpu_states = {}
    memory_node = {}
    for node in topo.nodes:
        state = _CpuState(topo, node, usable)
        if state.capacity:
            cpu_states[node["id"]] = state
            memory_node[node["id"]] = topo.memory_node_for(node["id"])
    orders = _orders(topo, memory, usable)
    best = None
    attempts = [(order, fit) for fit in ("best", "worst") for order in orders]
    for rank, (order, fit) in enumerate(attempts):
        attempt = _Placement(topo, memory, cpu_states, memory_node, fit)
        # Free room only shrinks during an attempt: a guest no smaller (vCPUs and memory)
        # than one that already failed fails too, without looking at the nodes again.
        failed = {}
        for guest in sorted(guests, key=order):
            kind = (guest["smt"], guest["hugepages"], guest["numa_node"])
            if any(v <= guest["vcpus"] and m <= guest["memory_mb"] for v, m in failed.get(kind, ())):
                continue
            if not attempt.place_local(guest):
                failed.setdefault(kind, []).append((guest["vcpus"], guest["memory_mb"]))
        placed = attempt.placed.values()
        score = (len(attempt.placed), sum(p["guest"]["vcpus"] for p in placed),
                 sum(p["guest"]["memory_mb"] for p in placed), -rank)
        if best is None or score > best[0]:
            best = (score, attempt)
        if len(attempt.placed) == len(guests):
            break
    result = best[1]
    for guest in sorted(guests, key=orders[0]):
        if guest["name"] in result.placed:
            continue
        reason = result.reason(guest)
        if spanning and guest["numa_node"] is None:
            if result.place_spanning(guest):
                continue
            reason += "; spread over several nodes it does not fit either"
        result.unplaced[guest["name"]] = reason
    return result


# --------------------------------------------------------------------------- kernel arguments

def _isolcpus_value(isolated, version):
    cpus = format_cpulist(isolated)
    if version is None or version < ISOLCPUS_FLAGS_SINCE:
        return cpus
    if version < MANAGED_IRQ_SINCE:
        return "domain," + cpus
    return "domain,managed_irq," + cpus


def _kernel_args(topo, facts, policy, housekeeping, isolated, pages, page_kb, warnings):
    version = kernel_version(facts)
    if version is None:
        warnings.append("facts give no kernel version: kernel arguments use the forms every kernel accepts")
    numa_pinning = []
    isolation = policy.get("isolation") or "none"
    if isolated and isolation in ("isolcpus", "nohz_full"):
        numa_pinning.append(["isolcpus", _isolcpus_value(isolated, version)])
    if isolated and isolation == "nohz_full":
        numa_pinning.append(["nohz_full", format_cpulist(isolated)])
        numa_pinning.append(["rcu_nocbs", format_cpulist(isolated)])
    numa_pinning.append(["irqaffinity", format_cpulist(housekeeping)])

    hugepage_args = []
    total = sum(pages.values())
    if total:
        label = _size_label(page_kb)
        hugepage_args.append(["default_hugepagesz", label])
        hugepage_args.append(["hugepagesz", label])
        if version is not None and version >= HUGEPAGES_NODE_FORMAT_SINCE:
            value = ",".join("%d:%d" % (node, count) for node, count in sorted(pages.items()) if count)
        else:
            value = str(total)
            spread = set(count for node, count in pages.items()
                         if topo.node_by_id[node]["memory_kb"] > 0)
            if len(topo.nodes) > 1 and len(spread) > 1:
                warnings.append("kernel %s takes only a total hugepages=%d, which it spreads over the "
                                "nodes; the per-node counts must be set at runtime"
                                % ("older than 5.16" if version else "of unknown version", total))
        hugepage_args.append(["hugepages", value])

    iommu_args = []
    if policy.get("iommu"):
        if topo.vendor == "GenuineIntel":
            iommu_args.append(["intel_iommu", "on"])
        elif topo.vendor in ("AuthenticAMD", "HygonGenuine"):
            pass  # the AMD IOMMU driver is on by default; amd_iommu= has no "on" value
        else:
            warnings.append("iommu: no IOMMU argument is known for CPU vendor %r" % (topo.vendor,))
        if policy.get("iommu_passthrough"):
            iommu_args.append(["iommu", "pt"])
    return {"numa_pinning": numa_pinning, "hugepages": hugepage_args, "iommu": iommu_args}


# --------------------------------------------------------------------------- plan

def plan(facts, policy=None, validated=False):
    """Compute the ``kvm_host_plan`` for ``facts`` (kvm_host) and ``policy``.

    ``validated=True`` skips the argument spec check when the caller (the action plugin)
    has already made it; the semantic checks always run.
    """
    if policy is not None and not isinstance(policy, dict):
        raise PlanError("policy", "must be a dict, got %s" % type(policy).__name__)
    # None means "not given" (the action plugin passes every option, unset ones as None).
    policy = dict((k, v) for k, v in (policy or {}).items() if k != "facts" and v is not None)
    if not validated:
        policy = normalize_policy(policy)
    warnings = []
    topo = _Topology(facts, warnings)

    isolation = policy.get("isolation") or "none"
    housekeeping = _choose_housekeeping(topo, policy, warnings)
    if not housekeeping:
        raise PlanError("housekeeping_cpus", "leaves no CPU for the host")
    if isolation == "nohz_full":
        if topo.boot_cpu not in housekeeping:
            raise PlanError("housekeeping_cpus", "isolation nohz_full keeps the boot CPU %d out of "
                            "nohz_full, so it must be a housekeeping CPU" % topo.boot_cpu)
        config = kernel_config_value(facts, "CONFIG_NO_HZ_FULL")
        if config is None:
            warnings.append("isolation nohz_full: the facts do not show the kernel config; nohz_full "
                            "works only with CONFIG_NO_HZ_FULL=y")
        elif config != "y":
            raise PlanError("isolation", "nohz_full needs a kernel built with CONFIG_NO_HZ_FULL=y; "
                            "this kernel has it unset; use isolcpus")
    emulator_by_node = _choose_emulator_cores(topo, policy, housekeeping, warnings)
    for cpus in emulator_by_node.values():
        housekeeping.update(cpus)
    isolated = sorted(set(topo.online) - housekeeping)
    housekeeping = sorted(housekeeping)
    if not isolated:
        warnings.append("no CPU is left for guests: every online CPU is housekeeping")

    if emulator_by_node:
        emulator = sorted(c for cpus in emulator_by_node.values() for c in cpus)
    else:
        emulator = list(housekeeping)

    page_kb = _choose_page_size(topo, policy)
    memory = _Memory(topo, facts, policy, page_kb, warnings)
    guests = _validate_guests(policy.get("guests"), topo, memory, isolated)
    placement = _place_guests(topo, memory, isolated, emulator_by_node, guests,
                              policy.get("guest_spanning", True))
    memory = placement.memory
    pages = dict(memory.pages)

    housekeeping_by_node = {}
    isolated_by_node = {}
    hk_set = set(housekeeping)
    for node in topo.nodes:
        housekeeping_by_node[str(node["id"])] = [c for c in node["cpus"] if c in hk_set]
        isolated_by_node[str(node["id"])] = [c for c in node["cpus"] if c not in hk_set]

    def emulator_pin(node_ids):
        cpus = set()
        for node_id in node_ids:
            if node_id in emulator_by_node:
                cpus.update(emulator_by_node[node_id])
            else:
                cpus.update(housekeeping_by_node[str(node_id)])
        return sorted(cpus) or list(emulator)

    guest_entries = []
    for guest in guests:
        entry = placement.placed.get(guest["name"])
        if entry is None:
            continue
        cpu_nodes = sorted(set(topo.node_of_cpu[c] for c in entry["cpus"]))
        memory_node = max(entry["memory"].items(), key=lambda item: (item[1], -item[0]))[0]
        record = {
            "name": guest["name"],
            "numa_node": entry["node"],
            "memory_node": memory_node,
            "vcpus": guest["vcpus"],
            "memory_mb": guest["memory_mb"],
            "smt": guest["smt"],
            "hugepages": guest["hugepages"],
            "hugepage_size_kb": page_kb if guest["hugepages"] else None,
            "vcpupin": dict((vcpu, cpu) for vcpu, cpu in enumerate(entry["cpus"])),
            "emulatorpin": emulator_pin(cpu_nodes),
            "spans_nodes": entry["spans"],
            "nodes": cpu_nodes,
            "memory_mb_by_node": dict((str(k), v) for k, v in sorted(entry["memory"].items())),
        }
        if entry["spans"]:
            warnings.append("guest %s spans NUMA nodes %s: no single node has room for it"
                            % (guest["name"], ", ".join(str(n) for n in cpu_nodes)))
        guest_entries.append(record)
    unplaced = [{"name": g["name"], "reason": placement.unplaced[g["name"]]}
                for g in guests if g["name"] in placement.unplaced]

    kernel_args = _kernel_args(topo, facts, policy, housekeeping, isolated, pages, page_kb, warnings)
    # Empty when huge pages are not in play at all (the hugepages role then leaves the
    # pools alone); a pool the policy gave, even of zeros, is the plan.
    hugepages = {}
    if sum(pages.values()) or memory.fixed_pool is not None:
        hugepages[str(page_kb)] = dict((str(node), count) for node, count in sorted(pages.items()))

    return {
        "housekeeping_cpus": housekeeping,
        "isolated_cpus": isolated,
        "emulator_cpus": emulator,
        "housekeeping_by_node": housekeeping_by_node,
        "isolated_by_node": isolated_by_node,
        "kernel_args": kernel_args,
        "hugepage_size_kb": page_kb,
        "hugepages": hugepages,
        "reserved_memory_mb": dict((str(n), memory.reserve_mb[n] + memory.arc_mb[n])
                                   for n in sorted(memory.reserve_mb)),
        "guests": guest_entries,
        "unplaced": unplaced,
        "warnings": warnings,
    }

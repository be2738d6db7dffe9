# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Huge page size, per-node memory reserve, ZFS ARC share and the huge page pool."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import (
    KB_PER_MB,
    PAGE_SIZES_KB,
    RESERVE_FIXED_MB,
    RESERVE_PERCENT,
    PlanError,
    is_int,
)


def size_label(size_kb):
    for label, value in PAGE_SIZES_KB.items():
        if value == size_kb:
            return label
    return "%dK" % size_kb


def choose_page_size(topo, policy):
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


def arc_max_mb(facts, policy, warnings):
    option = policy.get("zfs_arc_max_mb")
    if option is not None:
        if not is_int(option) or option < 0:
            raise PlanError("zfs_arc_max_mb", "must be a non-negative integer, got %r" % (option,))
        return option
    zfs = facts.get("zfs") if isinstance(facts, dict) else None
    if not isinstance(zfs, dict) or not zfs.get("present"):
        return 0
    arc = zfs.get("arc") or {}
    arc_max = arc.get("max") if isinstance(arc, dict) else None
    if is_int(arc_max) and arc_max > 0:
        return -(-arc_max // (1024 * 1024))
    warnings.append("ZFS is present but its ARC has no maximum (zfs_arc_max=0): the ARC may take "
                    "memory the plan counts as free; set zfs_arc_max_mb")
    return 0


class Memory(object):
    """Per node: total, reserve (incl. ARC share), huge page pool and normal memory left."""

    def __init__(self, topo, facts, policy, page_kb, warnings):
        self.page_kb = page_kb
        self.page_mb = page_kb / KB_PER_MB
        explicit = policy.get("host_reserved_memory_mb")
        if explicit is not None and (not is_int(explicit) or explicit < 0):
            raise PlanError("host_reserved_memory_mb", "must be a non-negative integer, got %r" % (explicit,))
        overhead = policy.get("guest_overhead_mb")
        if overhead is None:
            overhead = 128
        if not is_int(overhead) or overhead < 0:
            raise PlanError("guest_overhead_mb", "must be a non-negative integer, got %r" % (overhead,))
        self.overhead_mb = overhead
        arc_mb = arc_max_mb(facts, policy, warnings)
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
                if not is_int(count):
                    raise PlanError("hugepages_per_node", "node %d: count must be an integer, got %r"
                                    % (node_id, count))
                if count < 0:
                    raise PlanError("hugepages_per_node", "node %d: count must not be negative, got %d"
                                    % (node_id, count))
                want_mb = count * self.page_kb // KB_PER_MB
                if want_mb > self.total_mb[node_id]:
                    raise PlanError("hugepages_per_node", "node %d: %d pages of %s (%d MiB) are more than "
                                    "the node holds (%d MiB)" % (node_id, count, size_label(self.page_kb),
                                                                 want_mb, self.total_mb[node_id]))
                if want_mb > self.available_mb[node_id]:
                    raise PlanError(
                        "hugepages_per_node",
                        "node %d: %d pages of %s (%d MiB) would leave the node below its reserve "
                        "(%d MiB of %d MiB may hold huge pages: reserve %d MiB, ZFS ARC share %d MiB; "
                        "see host_reserved_memory_mb)"
                        % (node_id, count, size_label(self.page_kb), want_mb, self.available_mb[node_id],
                           self.total_mb[node_id], self.reserve_mb[node_id], self.arc_mb[node_id]))
                pool[node_id] = count
            self.fixed_pool = pool
        if self.fixed_pool is not None:
            self.pages = dict(self.fixed_pool)

    def clone(self):
        other = Memory.__new__(Memory)
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

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the host planner (plugins/module_utils/plan/planner.py). Run by ``make bench``.

Prints:

1. plan time for a 1024-CPU, 16-node host with 1000 guests (goal: <= 1 s);
2. placement quality: guests placed NUMA-local by the planner, against the exact
   optimum (branch and bound over every assignment, here only) on small random
   instances, and against a first-fit baseline in the style of TripleO's derive
   parameters workflow (guests in the given order, each on the first node with room).
   Goal: >= 99 % of the optimum.

The optimum and the baseline use the same capacity model as the planner: per node,
exclusive guests take whole cores (ceil(vcpus / threads per core)), shared guests take
threads of the cores no exclusive guest holds, memory (guest + QEMU overhead, huge page
guests rounded up to whole pages) fits in the node memory above its reserve.
"""

from __future__ import absolute_import, division, print_function

import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build", "collections"))

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan import planner as _plan  # noqa: E402

OVERHEAD_MB = 128
PAGE_MB = 2


def host_facts(nodes, cores_per_node, smt, node_memory_mb):
    """kvm_host facts: ``nodes`` nodes of ``cores_per_node`` cores of ``smt`` threads."""
    total_cores = nodes * cores_per_node
    core_groups = []
    numa = []
    for node in range(nodes):
        cpus = []
        for core in range(cores_per_node):
            first = node * cores_per_node + core
            group = [first + thread * total_cores for thread in range(smt)]
            core_groups.append(group)
            cpus.extend(group)
        numa.append({"id": node, "cpus": sorted(cpus), "memory_kb": node_memory_mb * 1024})
    return {
        "cpu": {"vendor": "GenuineIntel", "flags": {"pdpe1gb": True},
                "online": list(range(total_cores * smt)), "core_groups": core_groups},
        "numa": {"nodes": numa},
        "memory": {"hugepage_sizes_kb": [2048, 1048576]},
        "kernel": {"release": "6.8.0"},
    }


# ----------------------------------------------------------------------------- 1. time

def bench_time():
    rng = random.Random(1024)
    facts = host_facts(16, 32, 2, 262144)
    guests = []
    for index in range(1000):
        guests.append({"name": "vm%04d" % index, "vcpus": rng.choice([1, 1, 1, 2, 2, 4]),
                       "memory_mb": rng.choice([1024, 2048, 4096, 8192]),
                       "smt": rng.choice(["exclusive", "shared", "shared"]),
                       "hugepages": rng.random() < 0.7})
    policy = {"isolation": "isolcpus", "hugepage_size": "1G", "guests": guests}
    times = []
    result = None
    for dummy in range(3):
        start = time.perf_counter()
        result = _plan.plan(facts, policy)
        times.append(time.perf_counter() - start)
    best = min(times)
    print("plan time, 1024 CPUs / 16 nodes / 1000 guests: best %.3f s, median %.3f s of %d runs "
          "(goal <= 1 s: %s)" % (best, statistics.median(times), len(times), "met" if best <= 1 else "MISSED"))
    spanning = sum(1 for g in result["guests"] if g["spans_nodes"])
    print("  placed %d guests (%d spanning nodes), unplaced %d; %d isolated CPUs"
          % (len(result["guests"]), spanning, len(result["unplaced"]), len(result["isolated_cpus"])))
    return best <= 1


# ----------------------------------------------------------------------------- 2. quality

class Instance(object):
    def __init__(self, rng):
        self.nodes = rng.randint(2, 4)
        self.cores = rng.randint(3, 7)
        self.smt = rng.choice([1, 2])
        self.node_memory_mb = rng.choice([8192, 16384, 32768])
        self.facts = host_facts(self.nodes, self.cores, self.smt, self.node_memory_mb)
        bare = _plan.plan(self.facts, {"hugepage_size": "2M"})
        self.free_cores = self.cores - 1  # one housekeeping core per node
        self.available_mb = [self.node_memory_mb - bare["reserved_memory_mb"][str(n)]
                             for n in range(self.nodes)]
        capacity = self.nodes * self.free_cores * self.smt
        self.guests = []
        demand = 0
        index = 0
        target = capacity * rng.uniform(0.8, 1.6)
        while demand < target and index < 9:
            vcpus = rng.choice([1, 1, 2, 2, 3, 4, 6])
            guest = {"name": "g%d" % index, "vcpus": vcpus,
                     "memory_mb": rng.choice([1024, 2048, 3072, 4096, 8192]),
                     "smt": rng.choice(["exclusive", "shared"]), "hugepages": rng.random() < 0.5}
            if vcpus <= self.free_cores * self.smt and guest["memory_mb"] < max(self.available_mb) - OVERHEAD_MB:
                self.guests.append(guest)
                demand += vcpus
            index += 1

    def memory_need(self, guest):
        memory = guest["memory_mb"]
        if guest["hugepages"]:
            memory = -(-memory // PAGE_MB) * PAGE_MB
        return memory + OVERHEAD_MB

    def cores_need(self, guest):
        return -(-guest["vcpus"] // self.smt)

    def fits(self, state, node, guest):
        cores, threads, memory = state[node]
        if memory + self.memory_need(guest) > self.available_mb[node]:
            return False
        if guest["smt"] == "exclusive":
            cores += self.cores_need(guest)
        else:
            threads += guest["vcpus"]
        return cores <= self.free_cores and threads <= (self.free_cores - cores) * self.smt

    def add(self, state, node, guest, sign=1):
        cores, threads, memory = state[node]
        if guest["smt"] == "exclusive":
            cores += sign * self.cores_need(guest)
        else:
            threads += sign * guest["vcpus"]
        state[node] = (cores, threads, memory + sign * self.memory_need(guest))

    def optimum(self):
        """Most guests placed on one node each (branch and bound over every assignment)."""
        guests = sorted(self.guests, key=lambda g: -g["vcpus"])
        state = [(0, 0, 0)] * self.nodes
        best = [0]

        def search(position, placed):
            if placed + len(guests) - position <= best[0]:
                return
            if position == len(guests):
                best[0] = placed
                return
            guest = guests[position]
            seen = set()
            for node in range(self.nodes):
                if state[node] in seen:  # identical nodes: try one of them
                    continue
                seen.add(state[node])
                if self.fits(state, node, guest):
                    self.add(state, node, guest)
                    search(position + 1, placed + 1)
                    self.add(state, node, guest, -1)
            search(position + 1, placed)

        search(0, 0)
        return best[0]

    def first_fit(self):
        """TripleO derive-parameters style: guests as listed, each on the first node with room."""
        state = [(0, 0, 0)] * self.nodes
        placed = 0
        for guest in self.guests:
            for node in range(self.nodes):
                if self.fits(state, node, guest):
                    self.add(state, node, guest)
                    placed += 1
                    break
        return placed

    def planner(self):
        result = _plan.plan(self.facts, {"hugepage_size": "2M", "guest_spanning": False,
                                         "guest_overhead_mb": OVERHEAD_MB, "guests": self.guests})
        return sum(1 for g in result["guests"] if not g["spans_nodes"])


def bench_quality(count=300):
    rng = random.Random(42)
    totals = {"optimum": 0, "planner": 0, "first_fit": 0}
    at_optimum = {"planner": 0, "first_fit": 0}
    worst = 1.0
    for dummy in range(count):
        instance = Instance(rng)
        best = instance.optimum()
        ours = instance.planner()
        baseline = instance.first_fit()
        assert ours <= best and baseline <= best, "the capacity model disagrees with the planner"
        totals["optimum"] += best
        totals["planner"] += ours
        totals["first_fit"] += baseline
        at_optimum["planner"] += ours == best
        at_optimum["first_fit"] += baseline == best
        if best:
            worst = min(worst, ours / best)
    share = 100.0 * totals["planner"] / totals["optimum"]
    print("placement quality on %d random instances (2-4 nodes, 3-7 cores, SMT 1-2, up to 9 guests, "
          "demand 0.8-1.6x the CPUs):" % count)
    print("  optimum (exhaustive)  %5d guests NUMA-local" % totals["optimum"])
    print("  planner (best fit)    %5d guests = %.2f %% of optimum, optimal on %d/%d instances, "
          "worst instance %.0f %%" % (totals["planner"], share, at_optimum["planner"], count, 100 * worst))
    print("  first fit (TripleO)   %5d guests = %.2f %% of optimum, optimal on %d/%d instances"
          % (totals["first_fit"], 100.0 * totals["first_fit"] / totals["optimum"],
             at_optimum["first_fit"], count))
    print("  goal >= 99 %% of optimum: %s" % ("met" if share >= 99 else "MISSED"))
    return share >= 99


def main():
    ok = bench_time()
    ok = bench_quality() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

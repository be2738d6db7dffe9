# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest placement on NUMA nodes: whole cores, memory, best-fit decreasing, spanning."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError, is_int


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


def validate_guests(guests, topo, memory, isolated):
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
        if not is_int(vcpus) or vcpus < 1:
            raise PlanError(label + ".vcpus", "must be an integer >= 1, got %r" % (vcpus,))
        memory_mb = guest.get("memory_mb")
        if not is_int(memory_mb) or memory_mb < 1:
            raise PlanError(label + ".memory_mb", "must be an integer >= 1, got %r" % (memory_mb,))
        smt = guest.get("smt") or "exclusive"
        if smt not in ("exclusive", "shared"):
            raise PlanError(label + ".smt", "must be exclusive or shared, got %r" % (smt,))
        hugepages = guest.get("hugepages", True)
        if not isinstance(hugepages, bool):
            raise PlanError(label + ".hugepages", "must be a boolean, got %r" % (hugepages,))
        node = guest.get("numa_node")
        if node is not None:
            if not is_int(node) or node not in topo.node_by_id:
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


def place_guests(topo, memory, isolated, emulator_by_node, guests, spanning):
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

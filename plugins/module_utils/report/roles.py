# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role of every CPU in a host's plan, one class per CPU, shared by the topology
picture (report/svg.py) and the Prometheus textfile (report/metrics.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

HOUSEKEEPING = "housekeeping"
EMULATOR = "emulator"
GUEST = "guest"
ISOLATED = "isolated"
OFFLINE = "offline"
UNPLANNED = "unplanned"
# the order of the legend and of the metric's label values
ROLES = (HOUSEKEEPING, EMULATOR, GUEST, ISOLATED, OFFLINE, UNPLANNED)


def _ints(values):
    out = set()
    for value in values or []:
        try:
            out.add(int(value))
        except (TypeError, ValueError):
            continue
    return out


def all_cpus(facts):
    cpu = (facts or {}).get("cpu") or {}
    return sorted(_ints(cpu.get("online")) | _ints(cpu.get("offline")))


def guest_pins(plan):
    """Host CPU -> sorted names of the guests with a vCPU pinned to it."""
    pins = {}
    for guest in (plan or {}).get("guests") or []:
        for cpu in (guest.get("vcpupin") or {}).values():
            try:
                pins.setdefault(int(cpu), set()).add(str(guest.get("name")))
            except (TypeError, ValueError):
                continue
    return dict((cpu, sorted(names)) for cpu, names in pins.items())


def cpu_roles(facts, plan):
    """CPU id -> {"role": one of ROLES, "guests": [names]} for every online and offline CPU.

    Exactly one role per CPU: offline; a dedicated emulator CPU (``emulator_cpus`` differs
    from the housekeeping set it is part of); housekeeping; an isolated CPU a guest vCPU is
    pinned to (guest); an isolated CPU no guest uses (isolated); else unplanned (no plan,
    or a CPU the plan does not name)."""
    plan = plan or {}
    cpu = (facts or {}).get("cpu") or {}
    offline = _ints(cpu.get("offline"))
    housekeeping = _ints(plan.get("housekeeping_cpus"))
    isolated = _ints(plan.get("isolated_cpus"))
    emulator = _ints(plan.get("emulator_cpus"))
    dedicated = emulator if emulator and emulator != housekeeping else set()
    pins = guest_pins(plan)
    roles = {}
    for number in all_cpus(facts):
        guests = pins.get(number, [])
        if number in offline:
            role = OFFLINE
        elif number in dedicated:
            role = EMULATOR
        elif number in housekeeping:
            role = HOUSEKEEPING
        elif number in isolated:
            role = GUEST if guests else ISOLATED
        else:
            role = UNPLANNED
        roles[number] = {"role": role, "guests": guests}
    return roles


def role_counts(facts, plan):
    counts = dict((role, 0) for role in ROLES)
    for entry in cpu_roles(facts, plan).values():
        counts[entry["role"]] += 1
    return counts

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host plan: a pure function of the ``kvm_host`` facts, the policy and each role's options.

Every value the collection writes to a host (CPU sets, huge page counts, kernel
arguments, sysctls, sysfs attributes, the text of every file a role owns, guest pinning)
is decided here, in this package, and nowhere else: roles pass their section of the plan
to modules unchanged. docs/plan.md explains the policy, the formulas and the kernel
documentation each value follows; docs/contracts.md is the shape of the result.

The flow: policy (options, PlanError) -> topology (cores, nodes) -> cpusets
(housekeeping, isolated, emulator) -> memory (page size, reserve, pool) -> placement
(guests) -> the shared plan -> one section per applying role (``sections/``), each built
from the shared plan, the facts and that role's options.

Entry points:

- ``ARGUMENT_SPEC`` / ``MUTUALLY_EXCLUSIVE``: the policy options (used by the action plugin);
- ``normalize_policy(policy)``: the same validation without Ansible's action machinery;
- ``plan(facts, policy, sections=None)``: the ``kvm_host_plan`` dict, or ``PlanError``
  whose message always starts with the name of the option (or ``facts``) at fault.
  ``sections`` maps section names to that role's options (``{}`` for its defaults);
  only the sections named are built.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.cpusets import (
    choose_emulator_cores,
    choose_housekeeping,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.memory import (
    Memory,
    choose_page_size,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.placement import (
    place_guests,
    validate_guests,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import (
    PlanError,
    normalize_policy,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections import build_sections
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.topology import (
    Topology,
    kernel_config_value,
    kernel_version,
)


NO_PARTITIONING = ("not asked: no isolation mode, no planned guest, no housekeeping CPUs given; "
                   "every online CPU stays the host's")


def partitioning(policy):
    """Why the host's CPUs are split into housekeeping and guest CPUs, or None.

    Only when the policy asks: an isolation mode, planned guests (each gets CPUs of its
    own), dedicated emulator cores or housekeeping CPUs given. A fleet run with no policy
    leaves every CPU to the host: no irqaffinity=, no CPUAffinity=, no irqbalance ban
    (tuned's virtual-host profile does not partition either; cpu-partitioning refuses to
    run without isolated_cores)."""
    reasons = []
    if (policy.get("isolation") or "none") != "none":
        reasons.append("isolation %s" % policy["isolation"])
    if policy.get("guests"):
        reasons.append("%d planned guest(s)" % len(policy["guests"]))
    if policy.get("emulator_threads") == "dedicated":
        reasons.append("emulator_threads dedicated")
    for name in ("housekeeping_cpus", "housekeeping_cores_per_node"):
        if policy.get(name) not in (None, "", []):
            reasons.append("%s given" % name)
    return ", ".join(reasons) or None


class Context(object):
    """What a section builder may read: the facts, the policy, the topology, the shared
    plan (``shared``), the pool per node (``pages``), the kernel version and ``warnings``."""

    def __init__(self, facts, policy, topo, shared, pages, page_kb, fixed_pool, warnings):
        self.facts = facts
        self.policy = policy
        self.topo = topo
        self.shared = shared
        self.pages = pages
        self.page_kb = page_kb
        self.fixed_pool = fixed_pool
        self.version = kernel_version(facts)
        self.warnings = warnings
        # the plan's other sections, for a section built after them (sections/tuned.py)
        self.sections = {}


def plan(facts, policy=None, validated=False, sections=None, existing_sections=None):
    """Compute the ``kvm_host_plan`` for ``facts`` (kvm_host), ``policy`` and ``sections``.

    ``validated=True`` skips the argument spec check when the caller (the action plugin)
    has already made it; the semantic checks always run. ``existing_sections``: sections
    computed earlier in the play (not rebuilt; read by the tuned section).
    """
    if policy is not None and not isinstance(policy, dict):
        raise PlanError("policy", "must be a dict, got %s" % type(policy).__name__)
    # None means "not given" (the action plugin passes every option, unset ones as None).
    policy = dict((k, v) for k, v in (policy or {}).items() if k != "facts" and v is not None)
    if not validated:
        policy = normalize_policy(policy)
    warnings = []
    topo = Topology(facts, warnings)

    isolation = policy.get("isolation") or "none"
    partitioned = partitioning(policy)
    if partitioned:
        housekeeping = choose_housekeeping(topo, policy, warnings)
    else:
        housekeeping = set(topo.online)
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
    emulator_by_node = choose_emulator_cores(topo, policy, housekeeping, warnings)
    for cpus in emulator_by_node.values():
        housekeeping.update(cpus)
    isolated = sorted(set(topo.online) - housekeeping)
    housekeeping = sorted(housekeeping)
    if partitioned and not isolated:
        warnings.append("no CPU is left for guests: every online CPU is housekeeping")

    if emulator_by_node:
        emulator = sorted(c for cpus in emulator_by_node.values() for c in cpus)
    else:
        emulator = list(housekeeping)

    page_kb = choose_page_size(topo, policy)
    memory = Memory(topo, facts, policy, page_kb, warnings)
    guests = validate_guests(policy.get("guests"), topo, memory, isolated)
    placement = place_guests(topo, memory, isolated, emulator_by_node, guests,
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

    # Empty when huge pages are not in play at all (the hugepages role then leaves the
    # pools alone); a pool the policy gave, even of zeros, is the plan.
    pool = {}
    if sum(pages.values()) or memory.fixed_pool is not None:
        pool[str(page_kb)] = dict((str(node), count) for node, count in sorted(pages.items()))

    shared = {
        "cpu_partitioning": {"enabled": bool(partitioned), "reason": partitioned or NO_PARTITIONING},
        "housekeeping_cpus": housekeeping,
        "isolated_cpus": isolated,
        "emulator_cpus": emulator,
        "housekeeping_by_node": housekeeping_by_node,
        "isolated_by_node": isolated_by_node,
        "hugepage_size_kb": page_kb,
        "hugepage_pool": pool,
        "reserved_memory_mb": dict((str(n), memory.reserve_mb[n] + memory.arc_mb[n])
                                   for n in sorted(memory.reserve_mb)),
        "guests": guest_entries,
        "unplaced": unplaced,
        "warnings": warnings,
    }
    context = Context(facts, policy, topo, shared, pages, page_kb, memory.fixed_pool, warnings)
    if context.version is None:
        warnings.append("facts give no kernel version: kernel arguments use the forms every kernel accepts")
    shared.update(build_sections(context, sections or {}, existing_sections))
    return shared

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Behaviour and bad-input tests of the pure planner (module_utils/plan/planner.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan import memory as _memory
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan import planner as _plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan import policy as _policy
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import PlanError

# Every section with the options that leave the shared decisions visible as they are:
# unplaced guests allowed, no transparent_hugepage= (tested in test_plan_sections.py).
ALL_SECTIONS = {"numa_pinning": {"allow_unplaced": True}, "hugepages": {"thp": "keep"},
                "sysctl_net": {}, "iommu": {}}


def plan(facts, policy=None, **kwargs):
    kwargs.setdefault("sections", ALL_SECTIONS)
    return _plan.plan(facts, policy, **kwargs)


GIB_KB = 1024 * 1024


def make_facts(sockets=2, cores=4, smt=2, nodes_per_socket=1, node_ids=None, offline=(),
               memory_only=0, node_memory_mb=65536, vendor="GenuineIntel", pdpe1gb=True,
               release="6.1.0-18-amd64", config=None, zfs_arc_max=None):
    """kvm_host facts of a compact topology description.

    CPUs are numbered as Linux does on most x86 servers: the first thread of every core
    of every socket, then the second threads, and so on. Each socket is cut into
    ``nodes_per_socket`` NUMA nodes of consecutive cores; ``node_ids`` renames the nodes
    (sparse ids); ``memory_only`` adds nodes without CPUs; ``offline`` CPUs are left out.
    """
    total_cores = sockets * cores
    offline = set(offline)
    core_groups = []
    node_cpus = []
    for socket in range(sockets):
        per_node = [[] for dummy in range(nodes_per_socket)]
        for core in range(cores):
            first = socket * cores + core
            group = [first + thread * total_cores for thread in range(smt)]
            group = [cpu for cpu in group if cpu not in offline]
            if group:
                core_groups.append(group)
            per_node[min(core * nodes_per_socket // cores, nodes_per_socket - 1)].extend(group)
        node_cpus.extend(sorted(cpus) for cpus in per_node)
    count = len(node_cpus) + memory_only
    ids = list(node_ids) if node_ids is not None else list(range(count))
    assert len(ids) == count
    nodes = []
    for position, node_id in enumerate(ids):
        cpus = node_cpus[position] if position < len(node_cpus) else []
        nodes.append({"id": node_id, "cpus": cpus, "memory_kb": node_memory_mb * 1024,
                      "distances": [10 if other == position else 20 for other in range(count)],
                      "hugepages": {}})
    online = sorted(cpu for group in core_groups for cpu in group)
    kernel = {"release": release}
    if config is not None:
        kernel["config"] = config
    facts = {
        "cpu": {"vendor": vendor, "flags": {"pdpe1gb": pdpe1gb}, "online": online,
                "offline": sorted(offline), "core_groups": sorted(core_groups)},
        "numa": {"nodes": nodes},
        "memory": {"total_kb": node_memory_mb * 1024 * count, "hugepage_sizes_kb": [2048, 1048576]},
        "kernel": kernel,
        "zfs": {"present": False},
    }
    if zfs_arc_max is not None:
        facts["zfs"] = {"present": True, "arc": {"max": zfs_arc_max}}
    return facts


def core_of(facts):
    return dict((cpu, tuple(group)) for group in facts["cpu"]["core_groups"] for cpu in group)


def args(result, owner):
    return [tuple(pair) for pair in result[owner]["kernel_args"]]


# ----------------------------------------------------------------- CPU sets

def test_no_policy_partitions_nothing():
    facts = make_facts(sockets=2, cores=4, smt=2)
    result = plan(facts, {}, sections={"numa_pinning": {}})
    assert result["cpu_partitioning"]["enabled"] is False
    assert result["housekeeping_cpus"] == list(range(16)) and result["isolated_cpus"] == []
    assert result["isolated_by_node"] == {"0": [], "1": []}
    assert args(result, "numa_pinning") == []
    assert not any("left for guests" in w for w in result["warnings"])


@pytest.mark.parametrize("policy, reason", [
    ({"isolation": "isolcpus"}, "isolation isolcpus"),
    ({"guests": [{"name": "g", "vcpus": 1, "memory_mb": 256}]}, "1 planned guest(s)"),
    ({"emulator_threads": "dedicated"}, "emulator_threads dedicated"),
    ({"housekeeping_cpus": "0,8"}, "housekeeping_cpus given"),
    ({"housekeeping_cores_per_node": 1}, "housekeeping_cores_per_node given"),
])
def test_partitioning_only_when_the_policy_asks(policy, reason):
    result = plan(make_facts(sockets=2, cores=4, smt=2), policy)
    assert result["cpu_partitioning"] == {"enabled": True, "reason": reason}
    assert result["isolated_cpus"] != []


def test_default_keeps_first_core_of_every_node():
    facts = make_facts(sockets=2, cores=4, smt=2)
    result = plan(facts, {"housekeeping_cores_per_node": 1})
    # socket 0 cores 0-3 (siblings +8), socket 1 cores 4-7
    assert result["housekeeping_cpus"] == [0, 4, 8, 12]
    assert result["isolated_cpus"] == [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15]
    assert result["housekeeping_by_node"] == {"0": [0, 8], "1": [4, 12]}
    assert result["isolated_by_node"]["1"] == [5, 6, 7, 13, 14, 15]
    assert result["emulator_cpus"] == result["housekeeping_cpus"]
    assert args(result, "numa_pinning") == [("irqaffinity", "0,4,8,12")]
    assert result["hugepage_pool"] == {}
    assert args(result, "hugepages") == []
    assert result["guests"] == [] and result["unplaced"] == []


def test_two_housekeeping_cores_per_node():
    result = plan(make_facts(sockets=1, cores=4, smt=2), {"housekeeping_cores_per_node": 2})
    assert result["housekeeping_cpus"] == [0, 1, 4, 5]


def test_node_with_one_core_is_all_housekeeping_and_warned():
    result = plan(make_facts(sockets=1, cores=1, smt=2), {"isolation": "isolcpus"})
    assert result["housekeeping_cpus"] == [0, 1]
    assert result["isolated_cpus"] == []
    assert any("none is left for guests" in w for w in result["warnings"])


def test_explicit_housekeeping_string_and_list():
    facts = make_facts(sockets=1, cores=4, smt=2)
    from_text = plan(facts, {"housekeeping_cpus": "1,5"})
    from_list = plan(facts, {"housekeeping_cpus": [5, 1]})
    assert from_text["housekeeping_cpus"] == from_list["housekeeping_cpus"] == [1, 5]
    assert from_text["isolated_cpus"] == [0, 2, 3, 4, 6, 7]


def test_split_core_allowed_when_asked():
    result = plan(make_facts(sockets=1, cores=4, smt=2),
                  {"housekeeping_cpus": "0", "allow_split_cores": True})
    assert result["housekeeping_cpus"] == [0]
    assert 4 in result["isolated_cpus"]


def test_explicit_housekeeping_leaving_a_node_without_is_warned():
    result = plan(make_facts(sockets=2, cores=2, smt=1), {"housekeeping_cpus": "0"})
    assert any("node 1 keeps no housekeeping" in w for w in result["warnings"])


def test_isolcpus_form_follows_kernel_version():
    facts = make_facts(sockets=1, cores=4, smt=1)
    expected = {"4.9.0": "1-3", "5.4.0-100-generic": "domain,1-3", "6.8.0": "domain,managed_irq,1-3"}
    for release, value in expected.items():
        facts["kernel"] = {"release": release}
        result = plan(facts, {"isolation": "isolcpus"})
        assert args(result, "numa_pinning") == [("isolcpus", value), ("nosoftlockup", None), ("skew_tick", "1"),
                                                ("irqaffinity", "0")]


def test_version_tuple_wins_over_release():
    facts = make_facts(sockets=1, cores=4, smt=1)
    facts["kernel"] = {"release": "garbage", "version_tuple": [5, 4]}
    result = plan(facts, {"isolation": "isolcpus"})
    assert args(result, "numa_pinning")[0] == ("isolcpus", "domain,1-3")


def test_nohz_full_adds_rcu_nocbs_and_keeps_order():
    facts = make_facts(sockets=1, cores=4, smt=2, config={"CONFIG_NO_HZ_FULL": "y"})
    result = plan(facts, {"isolation": "nohz_full"})
    assert args(result, "numa_pinning") == [
        ("isolcpus", "domain,managed_irq,1-3,5-7"), ("nohz_full", "1-3,5-7"),
        ("rcu_nocbs", "1-3,5-7"), ("nosoftlockup", None), ("skew_tick", "1"), ("irqaffinity", "0,4")]
    assert not any("CONFIG_NO_HZ_FULL" in w for w in result["warnings"])


def test_nohz_full_unknown_config_warns():
    result = plan(make_facts(sockets=1, cores=2, smt=1), {"isolation": "nohz_full"})
    assert any("CONFIG_NO_HZ_FULL" in w for w in result["warnings"])


def test_dedicated_emulator_core_per_node():
    facts = make_facts(sockets=2, cores=4, smt=2)
    result = plan(facts, {"emulator_threads": "dedicated",
                          "guests": [{"name": "g", "vcpus": 2, "memory_mb": 1024, "numa_node": 1}]})
    assert result["emulator_cpus"] == [1, 5, 9, 13]
    assert result["housekeeping_cpus"] == [0, 1, 4, 5, 8, 9, 12, 13]
    guest = result["guests"][0]
    assert guest["emulatorpin"] == [5, 13]
    assert not set(guest["vcpupin"].values()) & set(result["emulator_cpus"])


def test_housekeeping_emulatorpin_is_the_nodes_housekeeping():
    result = plan(make_facts(sockets=2, cores=4, smt=2),
                  {"guests": [{"name": "g", "vcpus": 2, "memory_mb": 1024, "numa_node": 1}]})
    assert result["guests"][0]["emulatorpin"] == [4, 12]


# ----------------------------------------------------------------- huge pages and memory

def test_default_reserve_formula():
    assert _memory.default_reserve_mb(65536, True) == 1024 + 2622
    assert _memory.default_reserve_mb(65536, False) == 2622
    assert _memory.default_reserve_mb(512, True) == 512
    assert _memory.default_reserve_mb(0, True) == 0
    result = plan(make_facts(sockets=1, cores=2, smt=1, memory_only=1), {})
    assert result["reserved_memory_mb"] == {"0": 3646, "1": 2622}


def test_percent_of_memory_after_reserve():
    facts = make_facts(sockets=2, cores=2, smt=1, node_memory_mb=65536)
    result = plan(facts, {"hugepages_percent": 50, "hugepage_size": "1G"})
    # (65536 - 3646) MiB * 50 % = 30945 MiB -> 30 pages of 1 GiB
    assert result["hugepage_pool"] == {"1048576": {"0": 30, "1": 30}}
    assert args(result, "hugepages") == [("default_hugepagesz", "1G"), ("hugepagesz", "1G"),
                                         ("hugepages", "0:30,1:30")]


def test_explicit_counts_and_node_format_with_sparse_ids():
    facts = make_facts(sockets=2, cores=2, smt=1, node_ids=[0, 33])
    result = plan(facts, {"hugepage_size": "2M", "hugepages_per_node": {"0": 512, 33: 1024}})
    assert result["hugepage_pool"] == {"2048": {"0": 512, "33": 1024}}
    assert args(result, "hugepages") == [("default_hugepagesz", "2M"), ("hugepagesz", "2M"),
                                         ("hugepages", "0:512,33:1024")]


def test_explicit_zero_pool_is_planned_but_needs_no_arguments():
    result = plan(make_facts(sockets=2, cores=2, smt=1), {"hugepages_per_node": {"0": 0}})
    assert result["hugepage_pool"] == {"1048576": {"0": 0, "1": 0}}
    assert args(result, "hugepages") == []


def test_old_kernel_gets_total_and_a_warning_when_nodes_differ():
    facts = make_facts(sockets=2, cores=2, smt=1, release="5.15.0-91-generic")
    result = plan(facts, {"hugepage_size": "2M", "hugepages_per_node": {"0": 512, "1": 256}})
    assert args(result, "hugepages")[-1] == ("hugepages", "768")
    assert any("5.16" in w for w in result["warnings"])


def test_auto_pool_is_what_hugepage_guests_need():
    facts = make_facts(sockets=2, cores=4, smt=2)
    result = plan(facts, {"guests": [
        {"name": "a", "vcpus": 2, "memory_mb": 1536, "numa_node": 0},
        {"name": "b", "vcpus": 2, "memory_mb": 4096, "numa_node": 1},
        {"name": "c", "vcpus": 2, "memory_mb": 4096, "numa_node": 1, "hugepages": False}]})
    # 1536 MiB rounds up to two 1 GiB pages
    assert result["hugepage_pool"] == {"1048576": {"0": 2, "1": 4}}
    guests = dict((g["name"], g) for g in result["guests"])
    assert guests["c"]["hugepage_size_kb"] is None and guests["a"]["hugepage_size_kb"] == GIB_KB


def test_auto_size_is_2m_without_pdpe1gb():
    result = plan(make_facts(sockets=1, cores=2, smt=1, pdpe1gb=False), {"hugepages_percent": 10})
    assert list(result["hugepage_pool"]) == ["2048"]


def test_zfs_arc_counts_against_the_reserve():
    facts = make_facts(sockets=2, cores=2, smt=1, node_memory_mb=65536)
    without = plan(facts, {"hugepages_percent": 100, "hugepage_size": "2M"})
    with_option = plan(facts, {"hugepages_percent": 100, "hugepage_size": "2M", "zfs_arc_max_mb": 16384})
    facts_arc = make_facts(sockets=2, cores=2, smt=1, node_memory_mb=65536, zfs_arc_max=16384 * 1024 * 1024)
    with_facts = plan(facts_arc, {"hugepages_percent": 100, "hugepage_size": "2M"})
    assert with_option["reserved_memory_mb"] == {"0": 3646 + 8192, "1": 3646 + 8192}
    assert with_facts["hugepage_pool"] == with_option["hugepage_pool"]
    assert with_option["hugepage_pool"]["2048"]["0"] == without["hugepage_pool"]["2048"]["0"] - 8192 // 2


def test_zfs_without_arc_maximum_is_warned():
    facts = make_facts(sockets=1, cores=2, smt=1, zfs_arc_max=0)
    result = plan(facts, {})
    assert any("zfs_arc_max_mb" in w for w in result["warnings"])
    assert result["reserved_memory_mb"] == {"0": 3646}


def test_hugepage_guest_must_fit_a_fixed_pool():
    facts = make_facts(sockets=1, cores=4, smt=1)
    result = plan(facts, {"hugepage_size": "1G", "hugepages_per_node": {"0": 2},
                          "guests": [{"name": "g", "vcpus": 1, "memory_mb": 4096}]})
    assert result["guests"] == []
    assert result["unplaced"][0]["name"] == "g"
    assert "huge page memory" in result["unplaced"][0]["reason"]


# ----------------------------------------------------------------- guests

def test_exclusive_guest_gets_whole_cores_with_sibling_pairs():
    facts = make_facts(sockets=1, cores=4, smt=2)
    result = plan(facts, {"guests": [{"name": "g", "vcpus": 4, "memory_mb": 1024}]})
    pin = result["guests"][0]["vcpupin"]
    cores = core_of(facts)
    assert sorted(pin) == [0, 1, 2, 3]
    assert cores[pin[0]] == cores[pin[1]] and cores[pin[2]] == cores[pin[3]]
    assert cores[pin[0]] != cores[pin[2]]


def test_odd_exclusive_guest_keeps_its_last_core_to_itself():
    facts = make_facts(sockets=1, cores=3, smt=2)
    result = plan(facts, {"guests": [{"name": "a", "vcpus": 1, "memory_mb": 512},
                                     {"name": "b", "vcpus": 2, "memory_mb": 512}]})
    cores = core_of(facts)
    used = dict((g["name"], set(cores[c] for c in g["vcpupin"].values())) for g in result["guests"])
    assert not used["a"] & used["b"]


def test_shared_guests_share_cores_but_not_with_exclusive():
    facts = make_facts(sockets=1, cores=4, smt=2)
    result = plan(facts, {"guests": [
        {"name": "s1", "vcpus": 1, "memory_mb": 512, "smt": "shared"},
        {"name": "s2", "vcpus": 1, "memory_mb": 512, "smt": "shared"},
        {"name": "x", "vcpus": 2, "memory_mb": 512}]})
    cores = core_of(facts)
    used = dict((g["name"], set(cores[c] for c in g["vcpupin"].values())) for g in result["guests"])
    assert used["s1"] == used["s2"]
    assert not used["x"] & used["s1"]


def test_best_fit_prefers_the_tighter_node():
    facts = make_facts(sockets=2, cores=4, smt=1)
    result = plan(facts, {"guests": [
        {"name": "pinned", "vcpus": 2, "memory_mb": 1024, "numa_node": 1},
        {"name": "next", "vcpus": 1, "memory_mb": 1024}]})
    nodes = dict((g["name"], g["numa_node"]) for g in result["guests"])
    assert nodes == {"pinned": 1, "next": 1}


def test_guest_that_fits_no_node_spans_and_is_reported():
    facts = make_facts(sockets=2, cores=4, smt=1)
    result = plan(facts, {"guests": [{"name": "wide", "vcpus": 5, "memory_mb": 2048}]})
    guest = result["guests"][0]
    assert guest["spans_nodes"] is True and guest["nodes"] == [0, 1]
    assert sum(guest["memory_mb_by_node"].values()) == 2048
    assert any("wide spans" in w for w in result["warnings"])
    no_span = plan(facts, {"guest_spanning": False,
                           "guests": [{"name": "wide", "vcpus": 5, "memory_mb": 2048}]})
    assert no_span["guests"] == []
    assert "no NUMA node has whole free cores" in no_span["unplaced"][0]["reason"]


def test_pinned_guest_that_does_not_fit_is_unplaced_with_reason():
    facts = make_facts(sockets=2, cores=4, smt=1)
    result = plan(facts, {"guests": [{"name": "a", "vcpus": 3, "memory_mb": 512, "numa_node": 0},
                                     {"name": "b", "vcpus": 2, "memory_mb": 512, "numa_node": 0}]})
    assert [g["name"] for g in result["guests"]] == ["a"]
    assert result["unplaced"] == [{"name": "b", "reason": "NUMA node 0 lacks whole free cores "
                                   "(smt exclusive) for 2 vCPUs (it has 0)"}]


def test_cpu_only_node_takes_memory_from_the_nearest_node():
    facts = make_facts(sockets=2, cores=2, smt=1)
    facts["numa"]["nodes"][1]["memory_kb"] = 0
    result = plan(facts, {"guests": [{"name": "g", "vcpus": 1, "memory_mb": 1024, "numa_node": 1}]})
    assert result["guests"][0]["memory_node"] == 0


def test_facts_without_numa_are_one_node():
    facts = make_facts(sockets=1, cores=4, smt=1)
    del facts["numa"]
    result = plan(facts, {"hugepages_percent": 10})
    assert list(result["housekeeping_by_node"]) == ["0"]
    assert result["hugepage_pool"]["1048576"]["0"] > 0


def test_offline_cpus_are_neither_housekeeping_nor_isolated():
    facts = make_facts(sockets=1, cores=4, smt=2, offline=[0, 5])
    result = plan(facts, {"isolation": "isolcpus"})
    assert 0 not in result["housekeeping_cpus"] + result["isolated_cpus"]
    # cores (1), (2,6), (3,7), (4): the lowest online CPU's core is housekeeping
    assert result["housekeeping_cpus"] == [1]
    assert result["isolated_cpus"] == [2, 3, 4, 6, 7]


def test_same_input_same_plan():
    facts = make_facts(sockets=2, cores=8, smt=2)
    policy = {"isolation": "isolcpus", "guests": [
        {"name": "g%d" % i, "vcpus": 1 + i % 5, "memory_mb": 1024 * (1 + i % 3),
         "smt": "shared" if i % 2 else "exclusive"} for i in range(9)]}
    first = plan(copy.deepcopy(facts), copy.deepcopy(policy))
    assert first == plan(copy.deepcopy(facts), copy.deepcopy(policy))
    assert facts == make_facts(sockets=2, cores=8, smt=2)  # input untouched


def test_iommu_arguments_by_vendor():
    """The policy's iommu options now feed the sriov_vhost section (owner sriov_vhost); the
    plan's own iommu section stays empty and says where they went."""
    sections = {"iommu": {}, "sriov_vhost": {}}
    intel = plan(make_facts(sockets=1, cores=2, smt=1), {"iommu": True, "iommu_passthrough": True}, sections=sections)
    assert args(intel, "sriov_vhost") == [("intel_iommu", "on"), ("iommu", "pt")]
    assert args(intel, "iommu") == []
    assert any("sriov_vhost_iommu" in w for w in intel["warnings"])
    amd = plan(make_facts(sockets=1, cores=2, smt=1, vendor="AuthenticAMD"), {"iommu": True}, sections=sections)
    assert args(amd, "sriov_vhost") == []
    other = plan(make_facts(sockets=1, cores=2, smt=1, vendor="Weird"), {"iommu": True}, sections=sections)
    assert any("vendor" in w for w in other["warnings"])
    off = plan(make_facts(sockets=1, cores=2, smt=1), {}, sections=sections)
    assert args(off, "sriov_vhost") == [] and not any("sriov_vhost_iommu" in w for w in off["warnings"])


# ----------------------------------------------------------------- bad input: one message naming the option

BAD_POLICIES = [
    ("housekeeping_cpus", {"housekeeping_cpus": "0,99"}, "not online"),
    ("housekeeping_cpus", {"housekeeping_cpus": "0"}, "split the physical core"),
    ("housekeeping_cpus", {"housekeeping_cpus": "0-3,x"}, "invalid CPU number"),
    ("housekeeping_cores_per_node", {"housekeeping_cores_per_node": 0}, ">= 1"),
    ("housekeeping_cores_per_node", {"housekeeping_cores_per_node": -1}, ">= 1"),
    ("housekeeping_cores_per_node", {"housekeeping_cores_per_node": "two"}, "int"),
    ("hugepage_size", {"hugepage_size": "1G"}, "pdpe1gb"),
    ("hugepage_size", {"hugepage_size": "4M"}, "one of"),
    ("hugepages_per_node", {"hugepages_per_node": {"0": 200}}, "more than the node holds"),
    ("hugepages_per_node", {"hugepages_per_node": {"0": 63}}, "below its reserve"),
    ("hugepages_per_node", {"hugepages_per_node": {"0": -1}}, "negative"),
    ("hugepages_per_node", {"hugepages_per_node": {"0": "many"}}, "integer"),
    ("hugepages_per_node", {"hugepages_per_node": {"7": 1}}, "does not exist"),
    ("hugepages_per_node", {"hugepages_per_node": {"zero": 1}}, "not a NUMA node id"),
    ("hugepages_percent", {"hugepages_percent": 150}, "0 to 100"),
    ("hugepages_percent", {"hugepages_percent": -5}, "0 to 100"),
    ("hugepages_percent", {"hugepages_percent": 10, "hugepages_per_node": {"0": 1}}, "mutually exclusive"),
    ("host_reserved_memory_mb", {"host_reserved_memory_mb": -1}, "non-negative"),
    ("zfs_arc_max_mb", {"zfs_arc_max_mb": -1}, "non-negative"),
    ("zfs_arc_max_mb", {"zfs_arc_max_mb": 10 ** 7}, "not below the host memory"),
    ("guest_overhead_mb", {"guest_overhead_mb": -128}, "non-negative"),
    ("isolation", {"isolation": "full"}, "one of"),
    ("isolation", {"isolation": "nohz_full"}, "CONFIG_NO_HZ_FULL"),
    ("emulator_threads", {"emulator_threads": 3}, "one of"),
    ("iommu", {"iommu": "maybe"}, "bool"),
    ("bogus_option", {"bogus_option": 1}, "unsupported parameter"),
    ("guests", {"guests": "db1"}, "must be a list"),
    ("guests", {"guests": ["db1"]}, "entry 0 must be a dict"),
    ("guests", {"guests": [{"name": "a", "vcpus": 1, "memory_mb": 1},
                           {"name": "a", "vcpus": 1, "memory_mb": 1}]}, "duplicate"),
    ("guests", {"guests": [{"name": "a", "vcpus": 1, "memory_mb": 1, "cpu": 3}]}, "unsupported parameter(s) guests.cpu"),
    ("guests", {"guests": [{"name": "a", "vcpus": 1}]}, "memory_mb"),
    ("guests[a].vcpus", {"guests": [{"name": "a", "vcpus": 0, "memory_mb": 1}]}, ">= 1"),
    ("guests[a].vcpus", {"guests": [{"name": "a", "vcpus": -2, "memory_mb": 1}]}, ">= 1"),
    ("guests[a].vcpus", {"guests": [{"name": "a", "vcpus": 64, "memory_mb": 1}]}, "larger than the host"),
    ("guests[a].memory_mb", {"guests": [{"name": "a", "vcpus": 1, "memory_mb": -1}]}, ">= 1"),
    ("guests[a].memory_mb", {"guests": [{"name": "a", "vcpus": 1, "memory_mb": 10 ** 6}]},
     "larger than the host"),
    ("guests[a].numa_node", {"guests": [{"name": "a", "vcpus": 1, "memory_mb": 1, "numa_node": 5}]},
     "does not exist"),
    ("guests[a].numa_node", {"guests": [{"name": "a", "vcpus": 1, "memory_mb": 1, "numa_node": 2}]},
     "memory-only"),
]


@pytest.mark.parametrize("option, policy, text", BAD_POLICIES,
                         ids=["%s-%d" % (case[0], n) for n, case in enumerate(BAD_POLICIES)])
def test_bad_policy_fails_naming_the_option(option, policy, text):
    # two sockets of 4 SMT-2 cores, 64 GiB on each node, node 2 memory-only;
    # no pdpe1gb, so 1G fails; the kernel config says CONFIG_NO_HZ_FULL is not set.
    facts = make_facts(sockets=2, cores=4, smt=2, node_memory_mb=65536, memory_only=1,
                       pdpe1gb=False, config={"CONFIG_NO_HZ_FULL": "n"})
    if option == "hugepages_per_node" and policy.get("hugepage_size") != "2M":
        facts["cpu"]["flags"]["pdpe1gb"] = True
    with pytest.raises(PlanError) as caught:
        plan(facts, policy)
    message = str(caught.value)
    assert option in message
    assert message.startswith(caught.value.option + ":")
    if text:
        assert text in message
    assert "\n" not in message.strip()


def test_hugepages_per_node_never_fails_within_the_reserve():
    facts = make_facts(sockets=1, cores=2, smt=1, node_memory_mb=65536)
    # (65536 - 3646) // 1024 = 60 pages of 1 GiB fit, 61 do not
    assert plan(facts, {"hugepages_per_node": {"0": 60}})["hugepage_pool"]["1048576"]["0"] == 60
    with pytest.raises(PlanError, match="hugepages_per_node: node 0: 61 pages"):
        plan(facts, {"hugepages_per_node": {"0": 61}})


def test_nohz_full_needs_the_boot_cpu_in_housekeeping():
    facts = make_facts(sockets=1, cores=4, smt=1, config={"CONFIG_NO_HZ_FULL": "y"})
    with pytest.raises(PlanError, match="^housekeeping_cpus: .*boot CPU 0"):
        plan(facts, {"isolation": "nohz_full", "housekeeping_cpus": "1"})


@pytest.mark.parametrize("facts, text", [
    (None, "must be the kvm_host dict"),
    ({}, "cpu.online"),
    ({"cpu": {"online": []}}, "cpu.online"),
    ({"cpu": {"online": [0]}, "numa": {"nodes": [{"id": "x"}]}}, "integer id"),
    ({"cpu": {"online": [0]}, "numa": {"nodes": [{"id": 0, "memory_kb": -1}]}}, "memory_kb"),
])
def test_bad_facts_fail_naming_facts(facts, text):
    with pytest.raises(PlanError, match="^facts: .*" + text):
        plan(facts, {})


def test_every_documented_option_is_in_the_argument_spec():
    """The documentation stub and the argument spec list the same options."""
    import yaml
    from ansible_collections.kvmops.hypervisor.plugins.modules import host_plan as stub
    doc = yaml.safe_load(stub.DOCUMENTATION)
    assert set(doc["options"]) == set(_policy.ARGUMENT_SPEC)
    for name, spec in _policy.ARGUMENT_SPEC.items():
        assert doc["options"][name]["type"] == spec["type"], name
        assert doc["options"][name].get("default") == spec.get("default"), name
        assert doc["options"][name].get("choices") == spec.get("choices"), name
    assert set(doc["options"]["guests"]["suboptions"]) == set(_policy.GUEST_OPTIONS)

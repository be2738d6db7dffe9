# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The invariants of design.md, on real machine topologies (hwloc) and generated ones."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import importlib.util
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan import planner as _plan

ALL_SECTIONS = {"numa_pinning": {"allow_unplaced": True}, "hugepages": {"thp": "keep"}, "iommu": {}}


def plan(facts, policy=None):
    return _plan.plan(facts, policy, sections=ALL_SECTIONS)


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
HWLOC = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "hwloc")

_spec = importlib.util.spec_from_file_location("kvmops_plan_test_helpers", os.path.join(HERE, "test_plan.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
make_facts = _helpers.make_facts


def check_invariants(facts, policy, result):
    """Assert every invariant of the kvm_host_plan contract (design.md)."""
    online = set(facts["cpu"]["online"])
    housekeeping = set(result["housekeeping_cpus"])
    isolated = set(result["isolated_cpus"])
    assert result["housekeeping_cpus"] == sorted(housekeeping)
    assert result["isolated_cpus"] == sorted(isolated)
    assert housekeeping | isolated == online
    assert not housekeeping & isolated
    assert housekeeping
    assert set(result["emulator_cpus"]) <= housekeeping
    cores = [set(group) & online for group in facts["cpu"]["core_groups"]]
    core_of = {}
    for index, core in enumerate(cores):
        for cpu in core:
            core_of[cpu] = index
    if not policy.get("allow_split_cores"):
        for core in cores:
            assert core <= housekeeping or core <= isolated, "core %s split" % sorted(core)
    nodes = facts["numa"]["nodes"]
    if not policy.get("housekeeping_cpus"):
        for node in nodes:
            if node["cpus"]:
                assert housekeeping & set(node["cpus"]), "node %d has no housekeeping" % node["id"]
                hk_cores = set(core_of[c] for c in housekeeping & set(node["cpus"]))
                assert hk_cores, node
    for node in nodes:
        key = str(node["id"])
        assert set(result["housekeeping_by_node"][key]) | set(result["isolated_by_node"][key]) == set(node["cpus"])
    pairs = result["numa_pinning"]["kernel_args"]
    if result["cpu_partitioning"]["enabled"]:
        assert pairs[-1] == ["irqaffinity", format_cpulist(sorted(housekeeping))]
    else:
        assert pairs == [] and not isolated

    # guests: every CPU to one vCPU at most, isolated and not emulator; exclusive = own cores
    owner_of_cpu = {}
    cores_of_guest = {}
    for guest in result["guests"]:
        pin = guest["vcpupin"]
        assert sorted(pin) == list(range(guest["vcpus"]))
        cpus = list(pin.values())
        assert set(cpus) <= isolated
        assert not set(cpus) & set(result["emulator_cpus"])
        for cpu in cpus:
            assert cpu not in owner_of_cpu, "CPU %d given twice" % cpu
            owner_of_cpu[cpu] = guest["name"]
        cores_of_guest[guest["name"]] = set(core_of[c] for c in cpus)
        assert guest["spans_nodes"] == (len(guest["nodes"]) > 1)
        if guest["smt"] == "exclusive":
            for vcpu in range(0, guest["vcpus"] - 1, 2):
                first, second = core_of[pin[vcpu]], core_of[pin[vcpu + 1]]
                if all(len(cores[c]) == 2 for c in cores_of_guest[guest["name"]]):
                    assert first == second, "vCPUs %d,%d of %s not siblings" % (vcpu, vcpu + 1, guest["name"])
    for guest in result["guests"]:
        if guest["smt"] != "exclusive":
            continue
        for other in result["guests"]:
            if other["name"] != guest["name"]:
                assert not cores_of_guest[guest["name"]] & cores_of_guest[other["name"]], \
                    "%s shares a core with %s" % (guest["name"], other["name"])
    names = [g["name"] for g in result["guests"]] + [u["name"] for u in result["unplaced"]]
    assert sorted(names) == sorted(g["name"] for g in policy.get("guests") or [])

    # memory: huge pages and guests never eat into a node's reserve
    size_kb = result["hugepage_size_kb"]
    pages = result["hugepage_pool"].get(str(size_kb), {})
    overhead = policy.get("guest_overhead_mb", 128)
    for node in nodes:
        key = str(node["id"])
        node_mb = node["memory_kb"] // 1024
        pool_mb = pages.get(key, 0) * size_kb // 1024
        normal_mb = 0
        hp_used_mb = 0
        for guest in result["guests"]:
            part = guest["memory_mb_by_node"].get(key, 0)
            if not part:
                continue
            normal_mb += overhead
            if guest["hugepages"]:
                hp_used_mb += -(-part * 1024 // size_kb) * size_kb // 1024
            else:
                normal_mb += part
        assert hp_used_mb <= pool_mb
        if pool_mb or normal_mb:
            assert pool_mb + normal_mb + result["reserved_memory_mb"][key] <= node_mb, key


def run_checked(facts, policy):
    result = plan(copy.deepcopy(facts), copy.deepcopy(policy))
    check_invariants(facts, policy, result)
    assert plan(copy.deepcopy(facts), copy.deepcopy(policy)) == result, "plan is not deterministic"
    return result


POLICIES = [
    {},
    {"isolation": "isolcpus", "emulator_threads": "dedicated", "hugepages_percent": 60},
    {"housekeeping_cores_per_node": 2, "hugepage_size": "2M", "guests": [
        {"name": "g%d" % i, "vcpus": 1 + i % 4, "memory_mb": 512 * (1 + i % 5),
         "smt": "shared" if i % 3 == 0 else "exclusive", "hugepages": i % 2 == 0} for i in range(12)]},
    {"emulator_threads": "dedicated", "guests": [
        {"name": "big", "vcpus": 6, "memory_mb": 4096}, {"name": "small", "vcpus": 1, "memory_mb": 512}]},
]


def _hwloc_cases():
    if not os.path.isdir(HWLOC):
        return []
    return sorted(name[:-len(".expected.json")] for name in os.listdir(HWLOC)
                  if name.endswith(".expected.json"))


def hwloc_facts(name):
    with open(os.path.join(HWLOC, name + ".expected.json")) as handle:
        expected = json.load(handle)
    nodes = [{"id": n["id"], "cpus": n["cpus"], "memory_kb": n["memory_kb"], "hugepages": {}}
             for n in expected["numa"]]
    return {
        "cpu": {"vendor": "AuthenticAMD" if "amd64" in name else "GenuineIntel",
                "flags": {"pdpe1gb": "amd64" in name}, "online": expected["pus"],
                "core_groups": expected["cores"], "package_groups": expected["packages"]},
        "numa": {"nodes": nodes},
        "memory": {"total_kb": sum(n["memory_kb"] for n in nodes), "hugepage_sizes_kb": [2048, 1048576]},
        "kernel": {"release": "6.1.0"},
    }


@pytest.mark.hwloc
@pytest.mark.skipif(not os.path.isdir(HWLOC), reason="../shared/fixtures/hwloc is absent")
@pytest.mark.parametrize("name", _hwloc_cases() or ["none"])
@pytest.mark.parametrize("policy_index", range(len(POLICIES)))
def test_invariants_on_real_machines(name, policy_index):
    facts = hwloc_facts(name)
    policy = POLICIES[policy_index]
    result = run_checked(facts, policy)
    if not policy:
        # no policy: no partitioning, every online CPU stays the host's
        assert result["housekeeping_cpus"] == sorted(facts["cpu"]["online"])
        assert result["isolated_cpus"] == [] and result["cpu_partitioning"]["enabled"] is False
        return
    # one housekeeping core per node: as many housekeeping cores as nodes with CPUs
    if not policy.get("housekeeping_cpus") and policy.get("emulator_threads") != "dedicated":
        per_node = policy.get("housekeeping_cores_per_node", 1)
        cores = [set(c) for c in facts["cpu"]["core_groups"]]
        hk = set(result["housekeeping_cpus"])
        hk_cores = [c for c in cores if c <= hk]
        with_cpus = [n for n in facts["numa"]["nodes"] if n["cpus"]]
        assert len(hk_cores) == sum(min(per_node, len([c for c in cores if c <= set(n["cpus"])]))
                                    for n in with_cpus)


@pytest.mark.hwloc
@pytest.mark.skipif(not os.path.isdir(HWLOC), reason="../shared/fixtures/hwloc is absent")
def test_hybrid_cpu_exclusive_guests_take_p_cores_first():
    facts = hwloc_facts("20em64t-hybrid-1p6c2t+2ca4co1t")
    result = run_checked(facts, {"guests": [{"name": "g", "vcpus": 4, "memory_mb": 1024}]})
    assert result["housekeeping_cpus"] == [0, 1]
    assert sorted(result["guests"][0]["vcpupin"].values()) == [2, 3, 4, 5]


@pytest.mark.hwloc
@pytest.mark.skipif(not os.path.isdir(HWLOC), reason="../shared/fixtures/hwloc is absent")
@pytest.mark.parametrize("name", ["16em64t-4s2c2t", "16amd64-4n4c-cgroup-distance-merge"])
def test_plan_from_the_real_facts_module(name, tmp_path):
    """kvm_host_facts on the machine dump, then the plan: the contract holds end to end.

    The two smallest dumps (old hex-mask attributes; 4 nodes with distances): unpacking the
    larger ones takes longer than the rest of the suite.
    """
    import tarfile
    facts_host = pytest.importorskip(
        "ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host")
    with tarfile.open(os.path.join(HWLOC, name + ".tar.bz2")) as archive:
        if hasattr(tarfile, "tar_filter"):
            archive.extractall(str(tmp_path), filter="tar")
        else:
            archive.extractall(str(tmp_path))
    facts = facts_host.kvm_host_facts(str(tmp_path / name), ["cpu", "numa", "memory", "kernel"])
    expected = hwloc_facts(name)
    assert facts["cpu"]["online"] == expected["cpu"]["online"]
    policy = POLICIES[2]
    result = run_checked(facts, policy)
    assert result["guests"]
    with_cpus = [n for n in facts["numa"]["nodes"] if n["cpus"]]
    assert len(result["housekeeping_cpus"]) >= len(with_cpus)


@st.composite
def topologies(draw):
    sockets = draw(st.integers(1, 3))
    cores = draw(st.integers(1, 6))
    smt = draw(st.sampled_from([1, 2, 4]))
    nodes_per_socket = draw(st.integers(1, 2))
    memory_only = draw(st.integers(0, 2))
    count = sockets * nodes_per_socket + memory_only
    if draw(st.booleans()):
        node_ids = sorted(draw(st.lists(st.integers(0, 63), min_size=count, max_size=count, unique=True)))
    else:
        node_ids = None
    all_cpus = list(range(sockets * cores * smt))
    offline = draw(st.lists(st.sampled_from(all_cpus), max_size=len(all_cpus) - 1, unique=True))
    return make_facts(sockets=sockets, cores=cores, smt=smt, nodes_per_socket=nodes_per_socket,
                      node_ids=node_ids, offline=offline, memory_only=memory_only,
                      node_memory_mb=draw(st.sampled_from([2048, 8192, 65536])),
                      pdpe1gb=draw(st.booleans()),
                      release=draw(st.sampled_from(["4.9.0", "5.4.0", "5.15.0", "6.8.0"])),
                      config={"CONFIG_NO_HZ_FULL": "y"})


guest_lists = st.lists(
    st.fixed_dictionaries({
        "vcpus": st.integers(1, 6),
        "memory_mb": st.integers(128, 8192),
        "smt": st.sampled_from(["exclusive", "shared"]),
        "hugepages": st.booleans(),
    }), max_size=8)


@st.composite
def policies(draw):
    policy = {
        "isolation": draw(st.sampled_from(["none", "isolcpus", "nohz_full"])),
        "emulator_threads": draw(st.sampled_from(["housekeeping", "dedicated"])),
        "housekeeping_cores_per_node": draw(st.integers(1, 2)),
        "hugepage_size": "2M",
        "guest_spanning": draw(st.booleans()),
    }
    if draw(st.booleans()):
        policy["hugepages_percent"] = draw(st.integers(0, 100))
    guests = draw(guest_lists)
    policy["guests"] = [dict(g, name="g%d" % i) for i, g in enumerate(guests)]
    return policy


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=topologies(), policy=policies(), data=st.data())
def test_invariants_on_generated_topologies(facts, policy, data):
    if data.draw(st.booleans(), label="explicit housekeeping_cpus"):
        # whole cores (or single threads with allow_split_cores), always the boot CPU's core
        cores = sorted(facts["cpu"]["core_groups"])
        chosen = [cores[0]] + data.draw(st.lists(st.sampled_from(cores), max_size=len(cores)))
        cpus = sorted(set(c for core in chosen for c in core))
        if data.draw(st.booleans(), label="allow_split_cores") and len(cpus) > 1:
            policy["allow_split_cores"] = True
            cpus = [c for c in cpus if c == cores[0][0] or c % 2 == 0]
        policy["housekeeping_cpus"] = data.draw(st.sampled_from([cpus, format_cpulist(cpus)]))
    # A guest larger than the host is a policy error (tested in test_plan.py): keep the
    # generated guests within what the host offers, so that every example is checked.
    bare = plan(copy.deepcopy(facts), dict(policy, guests=[]))
    cpus = len(bare["isolated_cpus"])
    memory = sum(max(0, n["memory_kb"] // 1024 - bare["reserved_memory_mb"][str(n["id"])])
                 for n in facts["numa"]["nodes"])
    policy["guests"] = [g for g in policy["guests"] if g["vcpus"] <= cpus and g["memory_mb"] <= memory]
    run_checked(facts, policy)

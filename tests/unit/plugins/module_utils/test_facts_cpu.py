"""CPU topology facts: agree with hwloc on real dumps and on generated trees."""

import os
import shutil

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import cpu as _facts_cpu
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import gather
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from . import facts_helpers as helpers
from .facts_helpers import Host, Tree

CPU = "/sys/devices/system/cpu"


def facts_of(root, subsets=("cpu", "numa")):
    return gather(Reader(str(root)), set(subsets))


# ----------------------------------------------------------------- real dumps (hwloc)

@pytest.mark.hwloc
@pytest.mark.parametrize("name", helpers.hwloc_dumps() or [
    pytest.param("none", marks=pytest.mark.skip(reason="../shared/fixtures/hwloc absent"))])
def test_real_dump_agrees_with_hwloc(name, tmp_path):
    root = helpers.extract_dump(name, tmp_path)
    expected = helpers.expected_answer(name)
    facts = facts_of(root)
    got = helpers.hwloc_view(facts)
    assert got["pus"] == expected["pus"]
    assert got["cores"] == sorted(expected["cores"])
    assert got["packages"] == sorted(expected["packages"])
    assert got["l3"] == sorted(expected["l3"])
    assert got["numa"] == sorted(expected["numa"], key=lambda node: node["id"])
    cpu = facts["cpu"]
    assert cpu["threads"] == len(expected["pus"])
    assert cpu["cores"] == len(expected["cores"])
    assert cpu["sockets"] == len(expected["packages"])
    assert cpu["threads_per_core"] == max(len(core) for core in expected["cores"])
    assert facts["warnings"] == []


@pytest.mark.hwloc
@pytest.mark.parametrize("name", helpers.hwloc_dumps() or [
    pytest.param("none", marks=pytest.mark.skip(reason="../shared/fixtures/hwloc absent"))])
def test_real_dump_without_list_files_still_agrees(name, tmp_path):
    """Same dumps with the modern list files removed: the legacy fallbacks give the same."""
    root = helpers.extract_dump(name, tmp_path)
    expected = helpers.expected_answer(name)
    for dirpath, _dirs, files in os.walk(os.path.join(root, "sys/devices/system")):
        for filename in files:
            if filename in ("core_cpus_list", "package_cpus_list", "thread_siblings_list",
                            "core_siblings_list", "core_cpus", "package_cpus", "cpulist",
                            "shared_cpu_list"):
                os.unlink(os.path.join(dirpath, filename))
    got = helpers.hwloc_view(facts_of(root))
    assert got["cores"] == sorted(expected["cores"])
    assert got["packages"] == sorted(expected["packages"])
    assert got["l3"] == sorted(expected["l3"])
    assert [node["cpus"] for node in got["numa"]] == \
        [node["cpus"] for node in sorted(expected["numa"], key=lambda node: node["id"])]


# ----------------------------------------------------------------- generated trees

SHAPES = [
    pytest.param(dict(shape="2x8x2", nodes=4, offline=[5], cpuless_nodes=[3], legacy=True),
                 id="2s8c2t-4n-cpu5-offline-node3-memory-only-legacy"),
    pytest.param(dict(shape="2x8x2", nodes=4, offline=[5], cpuless_nodes=[3]),
                 id="2s8c2t-4n-cpu5-offline-node3-memory-only-modern"),
    pytest.param(dict(shape="1x1x1", hybrid=(6, 8)), id="hybrid-6p-8e"),
    pytest.param(dict(shape="4x4x1", nodes=2, node_ids=[0, 33]), id="4s4c1t-sparse-node-ids"),
    pytest.param(dict(shape="2x4x2", numa=False), id="no-numa"),
    pytest.param(dict(shape="2x6x2", nodes=2, offline=[1, 13]), id="both-threads-of-a-core-offline"),
    pytest.param(dict(shape="1x4x4", nodes=1), id="smt4"),
]


@pytest.mark.parametrize("spec", SHAPES)
def test_generated_tree(spec, tmp_path):
    host = Host(**spec).build(Tree(tmp_path))
    facts = facts_of(tmp_path)
    cpu = facts["cpu"]
    assert cpu["online"] == host.online
    assert cpu["offline"] == host.offline
    assert cpu["core_groups"] == host.cores
    assert cpu["package_groups"] == host.packages
    assert cpu["l3_groups"] == host.l3
    assert cpu["cores"] == len(host.cores)
    assert cpu["sockets"] == len(host.packages)
    assert dict((node["id"], node["cpus"]) for node in facts["numa"]["nodes"]) == host.node_cpus
    assert facts["warnings"] == []


@pytest.mark.skipif(shutil.which("lstopo-no-graphics") is None, reason="hwloc-nox not installed")
@pytest.mark.parametrize("spec", SHAPES)
def test_generated_tree_agrees_with_live_lstopo(spec, tmp_path):
    Host(**spec).build(Tree(tmp_path))
    expected = helpers.lstopo(tmp_path)
    got = helpers.hwloc_view(facts_of(tmp_path))
    assert got["pus"] == expected["pus"]
    assert got["cores"] == expected["cores"]
    assert got["packages"] == expected["packages"]
    assert got["l3"] == expected["l3"]
    assert [(n["id"], n["cpus"], n["memory_kb"]) for n in got["numa"]] == \
        [(n["id"], n["cpus"], n["memory_kb"]) for n in expected["numa"]]


def test_described_host_answer(tmp_path):
    """The issue's example, checked value by value (not only against the builder)."""
    Host("2x8x2", nodes=4, offline=[5], cpuless_nodes=[3], legacy=True).build(Tree(tmp_path))
    facts = facts_of(tmp_path)
    cpu = facts["cpu"]
    assert cpu["threads"] == 31 and cpu["offline"] == [5]
    assert cpu["cores"] == 16 and cpu["sockets"] == 2 and cpu["threads_per_core"] == 2
    assert [21] in cpu["core_groups"]  # the sibling of the offline CPU 5
    assert [0, 16] in cpu["core_groups"]
    assert cpu["package_groups"] == [[0, 1, 2, 3, 4, 6, 7] + list(range(16, 24)),
                                     list(range(8, 16)) + list(range(24, 32))]
    nodes = facts["numa"]["nodes"]
    assert [node["id"] for node in nodes] == [0, 1, 2, 3]
    assert nodes[3]["cpus"] == [] and nodes[3]["memory_kb"] == 16 * 1024 * 1024
    assert 5 not in nodes[0]["cpus"] + nodes[1]["cpus"]


def test_hybrid_core_types_from_pmu(tmp_path):
    Host("1x1x1", hybrid=(2, 4), pmu=True).build(Tree(tmp_path))
    cpu = facts_of(tmp_path, ["cpu"])["cpu"]
    assert cpu["hybrid"] is True
    assert cpu["core_types"] == {"performance": [0, 1, 2, 3], "efficiency": [4, 5, 6, 7]}
    assert cpu["core_groups"] == [[0, 1], [2, 3], [4], [5], [6], [7]]
    assert cpu["threads_per_core"] == 2


def test_amd_compute_units_split_like_hwloc(tmp_path):
    """Siblings with different core_id values (AMD compute units) are cores of their own."""
    Host("1x2x2").build(Tree(tmp_path))
    for cpu in (2, 3):  # make CPUs 0,2 and 1,3 compute units with distinct core ids
        Tree(tmp_path).write("%s/cpu%d/topology/core_id" % (CPU, cpu), 7 + cpu)
    cpu = facts_of(tmp_path, ["cpu"])["cpu"]
    assert cpu["core_groups"] == [[0], [1], [2], [3]]


def test_missing_topology_of_one_cpu_is_covered_by_its_siblings(tmp_path):
    host = Host("1x4x2", missing_topology=[3]).build(Tree(tmp_path))
    facts = facts_of(tmp_path, ["cpu"])
    assert facts["cpu"]["core_groups"] == host.cores
    assert facts["cpu"]["package_groups"] == host.packages


def test_missing_topology_everywhere_falls_back_to_cpuinfo(tmp_path):
    host = Host("2x2x2", missing_topology=range(8)).build(Tree(tmp_path))
    facts = facts_of(tmp_path, ["cpu"])
    assert facts["cpu"]["core_groups"] == host.cores
    assert facts["cpu"]["package_groups"] == host.packages
    assert any("placed from /proc/cpuinfo" in warning for warning in facts["warnings"])


def test_no_sibling_lists_uses_package_and_core_ids(tmp_path):
    host = Host("2x2x2", legacy=True, cpuinfo=False).build(Tree(tmp_path))
    for cpu in host.online:
        Tree(tmp_path).remove("%s/cpu%d/topology/thread_siblings" % (CPU, cpu))
        Tree(tmp_path).remove("%s/cpu%d/topology/core_siblings" % (CPU, cpu))
    facts = facts_of(tmp_path, ["cpu"])
    assert facts["cpu"]["core_groups"] == host.cores
    assert facts["cpu"]["package_groups"] == host.packages
    assert any("physical_package_id and core_id" in warning for warning in facts["warnings"])


def test_missing_topology_and_cpuinfo_counts_cpus_alone(tmp_path):
    Host("1x2x2", missing_topology=range(4), cpuinfo=False).build(Tree(tmp_path))
    facts = facts_of(tmp_path, ["cpu"])
    assert facts["cpu"]["core_groups"] == [[0], [1], [2], [3]]
    assert facts["cpu"]["sockets"] == 4
    assert any("no topology for CPU 2" in warning for warning in facts["warnings"])


def test_no_online_file_uses_cpu_online_flags(tmp_path):
    Host("1x4x1", offline=[2], legacy=True).build(Tree(tmp_path))
    online, offline = _facts_cpu.online_cpus(Reader(str(tmp_path)))
    assert (online, offline) == ([0, 1, 3], [2])


def test_offline_is_present_minus_online_not_possible(tmp_path):
    Host("1x4x1").build(Tree(tmp_path))
    Tree(tmp_path).write(CPU + "/possible", "0-255").write(CPU + "/offline", "4-255")
    assert _facts_cpu.online_cpus(Reader(str(tmp_path))) == ([0, 1, 2, 3], [])


def test_identity_and_flags(tmp_path):
    Host("1x2x1", vendor="AuthenticAMD", flags="fpu svm pdpe1gb hypervisor").build(Tree(tmp_path))
    cpu = facts_of(tmp_path, ["cpu"])["cpu"]
    assert cpu["vendor"] == "AuthenticAMD"
    assert cpu["model_name"] == "Fixture CPU @ 2.00GHz"
    assert cpu["flags"]["svm"] and cpu["flags"]["pdpe1gb"] and cpu["flags"]["hypervisor"]
    assert not cpu["flags"]["vmx"] and not cpu["flags"]["x2apic"]
    assert set(cpu["flags"]) >= {"vmx", "svm", "pdpe1gb", "x2apic", "constant_tsc", "hypervisor"}


def test_no_cache_information_gives_empty_l3_groups(tmp_path):
    Host("1x2x1").build(Tree(tmp_path))
    for cpu in (0, 1):
        Tree(tmp_path).remove("%s/cpu%d/cache" % (CPU, cpu))
    assert facts_of(tmp_path, ["cpu"])["cpu"]["l3_groups"] == []


def test_parse_cpuinfo_blocks():
    blocks = _facts_cpu.parse_cpuinfo("processor\t: 0\nflags\t: a b\n\nprocessor\t: 1\n\n\n")
    assert blocks == [{"processor": "0", "flags": "a b"}, {"processor": "1"}]

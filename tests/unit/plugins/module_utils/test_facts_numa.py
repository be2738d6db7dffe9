"""NUMA facts: nodes, memory, distances and huge pages per node."""

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import numa as _facts_numa
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import gather
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Host, Tree

NODE = "/sys/devices/system/node"


def numa_of(root):
    facts = gather(Reader(str(root)), {"numa"})
    return facts["numa"], facts["warnings"]


def test_hugepages_per_node_and_size(tmp_path):
    Host("2x2x1", nodes=2, hugepages={"1048576": {0: 4, 1: 2}, "2048": {1: 512}}) \
        .build(Tree(tmp_path))
    Tree(tmp_path).write(NODE + "/node1/hugepages/hugepages-2048kB/free_hugepages", 500) \
        .write(NODE + "/node1/hugepages/hugepages-2048kB/surplus_hugepages", 3)
    numa, warnings = numa_of(tmp_path)
    assert numa["nodes"][0]["hugepages"] == {
        "2048": {"total": 0, "free": 0, "surplus": 0},
        "1048576": {"total": 4, "free": 4, "surplus": 0}}
    assert numa["nodes"][1]["hugepages"]["2048"] == {"total": 512, "free": 500, "surplus": 3}
    assert warnings == []


def test_distances_and_sparse_ids(tmp_path):
    Host("2x2x1", nodes=2, node_ids=[0, 33]).build(Tree(tmp_path))
    Tree(tmp_path).write(NODE + "/node33/distance", "32 10")
    numa, _warnings = numa_of(tmp_path)
    assert [node["id"] for node in numa["nodes"]] == [0, 33]
    assert numa["nodes"][0]["distances"] == [10, 20]
    assert numa["nodes"][1]["distances"] == [32, 10]
    assert numa["supported"] is True


def test_no_numa_support_is_one_node_with_everything(tmp_path):
    Host("1x4x2", numa=False, hugepages={"2048": {0: 64}}).build(Tree(tmp_path))
    numa, warnings = numa_of(tmp_path)
    assert numa["supported"] is False
    assert numa["nodes"] == [{
        "id": 0, "cpus": list(range(8)), "memory_kb": 16 * 1024 * 1024, "distances": [10],
        "hugepages": {"2048": {"total": 64, "free": 64, "surplus": 0},
                      "1048576": {"total": 0, "free": 0, "surplus": 0}}}]
    assert warnings == []


def test_memory_only_node(tmp_path):
    Host("1x2x1", nodes=2, cpuless_nodes=[1]).build(Tree(tmp_path))
    numa, _warnings = numa_of(tmp_path)
    assert numa["nodes"][1]["cpus"] == [] and numa["nodes"][1]["memory_kb"] > 0


def test_node_cpus_exclude_offline(tmp_path):
    Host("1x4x1", nodes=1).build(Tree(tmp_path))
    Tree(tmp_path).write("/sys/devices/system/cpu/online", "0-2").write(NODE + "/node0/cpulist", "0-3")
    numa, _warnings = numa_of(tmp_path)
    assert numa["nodes"][0]["cpus"] == [0, 1, 2]


def test_meminfo_parsing(tmp_path):
    tree = Tree(tmp_path).write("/m", "\nNode 0 MemTotal:  123 kB\nNode 0 MemFree: 5 kB\n")
    reader = Reader(str(tmp_path))
    assert _facts_numa.meminfo_kb(reader, "/m", "MemTotal") == 123
    assert _facts_numa.meminfo_kb(reader, "/m", "MemUsed") is None
    tree.write("/m", "Node 0 MemTotal:  12x kB\n")
    assert _facts_numa.meminfo_kb(reader, "/m", "MemTotal") is None
    assert reader.warnings and "MemTotal" in reader.warnings[0]

"""Memory facts: total, huge pages, THP, KSM, swappiness, zswap, swaps."""

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.memory import gather_memory
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Host, Tree


def test_memory_facts(tmp_path):
    Host("1x2x1", hugepages={"1048576": {0: 2}}).build(Tree(tmp_path))
    Tree(tmp_path).files({
        "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
        "/sys/kernel/mm/transparent_hugepage/defrag": "always defer defer+madvise [madvise] never",
        "/sys/kernel/mm/ksm/run": "0",
        "/proc/sys/vm/swappiness": "10",
        "/sys/module/zswap/parameters/enabled": "Y",
        "/sys/module/zswap/parameters/compressor": "zstd",
        "/sys/module/zswap/parameters/max_pool_percent": "20",
        "/proc/swaps": "Filename\tType\tSize\tUsed\tPriority\n/dev/zram0 partition 4194300 0 100\n",
    })
    reader = Reader(str(tmp_path))
    memory = gather_memory(reader)
    assert memory["total_kb"] == 16 * 1024 * 1024
    assert memory["hugepage_sizes_kb"] == [2048, 1048576]
    assert memory["default_hugepage_kb"] == 2048
    assert memory["hugepages"]["1048576"] == {"total": 2, "free": 2, "surplus": 0, "reserved": 0}
    assert memory["thp"] == "madvise" and memory["thp_defrag"] == "madvise"
    assert memory["ksm_run"] == 0 and memory["swappiness"] == 10
    assert memory["zswap"] == {"enabled": True, "compressor": "zstd", "max_pool_percent": 20}
    assert memory["swaps"] == [{"name": "/dev/zram0", "type": "partition", "size_kb": 4194300,
                                "used_kb": 0, "priority": 100}]
    assert reader.warnings == []


def test_memory_facts_on_a_bare_tree(tmp_path):
    reader = Reader(str(tmp_path))
    memory = gather_memory(reader)
    assert memory["total_kb"] is None and memory["hugepage_sizes_kb"] == []
    assert memory["zswap"] is None and memory["swaps"] == [] and memory["thp"] is None

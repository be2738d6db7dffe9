# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory facts: total, huge page sizes and pools, THP, KSM, swappiness, zswap, swaps.

Sources: /proc/meminfo, /sys/kernel/mm/hugepages (Documentation/admin-guide/mm/hugetlbpage.rst),
/sys/kernel/mm/transparent_hugepage (Documentation/admin-guide/mm/transhuge.rst),
/sys/kernel/mm/ksm (Documentation/admin-guide/mm/ksm.rst), /proc/sys/vm/swappiness
(Documentation/admin-guide/sysctl/vm.rst), /sys/module/zswap/parameters
(Documentation/admin-guide/mm/zswap.rst), /proc/swaps.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.numa import (
    GLOBAL_HUGEPAGES,
    hugepage_pools,
    meminfo_kb,
)

THP = "/sys/kernel/mm/transparent_hugepage"
ZSWAP = "/sys/module/zswap/parameters"


def parse_swaps(reader, relpath="/proc/swaps"):
    """Active swap areas: [{name, type, size_kb, used_kb, priority}]."""
    swaps = []
    for line in reader.lines(relpath, [])[1:]:
        words = line.split()
        try:
            swaps.append({"name": words[0], "type": words[1], "size_kb": int(words[2]),
                          "used_kb": int(words[3]), "priority": int(words[4])})
        except (ValueError, IndexError):
            reader.warn("malformed line in %s: %r" % (relpath, line[:80]))
    return swaps


def gather_memory(reader):
    """The ``kvm_host.memory`` dictionary."""
    pools = hugepage_pools(reader, GLOBAL_HUGEPAGES)
    for size, pool in pools.items():
        pool["reserved"] = reader.integer(
            "%s/hugepages-%skB/resv_hugepages" % (GLOBAL_HUGEPAGES, size), 0)
    zswap = None
    if reader.isdir(ZSWAP):
        zswap = {
            "enabled": reader.boolean(ZSWAP + "/enabled"),
            "compressor": reader.text(ZSWAP + "/compressor"),
            "max_pool_percent": reader.integer(ZSWAP + "/max_pool_percent"),
        }
    total = meminfo_kb(reader, "/proc/meminfo", "MemTotal")
    if total is None and reader.exists("/proc/meminfo"):
        reader.warn("no MemTotal in /proc/meminfo")
    return {
        "total_kb": total,
        "available_kb": meminfo_kb(reader, "/proc/meminfo", "MemAvailable"),
        "hugepage_sizes_kb": sorted(int(size) for size in pools),
        "default_hugepage_kb": meminfo_kb(reader, "/proc/meminfo", "Hugepagesize"),
        "hugepages": pools,
        "thp": reader.selected(THP + "/enabled"),
        "thp_defrag": reader.selected(THP + "/defrag"),
        "ksm_run": reader.integer("/sys/kernel/mm/ksm/run"),
        # pages_sharing: "how many more sites are sharing them i.e. how much saved"
        # (ksm.rst), which is what unmerging (run=2) allocates again
        "ksm_pages_sharing": reader.integer("/sys/kernel/mm/ksm/pages_sharing"),
        "swappiness": reader.integer("/proc/sys/vm/swappiness"),
        "zswap": zswap,
        "swaps": parse_swaps(reader),
    }

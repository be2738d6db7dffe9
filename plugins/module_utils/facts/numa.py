# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NUMA node facts: CPUs, memory, distances and huge pages per node.

Sources (Documentation/ABI/stable/sysfs-devices-node, Documentation/admin-guide/mm/hugetlbpage.rst):
``/sys/devices/system/node/nodeN/{cpulist,cpumap,meminfo,distance}`` and
``nodeN/hugepages/hugepages-<size>kB/{nr,free,surplus}_hugepages``. A kernel without
NUMA support has no ``node`` directory: it is reported as one node 0 that holds every
online CPU, the whole memory and the global huge page pools.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

NODE_BASE = "/sys/devices/system/node"
GLOBAL_HUGEPAGES = "/sys/kernel/mm/hugepages"

_NODE_DIR = re.compile(r"^node(\d+)$")
_HUGEPAGE_DIR = re.compile(r"^hugepages-(\d+)kB$")


def node_ids(reader):
    ids = []
    for name in reader.listdir(NODE_BASE):
        match = _NODE_DIR.match(name)
        if match and reader.isdir("%s/%s" % (NODE_BASE, name)):
            ids.append(int(match.group(1)))
    return sorted(ids)


def meminfo_kb(reader, relpath, key):
    """Value in kB of ``key`` in a meminfo file (``/proc/meminfo`` or a node's), or None."""
    for line in reader.lines(relpath, []):
        if ":" not in line:
            continue
        head, value = line.split(":", 1)
        if head.split()[-1:] != [key]:
            continue
        words = value.split()
        try:
            number = int(words[0])
        except (ValueError, IndexError):
            reader.warn("malformed %s in %s: %r" % (key, relpath, line[:60]))
            return None
        if len(words) > 1 and words[1] != "kB":
            reader.warn("unexpected unit of %s in %s: %r" % (key, relpath, line[:60]))
            return None
        return number
    return None


def hugepage_pools(reader, base):
    """{"<size kB>": {total, free, surplus}} for the ``hugepages-*kB`` directories of ``base``."""
    pools = {}
    for name in reader.listdir(base):
        match = _HUGEPAGE_DIR.match(name)
        if not match:
            continue
        pool = "%s/%s" % (base, name)
        pools[str(int(match.group(1)))] = {
            "total": reader.integer(pool + "/nr_hugepages", 0),
            "free": reader.integer(pool + "/free_hugepages", 0),
            "surplus": reader.integer(pool + "/surplus_hugepages", 0),
        }
    return pools


def _distances(reader, relpath):
    text = reader.text(relpath)
    if text is None:
        return []
    try:
        return [int(word) for word in text.split()]
    except ValueError:
        reader.warn("malformed distances in %s: %r" % (relpath, text[:60]))
        return []


def gather_numa(reader, online):
    """The ``kvm_host.numa`` dictionary (``online``: the online CPU ids)."""
    online_set = set(online)
    ids = node_ids(reader)
    if not ids:
        memory = meminfo_kb(reader, "/proc/meminfo", "MemTotal")
        if memory is None:
            reader.warn("no MemTotal in /proc/meminfo")
        return {
            "supported": False,
            "nodes": [{
                "id": 0,
                "cpus": sorted(online_set),
                "memory_kb": memory,
                "distances": [10],
                "hugepages": hugepage_pools(reader, GLOBAL_HUGEPAGES),
            }],
        }
    nodes = []
    for node in ids:
        base = "%s/node%d" % (NODE_BASE, node)
        cpus = reader.cpus(base, "cpulist", "cpumap", [])
        memory = meminfo_kb(reader, base + "/meminfo", "MemTotal")
        if memory is None:
            reader.warn("no MemTotal in %s/meminfo" % base)
        nodes.append({
            "id": node,
            "cpus": sorted(set(cpus) & online_set),
            "memory_kb": memory,
            "distances": _distances(reader, base + "/distance"),
            "hugepages": hugepage_pools(reader, base + "/hugepages"),
        })
    return {"supported": True, "nodes": nodes}

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel arguments in the forms the running kernel accepts (docs/plan.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.memory import size_label

# Kernel versions that changed a parameter's accepted form (docs/plan.md).
ISOLCPUS_FLAGS_SINCE = (4, 15)     # isolcpus=[flag-list,]<cpu-list>, flag "domain"
MANAGED_IRQ_SINCE = (5, 6)         # isolcpus flag "managed_irq"
HUGEPAGES_NODE_FORMAT_SINCE = (5, 16)  # hugepages=<node>:<count>[,<node>:<count>]


def isolcpus_value(isolated, version):
    cpus = format_cpulist(isolated)
    if version is None or version < ISOLCPUS_FLAGS_SINCE:
        return cpus
    if version < MANAGED_IRQ_SINCE:
        return "domain," + cpus
    return "domain,managed_irq," + cpus


def cpu_isolation_args(policy, housekeeping, isolated, version):
    """isolcpus/nohz_full/rcu_nocbs for the isolation mode, irqaffinity= the housekeeping CPUs
    (Documentation/admin-guide/kernel-parameters.txt)."""
    args = []
    isolation = policy.get("isolation") or "none"
    if isolated and isolation in ("isolcpus", "nohz_full"):
        args.append(["isolcpus", isolcpus_value(isolated, version)])
    if isolated and isolation == "nohz_full":
        args.append(["nohz_full", format_cpulist(isolated)])
        args.append(["rcu_nocbs", format_cpulist(isolated)])
    args.append(["irqaffinity", format_cpulist(housekeeping)])
    return args


# hugepages=<node>:<count> before 5.19 rejected a node id >= nr_online_nodes (the number of
# online nodes, not the highest id): "hugetlb: fix wrong use of nr_online_nodes"
# (0a7a0f6f7f36, Linux 5.19) made it node_online(). With sparse node ids (0 and 2 online)
# the older kernels print "HugeTLB: Invalid hugepages parameter" and allocate nothing there.
HUGEPAGES_SPARSE_NODES_SINCE = (5, 19)


def hugepage_args(topo, pages, page_kb, version, warnings):
    """default_hugepagesz, hugepagesz and hugepages= for the planned pool (none when empty);
    per node (``hugepages=0:4,1:4``) from Linux 5.16 when the kernel accepts every node id
    (ids below the number of online nodes, any online id from 5.19), else a total that the
    kernel spreads over the nodes, the per-node counts then set at runtime."""
    args = []
    total = sum(pages.values())
    if not total:
        return args
    label = size_label(page_kb)
    args.append(["default_hugepagesz", label])
    args.append(["hugepagesz", label])
    used = sorted(node for node, count in pages.items() if count)
    node_format = version is not None and version >= HUGEPAGES_NODE_FORMAT_SINCE
    if node_format and version < HUGEPAGES_SPARSE_NODES_SINCE and used[-1] >= len(topo.nodes):
        node_format = False
        warnings.append("kernel %d.%d rejects hugepages=<node>:<count> for node %d (ids from %d up need Linux "
                        "5.19 when only %d nodes are online), so the boot-time pages are a total "
                        "hugepages=%d and the per-node counts are set at runtime"
                        % (version[0], version[1], used[-1], len(topo.nodes), len(topo.nodes), total))
    if node_format:
        value = ",".join("%d:%d" % (node, pages[node]) for node in used)
    else:
        value = str(total)
        spread = set(count for node, count in pages.items()
                     if topo.node_by_id[node]["memory_kb"] > 0)
        if len(topo.nodes) > 1 and len(spread) > 1 and (version is None or version < HUGEPAGES_NODE_FORMAT_SINCE):
            warnings.append("kernel %s takes only a total hugepages=%d, which it spreads over the "
                            "nodes; the per-node counts must be set at runtime"
                            % ("older than 5.16" if version else "of unknown version", total))
    args.append(["hugepages", value])
    return args


def iommu_args(topo, policy, warnings):
    """intel_iommu=on on Intel (AMD's IOMMU driver is on by default and amd_iommu= has no
    "on" value), iommu=pt on request."""
    args = []
    if not policy.get("iommu"):
        return args
    if topo.vendor == "GenuineIntel":
        args.append(["intel_iommu", "on"])
    elif topo.vendor in ("AuthenticAMD", "HygonGenuine"):
        pass
    else:
        warnings.append("iommu: no IOMMU argument is known for CPU vendor %r" % (topo.vendor,))
    if policy.get("iommu_passthrough"):
        args.append(["iommu", "pt"])
    return args

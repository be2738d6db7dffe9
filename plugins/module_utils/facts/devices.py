# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Device facts: IOMMU groups and SR-IOV functions (NVMe: facts/nvme.py).

Sources: /sys/kernel/iommu_groups and /sys/class/iommu (Documentation/ABI/testing/sysfs-kernel-iommu_groups),
/sys/bus/pci/devices/*/sriov_* and ``virtfnN``
(Documentation/ABI/testing/sysfs-bus-pci, Documentation/PCI/pci-iov-howto.rst).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

IOMMU_GROUPS = "/sys/kernel/iommu_groups"
PCI_DEVICES = "/sys/bus/pci/devices"

_VIRTFN = re.compile(r"^virtfn(\d+)$")


def _numa_node(reader, relpath):
    """A device's numa_node; None when the firmware does not say (the kernel's -1)."""
    node = reader.integer(relpath)
    if node is None or node < 0:
        return None
    return node


def _natural(name):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def gather_iommu(reader):
    """The ``kvm_host.iommu`` dictionary."""
    groups = {}
    types = set()
    for name in reader.listdir(IOMMU_GROUPS):
        if not name.isdigit():
            continue
        base = "%s/%s" % (IOMMU_GROUPS, name)
        groups[str(int(name))] = sorted(reader.listdir(base + "/devices"))
        kind = reader.text(base + "/type")
        if kind:
            types.add(kind)
    units = reader.listdir("/sys/class/iommu")
    return {
        "enabled": bool(groups) or bool(units),
        "units": units,
        "groups": len(groups),
        "group_devices": groups,
        "domain_types": sorted(types),
    }


def _netdevs(reader, device):
    return reader.listdir(device + "/net")


def gather_sriov(reader):
    """The ``kvm_host.sriov`` list: one entry per physical function."""
    functions = []
    for address in reader.listdir(PCI_DEVICES):
        device = "%s/%s" % (PCI_DEVICES, address)
        totalvfs = reader.integer(device + "/sriov_totalvfs")
        if totalvfs is None:
            continue
        vfs = []
        for entry in sorted(reader.listdir(device), key=_natural):
            match = _VIRTFN.match(entry)
            if not match:
                continue
            link = "%s/%s" % (device, entry)
            netdevs = _netdevs(reader, link)
            vfs.append({
                "index": int(match.group(1)),
                "address": reader.link_name(link),
                "driver": reader.link_name(link + "/driver"),
                "netdev": netdevs[0] if netdevs else None,
            })
        netdevs = _netdevs(reader, device)
        functions.append({
            "name": netdevs[0] if netdevs else address,
            "address": address,
            "netdevs": netdevs,
            "driver": reader.link_name(device + "/driver"),
            "numa_node": _numa_node(reader, device + "/numa_node"),
            "vendor": reader.text(device + "/vendor"),
            "device": reader.text(device + "/device"),
            "totalvfs": totalvfs,
            "numvfs": reader.integer(device + "/sriov_numvfs", 0),
            "vfs": vfs,
        })
    return functions

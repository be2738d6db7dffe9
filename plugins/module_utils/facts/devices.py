# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Device facts: IOMMU groups, SR-IOV functions and vhost-net (NVMe: facts/nvme.py).

Sources: /sys/kernel/iommu_groups and /sys/class/iommu (Documentation/ABI/testing/sysfs-kernel-iommu_groups),
/sys/bus/pci/devices/*/sriov_*, ``virtfnN``, ``driver_override`` and ``iommu_group``
(Documentation/ABI/testing/sysfs-bus-pci, Documentation/PCI/pci-iov-howto.rst); the ACPI
DMAR (Intel VT-d) and IVRS (AMD-Vi) tables in /sys/firmware/acpi/tables; interrupt
remapping from the ``IR-`` interrupt chips in /proc/interrupts (``IR-PCI-MSI``, printed
by the kernel's irq_remapping domains); the guests' host devices from libvirt's status XML
of running domains (/run/libvirt/qemu/NAME.xml, ``<hostdev type='pci'>`` and
``<interface type='hostdev'>`` source addresses); vhost-net from /sys/module/vhost_net
and /dev (Documentation/networking/tuntap.rst for /dev/net/tun).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
from xml.etree import ElementTree

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
        "acpi_tables": [table for table in ("DMAR", "IVRS") if reader.exists("/sys/firmware/acpi/tables/" + table)],
        "interrupt_remapping": interrupt_remapping(reader.text("/proc/interrupts")),
        "allow_unsafe_interrupts": reader.boolean(
            "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"),
    }


def interrupt_remapping(text):
    """True when an interrupt is delivered through a remapping domain (``IR-PCI-MSI``,
    ``IR-IO-APIC``), False when /proc/interrupts has MSI interrupts but none remapped,
    None when it cannot tell (unreadable, or no MSI/IO-APIC line at all)."""
    if text is None:
        return None
    remapped = seen = False
    for line in text.splitlines():
        words = line.split()
        if any(word.startswith("IR-") for word in words):
            remapped = True
        if any("PCI-MSI" in word or "IO-APIC" in word for word in words):
            seen = True
    if remapped:
        return True
    return False if seen else None


def _netdevs(reader, device):
    return reader.listdir(device + "/net")


def _pci_address(domain, bus, slot, function):
    """``0000:02:10.0`` from libvirt's address attributes (``0x0000``, ``0x02``, ...)."""
    try:
        return "%04x:%02x:%02x.%x" % (int(domain or "0", 0), int(bus, 0), int(slot, 0), int(function or "0", 0))
    except (TypeError, ValueError):
        return None


def domain_hostdevs(xml_text):
    """(domain name, [PCI addresses]) of a libvirt domain or status XML (``<domstatus>``
    wraps ``<domain>``): every ``<hostdev type='pci'>`` and ``<interface type='hostdev'>``
    source address. (None, []) when the text is not XML."""
    try:
        root = ElementTree.fromstring(xml_text)
    except (ElementTree.ParseError, TypeError, ValueError):
        return None, []
    domain = root if root.tag == "domain" else root.find("domain")
    if domain is None:
        return None, []
    name = (domain.findtext("name") or "").strip() or None
    addresses = []
    devices = domain.find("devices")
    for element in list(devices) if devices is not None else []:
        if element.tag == "hostdev" and element.get("type") != "pci":
            continue
        if element.tag == "interface" and element.get("type") != "hostdev":
            continue
        if element.tag not in ("hostdev", "interface"):
            continue
        address = element.find("source/address")
        if address is None:
            continue
        found = _pci_address(address.get("domain"), address.get("bus"), address.get("slot"), address.get("function"))
        if found:
            addresses.append(found)
    return name, addresses


def running_hostdevs(reader):
    """{PCI address: domain name} of the host devices running libvirt guests hold."""
    held = {}
    for entry in reader.listdir("/run/libvirt/qemu"):
        if not entry.endswith(".xml"):
            continue
        name, addresses = domain_hostdevs(reader.text("/run/libvirt/qemu/" + entry, quiet=True))
        for address in addresses:
            held[address] = name or entry[:-len(".xml")]
    return held


def _iommu_group(reader, device):
    group = reader.link_name(device + "/iommu_group")
    return group if group is not None and group.isdigit() else None


def _vfio_group_open(reader, group):
    """Whether a process has /dev/vfio/<group> open (any /proc/PID/fd link to it); None when
    /proc cannot be read."""
    if group is None:
        return False
    target = "/dev/vfio/%s" % group
    pids = [pid for pid in reader.listdir("/proc") if pid.isdigit()]
    if not pids:
        return None
    for pid in pids:
        for fd in reader.listdir("/proc/%s/fd" % pid):
            try:
                if os.readlink(reader.path("/proc/%s/fd/%s" % (pid, fd))) == target:
                    return True
            except (IOError, OSError):
                continue
    return False


def gather_sriov(reader, held=None):
    """The ``kvm_host.sriov`` list: one entry per physical function."""
    functions = []
    if held is None:
        held = running_hostdevs(reader)
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
            vf_address = reader.link_name(link)
            driver = reader.link_name(link + "/driver")
            group = _iommu_group(reader, link)
            vfs.append({
                "index": int(match.group(1)),
                "address": vf_address,
                "driver": driver,
                "driver_override": reader.text(link + "/driver_override", quiet=True) or None,
                "netdev": netdevs[0] if netdevs else None,
                "iommu_group": group,
                "domain": held.get(vf_address),
                "vfio_open": _vfio_group_open(reader, group) if driver == "vfio-pci" else False,
            })
        for vf in vfs:
            if vf["driver_override"] == "(null)":
                vf["driver_override"] = None
        netdevs = _netdevs(reader, device)
        mac = reader.text("%s/net/%s/address" % (device, netdevs[0])) if netdevs else None
        functions.append({
            "name": netdevs[0] if netdevs else address,
            "address": address,
            "netdevs": netdevs,
            "mac": mac,
            "driver": reader.link_name(device + "/driver"),
            "numa_node": _numa_node(reader, device + "/numa_node"),
            "vendor": reader.text(device + "/vendor"),
            "device": reader.text(device + "/device"),
            "totalvfs": totalvfs,
            "numvfs": reader.integer(device + "/sriov_numvfs", 0),
            "autoprobe": reader.boolean(device + "/sriov_drivers_autoprobe"),
            "iommu_group": _iommu_group(reader, device),
            "vfs": vfs,
        })
    return functions


def gather_vhost(reader):
    """The ``kvm_host.vhost`` dictionary: vhost-net module and device nodes."""
    loaded = reader.isdir("/sys/module/vhost_net")
    return {
        "vhost_net_loaded": loaded,
        "experimental_zcopytx": reader.integer("/sys/module/vhost_net/parameters/experimental_zcopytx")
        if loaded else None,
        "dev_vhost_net": reader.exists("/dev/vhost-net"),
        "dev_net_tun": reader.exists("/dev/net/tun"),
        "tun_loaded": reader.isdir("/sys/module/tun"),
    }

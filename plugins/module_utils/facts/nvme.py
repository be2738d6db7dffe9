# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVMe facts (``kvm_host.nvme``): controllers, their namespaces' block queue settings and
holders, and the controllers' interrupt lines.

Sources:

- controllers: /sys/class/nvme/nvmeX (model, serial, firmware_rev, transport, address,
  device/numa_node; Documentation/ABI/testing/sysfs-class-nvme); the nvme driver's
  module parameters /sys/module/nvme/parameters/{poll_queues,write_queues}
  (drivers/nvme/host/pci.c);
- namespaces: the block devices nvmeXnY (/sys/block/nvmeXnY: queue/*, wwid, holders,
  partitions; Documentation/ABI/stable/sysfs-block, Documentation/block/queue-sysfs.rst).
  ``nvmeXcYnZ`` entries are the hidden per-path disks of native multipath: skipped; their
  namespace is the head ``nvmeSnZ`` of the controller's subsystem
  (/sys/class/nvme-subsystem/nvme-subsysS);
- holders: /proc/self/mounts (mounted, partitions included), ``holders/`` (dm-*: LVM,
  device mapper), the udev database /run/udev/data/b<major>:<minor> (``ID_FS_TYPE=zfs_member``:
  a ZFS vdev; ZFS registers no holder in sysfs);
- blk-mq or bio-based: since Linux 6.10 a queue that is not blk-mq (the head of a native
  multipath namespace) hides the blk-mq attributes ``scheduler``, ``nr_requests``,
  ``rq_affinity`` (block/blk-sysfs.c, blk_mq_queue_attr_visible); ``blk_mq`` is false when
  ``queue/`` is there without ``scheduler``, null when the kernel does not say (older kernels
  show every attribute on every queue). A head nvmeSnZ's paths are the hidden disks
  nvmeScXnZ in /sys/block (drivers/nvme/host/multipath.c names them so; Linux 6.12 gives
  the head no ``multipath/`` or ``slaves/`` links to them);
- interrupts: /proc/interrupts lines named ``nvmeXqY`` (Y=0 the admin queue), with
  /proc/irq/N/effective_affinity_list and smp_affinity_list
  (Documentation/core-api/irq/irq-affinity.rst). Whether an IRQ is kernel-managed is not
  shown by procfs: the I/O queues (Y>0) are allocated with PCI_IRQ_AFFINITY by the nvme
  driver (managed), the admin queue is not, so ``managed`` is derived from the queue number.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

NVME_CLASS = "/sys/class/nvme"
NVME_SUBSYSTEM_CLASS = "/sys/class/nvme-subsystem"
NVME_PARAMETERS = "/sys/module/nvme/parameters"
SYS_BLOCK = "/sys/block"
UDEV_DATA = "/run/udev/data"

QUEUE_ATTRIBUTES = ("nr_requests", "read_ahead_kb", "rq_affinity", "nomerges", "iostats")

_NVME_CTRL = re.compile(r"^nvme(\d+)$")
_NVME_NS = re.compile(r"^nvme\d+n\d+$")
_NVME_PATH = re.compile(r"^nvme\d+c\d+n(\d+)$")
_NVME_IRQ = re.compile(r"^nvme(\d+)q(\d+)$")


def _natural(name):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _numa_node(reader, relpath):
    node = reader.integer(relpath)
    if node is None or node < 0:
        return None
    return node


def _choices(reader, relpath):
    """``[none] mq-deadline kyber`` -> every word, brackets removed; [] when unreadable."""
    content = reader.text(relpath)
    if not content:
        return []
    return [word.strip("[]") for word in content.split()]


def _mounts(reader):
    """device path -> sorted mount points, from /proc/self/mounts."""
    found = {}
    for line in reader.lines("/proc/self/mounts", []):
        fields = line.split()
        if len(fields) < 2:
            continue
        # octal escapes (\040 for a space) as the kernel writes them
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        found.setdefault(fields[0], set()).add(point)
    return dict((dev, sorted(points)) for dev, points in found.items())


def _udev_properties(reader, block):
    """The udev database entry of a block device (``E:KEY=value`` lines), None when unreadable."""
    dev = reader.text(block + "/dev")
    if not dev:
        return None
    lines = reader.lines("%s/b%s" % (UDEV_DATA, dev))
    if lines is None:
        return None
    props = {}
    for line in lines:
        if line.startswith("E:") and "=" in line:
            key, value = line[2:].split("=", 1)
            props[key] = value
    return props


def _holders(reader, name, partitions, mounts):
    devices = [name] + partitions
    mounted = sorted(set(point for dev in devices for point in mounts.get("/dev/" + dev, [])))
    dm = []
    for dev in devices:
        base = "%s/%s" % (SYS_BLOCK, name) + ("" if dev == name else "/" + dev)
        dm.extend(holder for holder in reader.listdir(base + "/holders") if holder.startswith("dm-"))
    zfs = None
    for dev in devices:
        base = "%s/%s" % (SYS_BLOCK, name) + ("" if dev == name else "/" + dev)
        props = _udev_properties(reader, base)
        if props is None:
            continue
        if props.get("ID_FS_TYPE") == "zfs_member":
            zfs = True
            break
        zfs = False
    return {
        "mounted": mounted,
        "dm": sorted(set(dm), key=_natural),
        "zfs": zfs,                  # None: the udev database could not tell
        "free": not mounted and not dm and zfs is not True,
    }


def _paths(reader, name):
    """The hidden per-path disks nvmeScXnZ of the head nvmeSnZ (native multipath), from /sys/block."""
    subsys, nsid = name[len("nvme"):].split("n", 1)
    pattern = re.compile(r"^nvme%sc\d+n%s$" % (subsys, nsid))
    return sorted((entry for entry in reader.listdir(SYS_BLOCK) if pattern.match(entry)), key=_natural)


def _namespace(reader, name, mounts):
    block = "%s/%s" % (SYS_BLOCK, name)
    queue = block + "/queue"
    hw_queues = [entry for entry in reader.listdir(block + "/mq") if entry.isdigit()]
    partitions = sorted((entry for entry in reader.listdir(block)
                         if entry.startswith(name + "p") and entry[len(name) + 1:].isdigit()), key=_natural)
    wwid = reader.text(block + "/wwid")
    if wwid is None:
        wwid = reader.text(block + "/device/wwid")
    if reader.exists(queue + "/scheduler"):
        blk_mq = True
    elif reader.exists(queue + "/read_ahead_kb"):
        blk_mq = False
    else:
        blk_mq = None
    result = {
        "name": name,
        "blk_mq": blk_mq,
        "paths": _paths(reader, name),
        "size_sectors": reader.integer(block + "/size"),
        "queues": len(hw_queues),
        "scheduler": reader.selected(queue + "/scheduler"),
        "schedulers": _choices(reader, queue + "/scheduler"),
        "io_poll": reader.boolean(queue + "/io_poll"),
        "wwid": wwid,
        "partitions": partitions,
    }
    for attribute in QUEUE_ATTRIBUTES:
        result[attribute] = reader.integer("%s/%s" % (queue, attribute))
    result["holders"] = _holders(reader, name, partitions, mounts)
    return result


def _subsystem_heads(reader, controller):
    """Head namespaces (nvmeSnZ) of the subsystem the controller belongs to (multipath)."""
    for subsys in reader.listdir(NVME_SUBSYSTEM_CLASS):
        base = "%s/%s" % (NVME_SUBSYSTEM_CLASS, subsys)
        if reader.exists("%s/%s" % (base, controller)):
            return [entry for entry in reader.listdir(base) if _NVME_NS.match(entry)]
    return []


def _namespace_names(reader, base, controller):
    entries = reader.listdir(base)
    names = set(entry for entry in entries if _NVME_NS.match(entry))
    if any(_NVME_PATH.match(entry) for entry in entries):
        names.update(_subsystem_heads(reader, controller))
    return sorted(names, key=_natural)


def gather_irqs(reader):
    """controller name -> [{irq, queue, name, managed, effective_affinity, smp_affinity}]."""
    found = {}
    for line in reader.lines("/proc/interrupts", []):
        fields = line.split()
        if len(fields) < 2 or not fields[0].endswith(":") or not fields[0][:-1].isdigit():
            continue
        match = _NVME_IRQ.match(fields[-1])
        if not match:
            continue
        irq = int(fields[0][:-1])
        queue = int(match.group(2))
        base = "/proc/irq/%d" % irq
        found.setdefault("nvme" + match.group(1), []).append({
            "irq": irq,
            "queue": queue,
            "name": fields[-1],
            "managed": queue > 0,
            "effective_affinity": reader.cpulist(base + "/effective_affinity_list"),
            "smp_affinity": reader.cpulist(base + "/smp_affinity_list"),
        })
    for irqs in found.values():
        irqs.sort(key=lambda entry: entry["queue"])
    return found


def gather_nvme(reader):
    """The ``kvm_host.nvme`` list: one entry per controller."""
    mounts = _mounts(reader)
    irqs = gather_irqs(reader)
    params = {
        "poll_queues": reader.integer(NVME_PARAMETERS + "/poll_queues"),
        "write_queues": reader.integer(NVME_PARAMETERS + "/write_queues"),
    }
    controllers = []
    for name in sorted(reader.listdir(NVME_CLASS), key=_natural):
        if not _NVME_CTRL.match(name):
            continue
        base = "%s/%s" % (NVME_CLASS, name)
        namespaces = [_namespace(reader, entry, mounts) for entry in _namespace_names(reader, base, name)]
        numa = _numa_node(reader, base + "/device/numa_node")
        if numa is None:
            numa = _numa_node(reader, base + "/numa_node")
        transport = reader.text(base + "/transport")
        address = reader.text(base + "/address")
        if address is None and transport in (None, "pcie"):
            address = reader.link_name(base + "/device")
        own_irqs = irqs.get(name, [])
        controllers.append({
            "name": name,
            "model": reader.text(base + "/model"),
            "serial": reader.text(base + "/serial"),
            "firmware": reader.text(base + "/firmware_rev"),
            "transport": transport,
            "address": address,
            "numa_node": numa,
            "queues": max([ns["queues"] for ns in namespaces] or [0]),
            "io_queue_irqs": len([entry for entry in own_irqs if entry["queue"] > 0]),
            "module_parameters": dict(params) if transport in (None, "pcie") else {},
            "namespaces": namespaces,
            "irqs": own_irqs,
        })
    return controllers

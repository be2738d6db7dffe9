# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``zfs_storage``: ZFS pools (opt-in), datasets and zvols for guest disks, and the
ARC limits (``/etc/modprobe.d/zfs.conf`` and ``/sys/module/zfs/parameters`` in the order
the kernel accepts), libvirt storage pools of type ``zfs`` over a guest dataset (opt-in) and
the sanoid snapshot policy (opt-in, ``/etc/sanoid/sanoid.conf``).

Sources (also in roles/zfs_storage/README.md):

- OpenZFS docs, Performance and Tuning -> Workload Tuning -> "Virtual machines", "LZ4
  compression", "Atime Updates"
  (https://openzfs.github.io/openzfs-docs/Performance%20and%20Tuning/Workload%20Tuning.html);
- zfsprops(7) (property values, defaults, which properties are set at creation only);
- zfs(4) "ZFS module parameters" (zfs_arc_max, zfs_arc_min and their limits);
- module/zfs/arc.c arc_tuning_update(): a value outside the limits is ignored with only
  "ignoring tunable" in the kernel log;
- qemu-img(1) (qcow2 cluster_size default 64 KiB);
- libvirt formatstorage.html "ZFS pool" and src/storage/storage_backend_zfs.c (the pool's
  source is a dataset; its volumes are the zvols below it, ``zfs list -r -t volume``, named
  by their last path component; they are listed when the pool starts or is refreshed);
- sanoid 2.1.0 (Debian 12's package 2.1.0-1.1): sanoid.defaults.conf (the keys sanoid
  accepts and their defaults), sanoid.conf (the example), sanoid's init_config (a key not in
  the defaults is fatal; recursive is yes/no or zfs).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.memory import arc_max_mb as plan_arc_max_mb
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import KB_PER_MB, PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import (
    comment,
    managed_header,
    section,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.zfs_users import (
    SANOID_CONF,
    SANOID_TIMER,
    libvirt_pools as plan_libvirt_pools,
    sanoid_conf,
    snapshots as plan_snapshots,
)

ROLE = "zfs_storage"

OPTIONS = dict(
    pools=dict(type="list", elements="dict", default=[]),
    datasets=dict(type="list", elements="dict", default=[]),
    strict=dict(type="bool", default=False),
    allow_destroy=dict(type="bool", default=False),
    arc_max_mb=dict(type="int"),
    arc_min_mb=dict(type="int"),
    modprobe_path=dict(type="path", default="/etc/modprobe.d/zfs.conf"),
    libvirt_pools=dict(type="list", elements="dict", default=[]),
    snapshots=dict(type="list", elements="dict", default=[]),
)

MIB = 1024 * 1024
ARC_PARAMETERS = "/sys/module/zfs/parameters/%s"
# zfs(4): zfs_arc_min below 2 << SPA_MAXBLOCKSHIFT (32 MiB) and zfs_arc_max below 64 MiB
# (MIN_ARC_MAX) are ignored; zfs_arc_max must also be above the current c_min and
# zfs_arc_min at most the current c_max (module/zfs/arc.c arc_tuning_update()).
ARC_MIN_FLOOR_MB = 32
ARC_MAX_FLOOR_MB = 64
# zfs(4) zfs_arc_min default: max(RAM / 32, 32 MiB) (arc.c arc_c_min).
ARC_MIN_RAM_DIVISOR = 32

SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$", re.IGNORECASE)

ON_OFF = ("on", "off")
COMPRESSION = (("on", "off", "lz4", "lzjb", "zle", "gzip", "zstd", "zstd-fast")
               + tuple("gzip-%d" % n for n in range(1, 10)) + tuple("zstd-%d" % n for n in range(1, 20))
               + tuple("zstd-fast-%d" % n for n in list(range(1, 11)) + [20, 30, 40, 50, 60, 70, 80, 90, 100, 500, 1000]))

# zfsprops(7): property -> (kinds it applies to, allowed words or a checker name).
# "size": bytes or a K/M/G/T suffix; "size_none": a size or none; "pow2": a power of two
# block size; "path": mountpoint.
SETTABLE = {
    "compression": (("filesystem", "volume"), COMPRESSION),
    "sync": (("filesystem", "volume"), ("standard", "always", "disabled")),
    "logbias": (("filesystem", "volume"), ("latency", "throughput")),
    "primarycache": (("filesystem", "volume"), ("all", "none", "metadata")),
    "secondarycache": (("filesystem", "volume"), ("all", "none", "metadata")),
    "checksum": (("filesystem", "volume"), ("on", "off", "fletcher2", "fletcher4", "sha256", "noparity",
                                            "sha512", "skein", "edonr", "blake3")),
    "dedup": (("filesystem", "volume"), ("on", "off", "verify", "sha256", "sha256,verify", "sha512",
                                         "sha512,verify", "skein", "skein,verify", "edonr,verify",
                                         "blake3", "blake3,verify")),
    "copies": (("filesystem", "volume"), ("1", "2", "3")),
    "redundant_metadata": (("filesystem", "volume"), ("all", "most", "some", "none")),
    "readonly": (("filesystem", "volume"), ON_OFF),
    "refreservation": (("filesystem", "volume"), "size_none"),
    "reservation": (("filesystem", "volume"), "size_none"),
    "volsize": (("volume",), "size"),
    "volmode": (("volume",), ("default", "full", "geom", "dev", "none")),
    "snapdev": (("volume",), ("hidden", "visible")),
    "atime": (("filesystem",), ON_OFF),
    "relatime": (("filesystem",), ON_OFF),
    "recordsize": (("filesystem",), "pow2_record"),
    "quota": (("filesystem",), "size_none"),
    "refquota": (("filesystem",), "size_none"),
    "mountpoint": (("filesystem",), "path"),
    "canmount": (("filesystem",), ("on", "off", "noauto")),
    "xattr": (("filesystem",), ("on", "off", "sa", "dir")),
    "acltype": (("filesystem",), ("off", "noacl", "nfsv4", "posix", "posixacl")),
    "dnodesize": (("filesystem",), ("legacy", "auto", "1k", "2k", "4k", "8k", "16k")),
    "snapdir": (("filesystem",), ("hidden", "visible")),
    "exec": (("filesystem",), ON_OFF),
    "setuid": (("filesystem",), ON_OFF),
    "devices": (("filesystem",), ON_OFF),
    "special_small_blocks": (("filesystem",), "size"),
}

# zfsprops(7): set when the dataset is created and never changed afterwards ("This
# property can only be set at creation time" / "cannot be changed after creation").
CREATION_ONLY = {
    "volblocksize": (("volume",), "pow2_volblock"),
    "encryption": (("filesystem", "volume"), ("off", "on", "aes-128-ccm", "aes-192-ccm", "aes-256-ccm",
                                              "aes-128-gcm", "aes-192-gcm", "aes-256-gcm")),
    "casesensitivity": (("filesystem",), ("sensitive", "insensitive", "mixed")),
    "normalization": (("filesystem",), ("none", "formC", "formD", "formKC", "formKD")),
    "utf8only": (("filesystem",), ON_OFF),
}

# Defaults for guest disks. Sources:
# - zvols and raw/qcow2 files in their own dataset, recordsize/volblocksize matched to the
#   guest's I/O: OpenZFS Workload Tuning, "Virtual machines" (and "zvol volblocksize").
# - compression=lz4: Workload Tuning, "LZ4 compression" (cheap, skips incompressible data).
# - atime=off: Workload Tuning, "Atime Updates" (no metadata write per read of an image).
# - recordsize=64K: qemu-img(1) qcow2 "cluster_size" defaults to 64 KiB; one record per
#   cluster avoids read-modify-write of larger records (Workload Tuning, "Virtual machines").
# - volblocksize=16K: zfsprops(7) "volblocksize ... defaults to 16 Kbytes" (OpenZFS 2.2+;
#   8K before; OpenZFS docs, Basic Concepts/Datasets/ZVOLs: "Set at creation only ... the
#   default is 16 KiB"); creation-only, so written explicitly for every zvol whatever the
#   ZFS version.
# - volmode=dev: zfsprops(7) "volmode": dev exposes the zvol as a block device without
#   scanning its partitions, so the host never sees (or auto-activates LVM in) a guest's
#   partition table.
# - sync=standard, logbias=latency, primarycache=all: zfsprops(7) defaults, written so a
#   changed parent cannot change the guest disks; sync=async is not a ZFS value, and
#   sync=disabled loses the guest's flushes on power loss (the collection never sets it).
COMMON_DEFAULTS = {"compression": "lz4", "sync": "standard", "logbias": "latency", "primarycache": "all"}
VOLUME_DEFAULTS = dict(COMMON_DEFAULTS, volmode="dev")
FILESYSTEM_DEFAULTS = dict(COMMON_DEFAULTS, atime="off", recordsize=str(64 * 1024))
VOLBLOCKSIZE_DEFAULT = 16 * 1024

# zpool create -o ashift=12: 4 KiB sectors; emulated and many real disks report 512-byte
# sectors and ZFS would pick ashift=9 for good (zpoolprops(7) "ashift"; OpenZFS Workload
# Tuning "Alignment Shift (ashift)").
ASHIFT_DEFAULT = 12
VDEV_WORDS = ("mirror", "raidz", "raidz1", "raidz2", "raidz3", "spare", "log", "cache", "special", "dedup")
_DRAID = re.compile(r"^draid[123]?(:\d+[dcs])*$")

MODPROBE_TEXT = """\
ZFS ARC limits from the host plan (kvm_host_plan.zfs_storage.arc): the ARC maximum plus the
huge page pool plus the host reserve stay within MemTotal (OpenZFS issue 10048).
Read when the zfs module loads; zfs(4) "zfs_arc_max", "zfs_arc_min"."""


def parse_size(value, where):
    """Bytes of an int or a ``10G``-style size (1024-based, like zfs(8)); PlanError naming ``where``."""
    if isinstance(value, bool):
        raise PlanError(where, "%r is not a size" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise PlanError(where, "must not be negative, got %d" % value)
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise PlanError(where, "%r is not a size: give bytes or a number with K, M, G or T" % (value,))
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).upper()])


def _pow2_in(value, where, low, high):
    size = parse_size(value, where)
    if size < low or size > high or size & (size - 1):
        raise PlanError(where, "%r is not a power of two from %s to %s" % (value, _human(low), _human(high)))
    return size


def _human(size):
    for unit in ("T", "G", "M", "K"):
        if size >= SIZE_UNITS[unit] and size % SIZE_UNITS[unit] == 0:
            return "%d%s" % (size // SIZE_UNITS[unit], unit)
    return str(size)


def normalize_property(name, value, kind, where):
    """The value as ``zfs get -Hp`` shows it (sizes in bytes), or PlanError naming ``where``."""
    known = SETTABLE.get(name) or CREATION_ONLY.get(name)
    if known is None:
        if ":" in name:  # user property (zfsprops(7) "User Properties"): any string
            return str(value)
        raise PlanError(where.rsplit(".", 1)[0], "%r is not a ZFS property this role knows (known: %s; user "
                        "properties contain a colon)" % (name, ", ".join(sorted(list(SETTABLE) + list(CREATION_ONLY)))))
    kinds, rule = known
    if kind not in kinds:
        raise PlanError(where, "%s applies to %s only, not to a %s" % (name, " and ".join(kinds), kind))
    if isinstance(value, bool):
        value = "on" if value else "off"
    if rule == "size":
        return str(parse_size(value, where))
    if rule == "size_none":
        if str(value) in ("none", "auto"):
            return str(value)
        return str(parse_size(value, where))
    if rule == "pow2_record":
        # zfsprops(7) recordsize: a power of two from 512 bytes to 1 MiB (16 MiB with
        # zfs_max_recordsize raised)
        return str(_pow2_in(value, where, 512, 16 * MIB))
    if rule == "pow2_volblock":
        # zfsprops(7) volblocksize: a power of two from 512 bytes to 128 KiB
        return str(_pow2_in(value, where, 512, 128 * 1024))
    if rule == "path":
        if str(value) in ("none", "legacy") or str(value).startswith("/"):
            return str(value)
        raise PlanError(where, "%r is not an absolute path, none or legacy" % (value,))
    text = str(value)
    if name == "sync" and text not in rule:
        raise PlanError(where, "%r is not a ZFS value; use standard, always or disabled" % (text,))
    if text not in rule:
        shown = ", ".join(rule) if len(rule) < 15 else ", ".join(rule[:8]) + ", ..."
        raise PlanError(where, "%r is not a ZFS value; use %s" % (text, shown))
    return text


def _dataset(index, item):
    var = "zfs_storage_datasets[%d]" % index
    if not isinstance(item, dict):
        raise PlanError(var, "must be a dict with name and type, got %r" % (item,))
    known = ("name", "type", "size", "volblocksize", "sparse", "properties", "state")
    for key in item:
        if key not in known:
            raise PlanError(var, "unknown key %r (known: %s)" % (key, ", ".join(known)))
    name = item.get("name")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*(/[A-Za-z0-9_.:-]+)+$", name):
        raise PlanError(var + ".name", "%r is not a dataset name below a pool (pool/name)" % (name,))
    kind = item.get("type") or "filesystem"
    if kind not in ("filesystem", "volume"):
        raise PlanError(var + ".type", "%r is neither filesystem nor volume" % (kind,))
    state = item.get("state") or "present"
    if state not in ("present", "absent"):
        raise PlanError(var + ".state", "%r is neither present nor absent" % (state,))
    given = item.get("properties") or {}
    if not isinstance(given, dict):
        raise PlanError(var + ".properties", "must be a dict of ZFS property to value")
    wanted = dict(VOLUME_DEFAULTS if kind == "volume" else FILESYSTEM_DEFAULTS)
    for prop, value in given.items():
        where = "%s.properties.%s" % (var, prop)
        if prop in ("volblocksize", "volsize"):
            raise PlanError(where, "give it as %s.%s" % (var, "size" if prop == "volsize" else "volblocksize"))
        wanted[prop] = normalize_property(prop, value, kind, where)
    size = None
    creation = {}
    if kind == "volume":
        if item.get("size") is None and state == "present":
            raise PlanError(var + ".size", "a volume needs a size (bytes or with K, M, G or T)")
        block = item.get("volblocksize")
        block = VOLBLOCKSIZE_DEFAULT if block is None else block
        block = int(normalize_property("volblocksize", block, kind, var + ".volblocksize"))
        creation["volblocksize"] = str(block)
        if item.get("size") is not None:
            size = parse_size(item["size"], var + ".size")
            if size == 0 or size % block:
                raise PlanError(var + ".size", "%d bytes is not a positive multiple of volblocksize %d "
                                "(zfs create -V refuses it)" % (size, block))
    else:
        for key in ("size", "volblocksize", "sparse"):
            if item.get(key) is not None:
                raise PlanError("%s.%s" % (var, key), "applies to volumes only")
    for prop in list(wanted):
        if prop in CREATION_ONLY:
            creation[prop] = wanted.pop(prop)
    pool = name.split("/", 1)[0]
    return {
        "name": name,
        "pool": pool,
        "type": kind,
        "state": state,
        "size": size,
        "sparse": bool(item.get("sparse")),
        "properties": dict(sorted(wanted.items())),
        "creation_properties": dict(sorted(creation.items())),
    }


def vdev_devices(vdevs):
    """The device paths of a ``zpool create`` vdev list (keywords left out)."""
    return [word for word in vdevs if word not in VDEV_WORDS and not _DRAID.match(word)]


def _pool(index, item, existing, block_devices, warnings):
    var = "zfs_storage_pools[%d]" % index
    if not isinstance(item, dict):
        raise PlanError(var, "must be a dict with name and vdevs")
    known = ("name", "vdevs", "ashift", "properties", "filesystem_properties", "force")
    for key in item:
        if key not in known:
            raise PlanError(var, "unknown key %r (known: %s)" % (key, ", ".join(known)))
    name = item.get("name")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_.:-]*$", name) or \
            name in VDEV_WORDS or name.startswith(("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9")):
        raise PlanError(var + ".name", "%r is not a pool name (zpool(8): a letter, then letters, digits, "
                        "_ . : -; not a vdev keyword)" % (name,))
    vdevs = item.get("vdevs")
    if isinstance(vdevs, str):
        vdevs = vdevs.split()
    if not isinstance(vdevs, list) or not vdevs or not all(isinstance(v, str) for v in vdevs):
        raise PlanError(var + ".vdevs", "must be a list of vdev words (devices, mirror, raidz, ...)")
    devices = vdev_devices(vdevs)
    if not devices:
        raise PlanError(var + ".vdevs", "names no device")
    for device in devices:
        if not device.startswith("/dev/"):
            raise PlanError(var + ".vdevs", "%r: give devices as /dev paths, preferably /dev/disk/by-id/..." % device)
    ashift = item.get("ashift", ASHIFT_DEFAULT)
    if isinstance(ashift, bool) or not isinstance(ashift, int) or not 9 <= ashift <= 16:
        raise PlanError(var + ".ashift", "must be an integer from 9 to 16, got %r" % (ashift,))
    force = item.get("force") or []
    if isinstance(force, str):
        force = [force]
    for device in force:
        if device not in devices:
            raise PlanError(var + ".force", "%r is not one of the pool's devices (%s)" % (device, ", ".join(devices)))
    exists = name in existing
    if not exists:
        if block_devices is None:
            warnings.append("%s: the facts do not list block devices (kvm_host.zfs.block_devices); the devices "
                            "of pool %s are checked when it is created" % (var, name))
        else:
            for device in devices:
                if device not in block_devices:
                    raise PlanError(var + ".vdevs", "device %s does not exist on this host (kvm_host.zfs."
                                    "block_devices)" % device)
    properties = item.get("properties") or {}
    fs_properties = item.get("filesystem_properties") or {}
    if not isinstance(properties, dict) or not isinstance(fs_properties, dict):
        raise PlanError(var, "properties and filesystem_properties must be dicts")
    root = {}
    for prop, value in fs_properties.items():
        root[prop] = normalize_property(prop, value, "filesystem", "%s.filesystem_properties.%s" % (var, prop))
    return {
        "name": name,
        "vdevs": list(vdevs),
        "devices": devices,
        "ashift": ashift,
        "properties": dict((str(k), str(v)) for k, v in sorted(properties.items())),
        "filesystem_properties": root,
        "force": list(force),
        "exists": exists,
    }


def arc_order(max_bytes, min_bytes, current_max):
    """(parameter, value) pairs in the order the kernel accepts them.

    arc.c arc_tuning_update(): zfs_arc_max is taken only when above the current c_min,
    zfs_arc_min only when at most the current c_max. Lowering the maximum: the minimum
    first (it fits under the old maximum), then the maximum (above the new minimum).
    Raising: the maximum first, then the minimum. Without current values (ZFS not
    loaded): minimum first."""
    pairs = [("zfs_arc_min", str(min_bytes)), ("zfs_arc_max", str(max_bytes))]
    if isinstance(current_max, int) and not isinstance(current_max, bool) and max_bytes >= current_max:
        pairs.reverse()
    return [list(pair) for pair in pairs]


def arc_limits(context, options):
    """(max_mb, min_mb, reason) or (None, None, reason) when the ARC is left alone."""
    facts = context.facts if isinstance(context.facts, dict) else {}
    total_mb = (context.topo.total_memory_kb or 0) // KB_PER_MB
    budget = plan_arc_max_mb(facts, context.policy, [])
    max_mb = options["arc_max_mb"]
    if max_mb is None:
        if context.policy.get("zfs_arc_max_mb") is None:
            # Without a policy value the plan's budget is only the running c_max (observed,
            # not decided): pinning it would freeze the kernel's default, so the ARC is left alone.
            return None, None, "kvmops_plan_zfs_arc_max_mb is not set: the ARC is left as it is"
        if not budget:
            return None, None, "kvmops_plan_zfs_arc_max_mb is 0: the ARC is left as it is"
        max_mb = budget
        reason = "the plan's ARC budget (%d MiB)" % budget
    else:
        if budget and max_mb > budget:
            raise PlanError("zfs_storage_arc_max_mb", "%d MiB is more than the plan budgets for the ARC (%d MiB, "
                            "counted against huge pages and the host reserve); set kvmops_plan_zfs_arc_max_mb "
                            "instead" % (max_mb, budget))
        if not budget:
            raise PlanError("zfs_storage_arc_max_mb", "the plan budgets no ARC (kvmops_plan_zfs_arc_max_mb unset and "
                            "ZFS not loaded), so huge pages may take the memory; set kvmops_plan_zfs_arc_max_mb")
        reason = "zfs_storage_arc_max_mb"
    if max_mb < ARC_MAX_FLOOR_MB:
        raise PlanError("zfs_storage_arc_max_mb", "%d MiB is below 64 MiB, which the kernel ignores "
                        "(zfs(4) zfs_arc_max)" % max_mb)
    if total_mb and max_mb >= total_mb:
        raise PlanError("zfs_storage_arc_max_mb", "%d MiB is not below the host memory %d MiB" % (max_mb, total_mb))
    min_mb = options["arc_min_mb"]
    if min_mb is None:
        # zfs(4) default max(RAM / 32, 32 MiB), kept below the maximum
        min_mb = max(ARC_MIN_FLOOR_MB, min(total_mb // ARC_MIN_RAM_DIVISOR, max_mb // 2))
    elif min_mb < ARC_MIN_FLOOR_MB:
        raise PlanError("zfs_storage_arc_min_mb", "%d MiB is below 32 MiB, which the kernel ignores "
                        "(zfs(4) zfs_arc_min)" % min_mb)
    if max_mb <= min_mb:
        raise PlanError("zfs_storage_arc_max_mb", "%d MiB is not above the ARC minimum %d MiB "
                        "(zfs_storage_arc_min_mb); the kernel ignores such a maximum" % (max_mb, min_mb))
    return max_mb, min_mb, reason


def build(context, options):
    facts = context.facts if isinstance(context.facts, dict) else {}
    zfs = facts.get("zfs") if isinstance(facts.get("zfs"), dict) else {}
    existing = set(zfs.get("pools") or [])
    block_devices = zfs.get("block_devices")
    if block_devices is not None:
        block_devices = set(block_devices)

    pools = []
    names = set()
    for index, item in enumerate(options["pools"] or []):
        pool = _pool(index, item, existing, block_devices, context.warnings)
        if pool["name"] in names:
            raise PlanError("zfs_storage_pools[%d].name" % index, "pool %s is declared twice" % pool["name"])
        names.add(pool["name"])
        pools.append(pool)
    datasets = []
    seen = set()
    for index, item in enumerate(options["datasets"] or []):
        dataset = _dataset(index, item)
        if dataset["name"] in seen:
            raise PlanError("zfs_storage_datasets[%d].name" % index, "%s is declared twice" % dataset["name"])
        seen.add(dataset["name"])
        if zfs.get("present") and dataset["pool"] not in names | existing:
            context.warnings.append("zfs_storage_datasets[%d]: pool %s neither exists nor is declared in "
                                    "zfs_storage_pools" % (index, dataset["pool"]))
        datasets.append(dataset)
    if (pools or datasets) and not zfs.get("present"):
        context.warnings.append("zfs_storage: ZFS is not loaded on this host (kvm_host.zfs.present false); "
                                "pools and datasets need the zfs module and zfsutils")

    max_mb, min_mb, reason = arc_limits(context, options)
    modprobe_files = {}
    sysfs = {}
    arc = None
    if max_mb is not None:
        max_bytes, min_bytes = max_mb * MIB, min_mb * MIB
        current = zfs.get("arc") if isinstance(zfs.get("arc"), dict) else {}
        arc = {"max_bytes": max_bytes, "min_bytes": min_bytes, "reason": reason,
               "order": arc_order(max_bytes, min_bytes, current.get("max"))}
        modprobe_files[options["modprobe_path"]] = (
            comment(managed_header(ROLE, MODPROBE_TEXT))
            + "options zfs zfs_arc_max=%d zfs_arc_min=%d\n" % (max_bytes, min_bytes))
        if zfs.get("present"):
            # audited like any sysfs item; applied in arc.order, not from this mapping
            sysfs = {ARC_PARAMETERS % "zfs_arc_max": str(max_bytes), ARC_PARAMETERS % "zfs_arc_min": str(min_bytes)}

    roots = names | existing
    libvirt_pools = plan_libvirt_pools(options["libvirt_pools"], datasets, roots)
    if libvirt_pools and not (facts.get("libvirt") or {}).get("present"):
        context.warnings.append("zfs_storage_libvirt_pools: libvirt is not installed on this host "
                                "(kvm_host.libvirt.present false); its zfs storage backend is needed")
    snapshots = plan_snapshots(options["snapshots"], datasets, roots)
    # sanoid.conf only with a policy: without one the file (maybe the administrator's) is left alone
    snapshot_files = {SANOID_CONF: sanoid_conf(snapshots)} if snapshots else {}
    services = []
    if snapshots:
        services.append({"unit": SANOID_TIMER, "state": "started", "enabled": True,
                         "reason": "runs sanoid every 15 minutes (Debian's sanoid package); the snapshot policy "
                                   "of zfs_storage_snapshots is in %s" % SANOID_CONF})
    files = dict(modprobe_files)
    files.update(snapshot_files)
    return section(
        files=files,
        sysfs=sysfs,
        arc=arc,
        pools=pools,
        datasets=datasets,
        strict=options["strict"],
        allow_destroy=options["allow_destroy"],
        modprobe_files=modprobe_files,
        snapshot_files=snapshot_files,
        libvirt_pools=libvirt_pools,
        snapshots=snapshots,
        packages=["sanoid"] if snapshots else [],
        services=services,
    )

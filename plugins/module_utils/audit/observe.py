# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read, under a root, what a host holds for every generic item of the plan's sections
(plan/sections/common.py): running sysctl values, sysfs attributes, the text of owned
files, the KEY= lines of other files, mounts, and the pinning of planned guests in their
libvirt definition, the libvirt storage pools of a section (their definition, autostart
link and state file), and (seccomp_sandbox) the running QEMU processes and qemu.conf as
libvirt reads it. Never writes, never raises on a missing file (reported as None)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from xml.etree import ElementTree

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.config_files import current_values
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import tuning_state
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.storage_pool import PoolError, source
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import proc_path
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_proc import module_active, module_for
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysfs_attr import current_value
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.services import gather_qemu, parse_libvirt_conf


def _text(reader, path):
    data = reader.data(path, quiet=True)
    if data is None:
        return None
    try:
        return data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return None


def _mounts(reader):
    """Mount point -> (fstype, options) from /proc/self/mounts."""
    found = {}
    for line in (_text(reader, "/proc/self/mounts") or "").splitlines():
        fields = line.split()
        if len(fields) >= 4:
            found[fields[1]] = {"fstype": fields[2], "opts": fields[3]}
    return found


def _fstab(reader):
    found = {}
    for line in (_text(reader, "/etc/fstab") or "").splitlines():
        fields = line.split()
        if len(fields) >= 4 and not fields[0].startswith("#"):
            found[fields[1]] = {"fstype": fields[2], "opts": fields[3]}
    return found


# libvirt's persistent definition of a system domain (qemu:///system), read-only here.
DOMAIN_XML = "/etc/libvirt/qemu/%s.xml"


# libvirt's storage driver, privileged (storage_driver.c storageStateInitialize): the
# persistent definition, the autostart link, and the state file written when the pool
# starts and removed when it stops (/run: gone after a reboot until autostart starts it).
STORAGE_POOL_XML = "/etc/libvirt/storage/%s.xml"
STORAGE_POOL_AUTOSTART = "/etc/libvirt/storage/autostart/%s.xml"
STORAGE_POOL_STATE = "/run/libvirt/storage/%s.xml"


def _storage_pool(reader, name):
    """A defined storage pool: {type, source, autostart, active}, or None."""
    text = _text(reader, STORAGE_POOL_XML % name)
    if text is None:
        return None
    try:
        kind, dataset = source(text)
    except PoolError:
        kind = dataset = None
    # autostart as libvirt reads it: the link points to the definition (virFileLinkPointsTo);
    # resolved under the root, since libvirt writes an absolute link
    autostart = reader.realpath(STORAGE_POOL_AUTOSTART % name) == STORAGE_POOL_XML % name
    # The state file proves a running pool; its absence proves nothing: libvirt 9.0 (Debian
    # 12, lab) ran an autostarted pool without one after its idle-timeout restart. None:
    # unknown from files.
    return {"type": kind, "source": dataset, "autostart": autostart,
            "active": True if reader.exists(STORAGE_POOL_STATE % name) else None}


def pinning_text(vcpupin):
    """vCPU to CPU(s) as ``0:2 1:3`` (CPU lists for a vCPU pinned to several)."""
    return " ".join("%s:%s" % (vcpu, ",".join(str(cpu) for cpu in cpus))
                    for vcpu, cpus in sorted((int(v), c) for v, c in vcpupin.items()))


def _guest(reader, name):
    """A defined domain's pinning from its XML: {vcpupin, emulatorpin, memory_nodes}, or None."""
    text = _text(reader, DOMAIN_XML % name)
    if text is None:
        return None
    try:
        state = tuning_state(ElementTree.fromstring(text))
    except (ElementTree.ParseError, DomainXMLError, ValueError):
        return None
    memory = (state.get("numatune") or {}).get("memory") or {}
    return {"vcpupin": pinning_text(state["vcpupin"]),
            "emulatorpin": ",".join(str(cpu) for cpu in state["emulatorpin"] or []),
            "memory_nodes": ",".join(str(node) for node in memory.get("nodeset") or [])}


def observe(reader, sections):
    """``sections``: name -> section. Returns name -> {sysctl, sysfs, boot_sysfs, files,
    lines, mounts, fstab} with what the host holds for each item."""
    mounts = None
    fstab = None
    result = {}
    for name, section in sorted((sections or {}).items()):
        if not isinstance(section, dict):
            continue
        seen = {"sysctl": {}, "sysctl_inactive": {}, "sysfs": {}, "boot_sysfs": {}, "files": {}, "lines": {},
                "mounts": {}, "fstab": {}, "guests": {}, "libvirt_pools": {}}
        for key in ((section.get("sysctl") or {}).get("values") or {}):
            text = _text(reader, proc_path(key))
            seen["sysctl"][key] = None if text is None else " ".join(text.split())
            module = module_for(key)
            if text is None and module and not module_active(reader, module):
                # a key of a module nobody loaded: sysctl --system skips it, nothing drifts
                seen["sysctl_inactive"][key] = module
        for kind in ("sysfs", "boot_sysfs"):
            for path in (section.get(kind) or {}):
                text = _text(reader, path)
                seen[kind][path] = None if text is None else current_value(text)
        for path in (section.get("files") or {}):
            seen["files"][path] = _text(reader, path)
        for path, keys in (section.get("lines") or {}).items():
            text = _text(reader, path)
            # a released key (false) counts only when kvmops' marker says the line is ours
            released = [key for key, line in keys.items() if line is False]
            seen["lines"][path] = None if text is None else current_values(text, list(keys), released)
        if section.get("mounts"):
            if mounts is None:
                mounts, fstab = _mounts(reader), _fstab(reader)
            for item in section["mounts"]:
                seen["mounts"][item["path"]] = mounts.get(item["path"])
                seen["fstab"][item["path"]] = fstab.get(item["path"])
        if isinstance(section.get("expect"), dict):
            # seccomp_sandbox: the running QEMU processes, and qemu.conf as libvirt reads it
            seen["qemu_processes"] = gather_qemu(reader)
            paths = list(section.get("lines") or {})
            text = _text(reader, paths[0]) if paths else None
            seen["qemu_conf"] = None if text is None else parse_libvirt_conf(text)
        for guest in section.get("guests") or []:
            if isinstance(guest, dict) and guest.get("name"):
                seen["guests"][guest["name"]] = _guest(reader, guest["name"])
        for pool in section.get("libvirt_pools") or []:
            if isinstance(pool, dict) and pool.get("name"):
                seen["libvirt_pools"][pool["name"]] = _storage_pool(reader, pool["name"])
        result[name] = seen
    return result

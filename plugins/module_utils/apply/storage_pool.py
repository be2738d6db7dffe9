# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt storage pools of type ``zfs`` (formatstorage.html "ZFS pool": ``<pool
type='zfs'>`` whose ``<source><name>`` is a ZFS dataset): what a pool holds, compared with
the plan, and :func:`apply` over a libvirt connection object (the libvirt-python
``virConnect`` API: getStoragePoolCapabilities, storagePoolLookupByName,
storagePoolDefineXML; ``virStoragePool``: XMLDesc, isActive, create, autostart,
setAutostart, listVolumes, refresh), so tests pass a fake.

libvirt's zfs backend (src/storage/storage_backend_zfs.c) lists the zvols below the source
dataset (``zfs list -Hp -t volume -r``) when the pool starts or is refreshed, naming each
by its last path component; zvols made while the pool runs appear only after a refresh.
On Debian the backend is a loadable module of its own, in libvirt-daemon-driver-storage-zfs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from xml.etree import ElementTree

# virStoragePoolXMLFlags: the persistent definition, not the running one
XML_INACTIVE = 1

NO_BACKEND = ("libvirt on this host has no zfs storage backend (Debian: install libvirt-daemon-driver-storage-zfs "
              "and restart libvirtd)")


class PoolError(Exception):
    """A pool XML that cannot be read, a libvirt without the zfs backend, or a libvirt call
    that failed; the message names the variable of the pool when the plan gave one."""


def source(xml_text):
    """(pool type, source name) of a storage pool XML."""
    try:
        root = ElementTree.fromstring(xml_text)
    except ElementTree.ParseError as exc:
        raise PoolError("not a storage pool XML: %s" % exc)
    name = root.find("source/name")
    return root.get("type"), (name.text or "").strip() if name is not None else None


def same(current_xml, wanted_xml):
    """Whether the defined pool has the planned type and source dataset (libvirt adds a
    uuid, sizes and the target path to what it stores, so only those are compared)."""
    return source(current_xml) == source(wanted_xml)


def zfs_supported(conn):
    """True or False from the storage pool capabilities (libvirt 5.2+), None when the
    connection cannot tell (an older libvirt: the define then says it)."""
    method = getattr(conn, "getStoragePoolCapabilities", None)
    if method is None:
        return None
    try:
        root = ElementTree.fromstring(method(0))
    except (ElementTree.ParseError, AttributeError, TypeError):
        return None
    for pool in root.findall("pool"):
        if pool.get("type") == "zfs":
            return pool.get("supported") == "yes"
    return False


def state_text(kind, dataset, active, autostart, volumes):
    """What a pool holds, as the diff shows it."""
    if kind is None:
        return "(not defined)\n"
    return ("type: %s\nsource: %s\nactive: %s\nautostart: %s\nvolumes: %s\n"
            % (kind, dataset, "yes" if active else "no", "yes" if autostart else "no",
               " ".join(sorted(volumes)) or "(none)"))


def _label(wanted, index):
    return "%s (%s)" % (wanted.get("variable") or "pools[%d]" % index, wanted.get("name"))


def apply(conn, pools, check_mode=False, missing=lambda exc: True):
    """Define, start, set autostart and refresh every planned pool.

    ``missing(exc)``: whether an exception of storagePoolLookupByName means the pool does
    not exist (libvirt's VIR_ERR_NO_STORAGE_POOL); other exceptions are raised. Returns
    {changed, pools: [{name, defined, started, autostart, refreshed, pending}], diff: [{before,
    after, before_header, after_header}]}; ``pending``: redefined while active, the new
    definition takes effect when the pool next starts; ``refreshed``: the running pool did not
    list every planned zvol (or still listed one the plan destroys) and was refreshed."""
    report = []
    diffs = []
    changed = False
    if pools and zfs_supported(conn) is False:
        raise PoolError("%s: %s" % (_label(pools[0], 0), NO_BACKEND))
    for index, wanted in enumerate(pools or []):
        label = _label(wanted, index)
        name = wanted["name"]
        entry = {"name": name, "defined": False, "started": False, "autostart": False, "refreshed": False,
                 "pending": False}
        try:
            pool = conn.storagePoolLookupByName(name)
        except Exception as exc:  # the caller tells "no such pool" from a real failure
            if not missing(exc):
                raise
            pool = None
        if pool is not None:
            before_kind, before_source = source(pool.XMLDesc(XML_INACTIVE))
            active = bool(pool.isActive())
            auto = bool(pool.autostart())
            listed = set(pool.listVolumes()) if active else set()
        else:
            before_kind = before_source = None
            active = auto = False
            listed = set()
        before = state_text(before_kind, before_source, active, auto, listed)
        wanted_kind, wanted_source = source(wanted["xml"])
        if pool is None or (before_kind, before_source) != (wanted_kind, wanted_source):
            entry["defined"] = True
            entry["pending"] = pool is not None and active
            if not check_mode:
                try:
                    pool = conn.storagePoolDefineXML(wanted["xml"], 0)
                except Exception as exc:
                    text = str(exc)
                    if "missing backend" in text or ("zfs" in text.lower() and "support" in text.lower()):
                        raise PoolError("%s: %s (%s)" % (label, NO_BACKEND, text))
                    raise PoolError("%s: libvirt refused the pool: %s" % (label, text))
        planned = set(wanted.get("volumes") or [])
        if not active:
            entry["started"] = True  # starting lists the zvols (the backend's refresh)
            if pool is not None and not check_mode:
                try:
                    pool.create(0)
                except Exception as exc:
                    raise PoolError("%s: libvirt could not start the pool: %s" % (label, exc))
        elif not entry["pending"] and (planned - listed or listed & set(wanted.get("absent_volumes") or [])):
            entry["refreshed"] = True
            if not check_mode:
                try:
                    pool.refresh(0)
                except Exception as exc:
                    raise PoolError("%s: libvirt could not refresh the pool: %s" % (label, exc))
        want_auto = bool(wanted.get("autostart", True))
        if auto != want_auto:
            entry["autostart"] = True
            if pool is not None and not check_mode:
                pool.setAutostart(1 if want_auto else 0)
        after_listed = listed if entry["pending"] else (
            (listed | planned) - set(wanted.get("absent_volumes") or []) if (entry["started"] or entry["refreshed"])
            else listed)
        after = state_text(wanted_kind, wanted_source, True, want_auto, after_listed)
        entry_changed = entry["defined"] or entry["started"] or entry["autostart"] or entry["refreshed"]
        if entry_changed:
            header = "libvirt storage pool %s" % name
            diffs.append({"before_header": header, "after_header": header, "before": before, "after": after})
        changed = changed or entry_changed
        report.append(entry)
    return {"changed": changed, "pools": report, "diff": diffs}

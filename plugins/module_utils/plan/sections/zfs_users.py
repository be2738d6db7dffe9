# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What uses the datasets of the ``zfs_storage`` section: libvirt storage pools of type
``zfs`` over a guest dataset and sanoid's snapshot policy (``/etc/sanoid/sanoid.conf``),
each checked against the datasets the plan declares (or a pool's root dataset).

Sources: libvirt formatstorage.html "ZFS pool" and src/storage/storage_backend_zfs.c;
sanoid 2.1.0 (Debian 12's package 2.1.0-1.1) sanoid.defaults.conf, sanoid.conf and its
init_config.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import comment, managed_header

ROLE = "zfs_storage"

# libvirt storage pools of type zfs (formatstorage.html "ZFS pool"): the source is a dataset,
# created by this role (libvirt's zfs backend cannot set volblocksize or the other
# properties); the pool lists the zvols below it. Names: libvirt refuses '/' in a pool name
# (storage_conf.c); the collection keeps to letters, digits and _ . + -.
_LIBVIRT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
LIBVIRT_POOL_KEYS = ("name", "dataset", "autostart")

# sanoid (Debian 12: 2.1.0-1.1). The keys of a dataset section this role writes, and the
# value sanoid takes when a section leaves one out: /usr/share/sanoid/sanoid.defaults.conf
# of 2.1.0 ([template_default]: frequently 0, hourly 48, daily 90, weekly 0, monthly 6,
# yearly 0, autosnap 1, autoprune yes; recursive unset: the dataset alone). Every one is
# written, so the file says what sanoid does without the defaults file. A count of 0 takes
# no snapshot of that kind and prunes the ones there are (sanoid.defaults.conf).
SANOID_CONF = "/etc/sanoid/sanoid.conf"
SANOID_COUNTS = ("frequently", "hourly", "daily", "weekly", "monthly", "yearly")
SANOID_DEFAULTS = {"frequently": 0, "hourly": 48, "daily": 90, "weekly": 0, "monthly": 6, "yearly": 0,
                   "autosnap": True, "autoprune": True, "recursive": False}
SANOID_ORDER = ("recursive",) + SANOID_COUNTS + ("autosnap", "autoprune")
SNAPSHOT_KEYS = ("dataset",) + SANOID_ORDER
SANOID_DEFAULT_SOURCE = "sanoid 2.1.0 default (/usr/share/sanoid/sanoid.defaults.conf)"
# Debian's sanoid package ships sanoid.timer (every 15 minutes: sanoid.service takes the
# snapshots, sanoid-prune.service prunes) and enables it on install; the role keeps it so.
SANOID_TIMER = "sanoid.timer"

SANOID_TEXT = """\
Snapshot policy of sanoid (zfs_storage_snapshots), one section per dataset; sanoid.timer
runs sanoid every 15 minutes (Debian's sanoid package). Every key is written, each under
the variable it comes from or sanoid's own default, so this file alone says what sanoid
does; a key sanoid does not know is fatal to it (sanoid 2.1.0, init_config)."""


def _target_kind(dataset, planned, roots):
    """filesystem or volume for a planned dataset or a pool's root dataset, else None;
    ``absent`` for a dataset the plan destroys."""
    for item in planned:
        if item["name"] == dataset:
            return "absent" if item["state"] == "absent" else item["type"]
    if dataset in roots:
        return "filesystem"
    return None


def _known_dataset(where, dataset, planned, roots, kinds):
    if not isinstance(dataset, str) or not dataset:
        raise PlanError(where, "must be a dataset name, got %r" % (dataset,))
    kind = _target_kind(dataset, planned, roots)
    if kind is None:
        raise PlanError(where, "%s is neither a dataset of zfs_storage_datasets nor a pool's root dataset (the "
                        "facts list pools, not datasets: declare it in zfs_storage_datasets)" % dataset)
    if kind == "absent":
        raise PlanError(where, "%s has state absent in zfs_storage_datasets" % dataset)
    if kind not in kinds:
        raise PlanError(where, "%s is a %s; give a %s" % (dataset, kind, " or ".join(kinds)))
    return kind


def pool_xml(name, dataset):
    """A libvirt storage pool of type zfs over ``dataset`` (formatstorage.html "ZFS pool")."""
    return ("<pool type='zfs'>\n  <name>%s</name>\n  <source>\n    <name>%s</name>\n  </source>\n</pool>\n"
            % (xml_escape(name), xml_escape(dataset)))


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;")


def libvirt_pools(items, planned, roots):
    result = []
    names = {}
    sources = {}
    for index, item in enumerate(items or []):
        var = "zfs_storage_libvirt_pools[%d]" % index
        if not isinstance(item, dict):
            raise PlanError(var, "must be a dict with name and dataset, got %r" % (item,))
        for key in item:
            if key not in LIBVIRT_POOL_KEYS:
                raise PlanError(var, "unknown key %r (known: %s)" % (key, ", ".join(LIBVIRT_POOL_KEYS)))
        name = item.get("name")
        if not isinstance(name, str) or not _LIBVIRT_NAME.match(name):
            raise PlanError(var + ".name", "%r is not a libvirt pool name (letters, digits, _ . + -; no '/')"
                            % (name,))
        if name in names:
            raise PlanError(var + ".name", "pool %s is also %s" % (name, names[name]))
        names[name] = var
        dataset = item.get("dataset")
        _known_dataset(var + ".dataset", dataset, planned, roots, ("filesystem",))
        if dataset in sources:
            # libvirt refuses a second pool over the same source (storage source conflict)
            raise PlanError(var + ".dataset", "%s is already the source of %s" % (dataset, sources[dataset]))
        sources[dataset] = var
        autostart = item.get("autostart", True)
        if not isinstance(autostart, bool):
            raise PlanError(var + ".autostart", "must be true or false, got %r" % (autostart,))
        # libvirt names a volume by the last component of the zvol (storage_backend_zfs.c),
        # over every zvol below the dataset (zfs list -r)
        volumes = {}
        absent = []
        for dataset_item in planned:
            if dataset_item["type"] != "volume" or not dataset_item["name"].startswith(dataset + "/"):
                continue
            short = dataset_item["name"].rsplit("/", 1)[1]
            if dataset_item["state"] == "absent":
                absent.append(short)
                continue
            if short in volumes:
                raise PlanError(var + ".dataset", "zvols %s and %s are both volume %s of the pool (libvirt names "
                                "a volume by the zvol's last name)" % (volumes[short], dataset_item["name"], short))
            volumes[short] = dataset_item["name"]
        result.append({"name": name, "dataset": dataset, "autostart": autostart, "xml": pool_xml(name, dataset),
                       "volumes": sorted(volumes), "absent_volumes": sorted(set(absent) - set(volumes)),
                       "variable": var})
    return result


def _sanoid_word(key, value):
    if key == "recursive":
        return "zfs" if value == "zfs" else ("yes" if value else "no")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def snapshots(items, planned, roots):
    result = []
    seen = {}
    for index, item in enumerate(items or []):
        var = "zfs_storage_snapshots[%d]" % index
        if not isinstance(item, dict):
            raise PlanError(var, "must be a dict with dataset and counts, got %r" % (item,))
        for key in item:
            if key not in SNAPSHOT_KEYS:
                raise PlanError(var, "unknown key %r (known: %s)" % (key, ", ".join(SNAPSHOT_KEYS)))
        dataset = item.get("dataset")
        _known_dataset(var + ".dataset", dataset, planned, roots, ("filesystem", "volume"))
        if dataset in seen:
            raise PlanError(var + ".dataset", "%s already has a policy (%s)" % (dataset, seen[dataset]))
        seen[dataset] = var
        settings = {}
        sources = {}
        for key in SANOID_ORDER:
            value = item.get(key)
            if value is None:
                value = SANOID_DEFAULTS[key]
                sources[key] = SANOID_DEFAULT_SOURCE if key != "recursive" else \
                    "sanoid 2.1.0 default (recursive unset: this dataset only)"
            else:
                sources[key] = "%s.%s" % (var, key)
                where = "%s.%s" % (var, key)
                if key in SANOID_COUNTS:
                    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                        raise PlanError(where, "must be a count of snapshots to keep (0 or more), got %r" % (value,))
                elif key == "recursive":
                    if not isinstance(value, bool) and value != "zfs":
                        raise PlanError(where, "must be true, false or zfs (one atomic zfs snapshot -r), got %r"
                                        % (value,))
                elif not isinstance(value, bool):
                    raise PlanError(where, "must be true or false, got %r" % (value,))
            settings[key] = _sanoid_word(key, value)
        result.append({"dataset": dataset, "settings": settings, "sources": sources, "variable": var})
    return result


def sanoid_conf(snapshots):
    """The whole /etc/sanoid/sanoid.conf: a section per dataset, each key under its source
    (comments on lines of their own: Config::IniFiles would read a trailing one as part of
    the value)."""
    lines = [comment(managed_header(ROLE, SANOID_TEXT))]
    for item in snapshots:
        lines.append("\n[%s]\n" % item["dataset"])
        for key in SANOID_ORDER:
            lines.append("# %s\n%s = %s\n" % (item["sources"][key], key, item["settings"][key]))
    return "".join(lines)

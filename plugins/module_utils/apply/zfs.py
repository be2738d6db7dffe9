# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring ZFS pools, datasets and zvols to the plan (kvm_host_plan.zfs_storage) with the
``zfs``/``zpool`` commands, through one ``run(argv) -> (rc, out, err)`` seam.

Decisions (zfs(8), zfsprops(7), zpool-create(8)):

- Everything is read first (``zfs list -Hp``, ``zfs get -Hp ... all``, ``zpool list -H``,
  ``blkid -p``) and every refusal is raised before the first command that changes
  anything: a bad request changes nothing.
- Values are compared the way ``zfs get -Hp`` prints them (sizes in bytes; the plan
  gives them in bytes), so ``10G`` never differs from ``10737418240`` (the reason
  community.general.zfs sets sizes on every run, its issue 4699).
- A missing dataset is created with every wanted property, creation-only ones too
  (``volblocksize`` as ``-b``, the size as ``-V``, ``-s`` for sparse); an existing one
  gets ``zfs set`` for the settable properties that differ only. Creation-only
  properties of an existing dataset are never changed: a difference is reported in
  ``creation_only_drift`` and fails only when ``strict``.
- A zvol is grown (volsize) but never shrunk (that cuts the guest's disk).
- Destroy only for ``state: absent`` with ``allow_destroy``, and never a dataset with
  children, snapshots or clones.
- A pool is created only when absent, never changed; its devices must hold no
  filesystem, partition table or pool label (``blkid -p``) unless ``force`` names them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ZfsError(Exception):
    """A refused request or a failed command; nothing after it ran."""


def _lines(out):
    return [line for line in (out or "").splitlines() if line.strip()]


class Zfs(object):
    """Reads and changes through ``run``; ``check`` records the changing commands only."""

    def __init__(self, run, check=False):
        self.run = run
        self.check = check
        self.commands = []

    def _read(self, argv):
        rc, out, err = self.run(argv)
        if rc != 0:
            raise ZfsError("%s failed (rc %d): %s" % (" ".join(argv), rc, (err or out or "").strip()))
        return out

    def change(self, argv):
        self.commands.append(" ".join(argv))
        if not self.check:
            self._read(argv)

    # ------------------------------------------------------------------ reads

    def pools(self):
        return set(_lines(self._read(["zpool", "list", "-H", "-o", "name"])))

    def datasets(self):
        return set(_lines(self._read(["zfs", "list", "-Hp", "-t", "filesystem,volume", "-o", "name"])))

    def properties(self, name):
        """{property: (value, source)} of ``zfs get -Hp -o name,property,value,source all``."""
        result = {}
        for line in _lines(self._read(["zfs", "get", "-Hp", "-o", "name,property,value,source", "all", name])):
            words = line.split("\t")
            if len(words) == 4 and words[0] == name:
                result[words[1]] = (words[2], words[3])
        return result

    def dependents(self, name):
        """Children and snapshots of ``name`` and clones of its snapshots."""
        found = [n for n in _lines(self._read(["zfs", "list", "-H", "-r", "-t", "all", "-o", "name", name]))
                 if n != name]
        for line in _lines(self._read(["zfs", "list", "-H", "-t", "filesystem,volume", "-o", "name,origin"])):
            words = line.split("\t")
            if len(words) == 2 and words[1].startswith(name + "@"):
                found.append("%s (clone of %s)" % (words[0], words[1]))
        return found

    def device_signature(self, device):
        """What ``blkid -p`` finds on ``device`` (``TYPE=zfs_member``, ``PTTYPE=gpt``, ...); None: nothing."""
        rc, out, err = self.run(["blkid", "-p", "-o", "export", device])
        if rc == 2:  # blkid(8): 2 = nothing found
            return None
        if rc != 0:
            raise ZfsError("blkid -p %s failed (rc %d): %s" % (device, rc, (err or out or "").strip()))
        found = [line for line in _lines(out) if line.split("=", 1)[0] in ("TYPE", "PTTYPE")]
        return ", ".join(found) or None


def _opts(flag, properties):
    argv = []
    for key, value in sorted(properties.items()):
        argv.extend([flag, "%s=%s" % (key, value)])
    return argv


def plan_pools(zfs, pools):
    """[argv] of the pools to create; ZfsError on a device that holds data."""
    existing = zfs.pools() if pools else set()
    result = []
    for pool in pools:
        if pool["name"] in existing:
            continue
        force = set(pool.get("force") or [])
        for device in pool["devices"]:
            signature = zfs.device_signature(device)
            if signature and device not in force:
                raise ZfsError("pool %s: device %s holds %s; name it in force to overwrite it"
                               % (pool["name"], device, signature))
        argv = ["zpool", "create"] + (["-f"] if force else [])
        argv += ["-o", "ashift=%d" % pool["ashift"]] + _opts("-o", pool.get("properties") or {})
        argv += _opts("-O", pool.get("filesystem_properties") or {}) + [pool["name"]] + list(pool["vdevs"])
        result.append((pool["name"], argv))
    return result


def create_argv(dataset):
    argv = ["zfs", "create", "-p"]
    props = dict(dataset["properties"])
    creation = dict(dataset.get("creation_properties") or {})
    if dataset["type"] == "volume":
        if dataset.get("sparse"):
            argv.append("-s")
        block = creation.pop("volblocksize", None)
        if block is not None:
            argv += ["-b", str(block)]
        argv += ["-V", str(dataset["size"])]
    props.update(creation)
    return argv + _opts("-o", props) + [dataset["name"]]


def apply(zfs, section):
    """Bring the host to ``section`` (pools, datasets, strict, allow_destroy); the result dict."""
    datasets = section.get("datasets") or []
    result = {"changed": False, "pools_created": [], "created": [], "updated": {}, "destroyed": [],
              "creation_only_drift": [], "commands": zfs.commands,
              "diff": {"before": {}, "after": {}}}
    pool_cmds = plan_pools(zfs, section.get("pools") or [])
    existing = zfs.datasets() if datasets else set()
    steps = []
    refused = []
    for dataset in datasets:
        name = dataset["name"]
        if dataset.get("state") == "absent":
            if name not in existing:
                continue
            if not section.get("allow_destroy"):
                refused.append("%s: state absent needs zfs_storage_allow_destroy: true" % name)
                continue
            dependents = zfs.dependents(name)
            if dependents:
                refused.append("%s: not destroyed, it has dependents: %s" % (name, ", ".join(dependents)))
                continue
            steps.append(("destroy", name, ["zfs", "destroy", name]))
            result["diff"]["before"][name] = "present"
            result["diff"]["after"][name] = "absent"
            continue
        wanted = dict(dataset["properties"])
        if name not in existing:
            steps.append(("create", name, create_argv(dataset)))
            result["diff"]["before"][name] = "absent"
            after = dict(wanted, **(dataset.get("creation_properties") or {}))
            if dataset["type"] == "volume":
                after["volsize"] = str(dataset["size"])
            result["diff"]["after"][name] = after
            continue
        current = zfs.properties(name)
        kind = current.get("type", (None,))[0]
        if kind != dataset["type"]:
            refused.append("%s exists as a %s, not a %s" % (name, kind, dataset["type"]))
            continue
        if dataset["type"] == "volume" and dataset.get("size") is not None:
            have = current.get("volsize", (None,))[0]
            if have is not None and int(have) > dataset["size"]:
                refused.append("%s: volsize %s is larger than the wanted %d; a zvol is never shrunk (the guest's "
                               "disk would lose its end)" % (name, have, dataset["size"]))
                continue
            wanted["volsize"] = str(dataset["size"])
        changes = dict((key, value) for key, value in sorted(wanted.items())
                       if current.get(key, (None,))[0] != value)
        for key, value in sorted((dataset.get("creation_properties") or {}).items()):
            have = current.get(key, (None,))[0]
            if have != value:
                result["creation_only_drift"].append({"dataset": name, "property": key, "current": have,
                                                      "wanted": value})
        if changes:
            steps.append(("set", name, ["zfs", "set"] + ["%s=%s" % item for item in sorted(changes.items())] + [name]))
            result["updated"][name] = dict((key, [current.get(key, (None,))[0], value])
                                           for key, value in changes.items())
            result["diff"]["before"][name] = dict((key, current.get(key, (None,))[0]) for key in changes)
            result["diff"]["after"][name] = changes
    if section.get("strict") and result["creation_only_drift"]:
        refused.extend("%s: creation-only property %s is %s, the plan wants %s (zfs_storage_strict; recreate the "
                       "dataset to change it)" % (d["dataset"], d["property"], d["current"], d["wanted"])
                       for d in result["creation_only_drift"])
    if refused:
        raise ZfsError("; ".join(refused))
    for name, argv in pool_cmds:
        zfs.change(argv)
        result["pools_created"].append(name)
    for action, name, argv in steps:
        zfs.change(argv)
        if action == "create":
            result["created"].append(name)
        elif action == "destroy":
            result["destroyed"].append(name)
    result["changed"] = bool(zfs.commands)
    return result

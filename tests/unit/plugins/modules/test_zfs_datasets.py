# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zfs_datasets against a fake zfs/zpool/blkid that keeps its datasets in a dict."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.module_utils import basic

from ansible_collections.kvmops.hypervisor.plugins.modules import zfs_datasets
from module_runner import run_module

UNITS = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
DEFAULTS = {"compression": "on", "sync": "standard", "logbias": "latency", "primarycache": "all",
            "atime": "on", "recordsize": "131072", "volmode": "default", "volblocksize": "16384"}
CREATION_ONLY = ("volblocksize", "encryption", "casesensitivity", "normalization", "utf8only")


def to_bytes(text):
    """What zfs(8) does with a size argument (the oracle's own parser)."""
    if text[-1] in UNITS:
        return str(int(text[:-1]) * UNITS[text[-1]])
    return text


class FakeZfs(object):
    """The test oracle: pools, datasets {name: {property: value}}, snapshots, blkid labels."""

    def __init__(self, pools=("tank",), datasets=None, labels=None):
        self.pools = list(pools)
        self.datasets = dict((name, dict(props)) for name, props in (datasets or {}).items())
        for pool in self.pools:
            self.datasets.setdefault(pool, {"type": "filesystem"})
        self.snapshots = []
        self.origins = {}
        self.labels = dict(labels or {})
        self.calls = []
        self.changes = []

    def get(self, name, prop):
        props = self.datasets[name]
        if prop in props:
            return props[prop], "local"
        return DEFAULTS.get(prop, "-"), "default"

    def __call__(self, argv):
        self.calls.append(list(argv))
        tool, args = argv[0].rsplit("/", 1)[-1], argv[1:]
        if tool == "zpool" and args[0] == "list":
            return 0, "".join(p + "\n" for p in self.pools), ""
        if tool == "zpool" and args[0] == "create":
            self.changes.append(argv)
            words = [a for a in args[1:] if a != "-f"]
            while words[0] in ("-o", "-O"):
                words = words[2:]
            self.pools.append(words[0])
            self.datasets[words[0]] = {"type": "filesystem"}
            return 0, "", ""
        if tool == "blkid":
            label = self.labels.get(args[-1])
            return (0, label + "\n", "") if label else (2, "", "")
        if tool != "zfs":
            return 127, "", "unknown tool"
        verb = args[0]
        if verb == "list" and "-r" in args:
            name = args[-1]
            found = [n for n in sorted(self.datasets) if n == name or n.startswith(name + "/")]
            found += [s for s in self.snapshots if s.startswith(name + "@")]
            return 0, "".join(n + "\n" for n in found), ""
        if verb == "list" and "name,origin" in args:
            return 0, "".join("%s\t%s\n" % (n, self.origins.get(n, "-")) for n in sorted(self.datasets)), ""
        if verb == "list":
            return 0, "".join(n + "\n" for n in sorted(self.datasets)), ""
        if verb == "get":
            name = args[-1]
            if name not in self.datasets:
                return 1, "", "cannot open '%s': dataset does not exist" % name
            props = set(DEFAULTS) | set(self.datasets[name])
            return 0, "".join("%s\t%s\t%s\t%s\n" % ((name, p) + self.get(name, p)) for p in sorted(props)), ""
        if verb == "set":
            self.changes.append(argv)
            name = args[-1]
            for pair in args[1:-1]:
                key, value = pair.split("=", 1)
                if key in CREATION_ONLY:
                    return 1, "", "cannot set property for '%s': '%s' is readonly" % (name, key)
                self.datasets[name][key] = to_bytes(value) if key in ("volsize", "recordsize") else value
            return 0, "", ""
        if verb == "create":
            self.changes.append(argv)
            name = args[-1]
            props = {"type": "filesystem"}
            words = args[1:-1]
            i = 0
            while i < len(words):
                if words[i] in ("-p", "-s"):
                    i += 1
                    continue
                if words[i] == "-V":
                    props["type"] = "volume"
                    props["volsize"] = to_bytes(words[i + 1])
                elif words[i] == "-b":
                    props["volblocksize"] = to_bytes(words[i + 1])
                elif words[i] == "-o":
                    key, value = words[i + 1].split("=", 1)
                    props[key] = value
                i += 2
            self.datasets[name] = props
            return 0, "", ""
        if verb == "destroy":
            self.changes.append(argv)
            del self.datasets[args[-1]]
            return 0, "", ""
        return 1, "", "unsupported"


@pytest.fixture
def fake(monkeypatch):
    state = {"zfs": FakeZfs()}

    def run_command(self, argv, **kwargs):
        return state["zfs"](argv)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/sbin/" + name)
    return state


def zvol(name="tank/vm/disk0", size=10737418240, block="16384", **props):
    wanted = {"compression": "lz4", "logbias": "latency", "primarycache": "all", "sync": "standard", "volmode": "dev"}
    wanted.update(props)
    return {"name": name, "type": "volume", "state": "present", "size": size, "sparse": False,
            "properties": wanted, "creation_properties": {"volblocksize": block}}


def guests_fs():
    return {"name": "tank/vm", "type": "filesystem", "state": "present", "size": None, "sparse": False,
            "properties": {"atime": "off", "compression": "lz4", "recordsize": "65536"}, "creation_properties": {}}


def run(monkeypatch, args, check_mode=False):
    return run_module(monkeypatch, zfs_datasets.main, args, check_mode=check_mode)


def test_creates_missing_filesystem_and_zvol_with_creation_properties(monkeypatch, fake):
    result = run(monkeypatch, {"datasets": [guests_fs(), zvol()]})
    assert not result.failed and result.result["changed"] is True
    assert result.result["created"] == ["tank/vm", "tank/vm/disk0"]
    disk = fake["zfs"].datasets["tank/vm/disk0"]
    assert disk == {"type": "volume", "volsize": "10737418240", "volblocksize": "16384", "compression": "lz4",
                    "logbias": "latency", "primarycache": "all", "sync": "standard", "volmode": "dev"}
    assert fake["zfs"].datasets["tank/vm"]["recordsize"] == "65536"


def test_second_run_changes_nothing(monkeypatch, fake):
    run(monkeypatch, {"datasets": [guests_fs(), zvol()]})
    before = len(fake["zfs"].changes)
    result = run(monkeypatch, {"datasets": [guests_fs(), zvol()]})
    assert result.result["changed"] is False and len(fake["zfs"].changes) == before
    assert result.result["creation_only_drift"] == []


def test_sizes_compared_in_bytes(monkeypatch, fake):
    # the host shows bytes; the plan gives bytes: 10G is no difference (community.general.zfs #4699)
    fake["zfs"] = FakeZfs(datasets={"tank/vm/disk0": dict(type="volume", volsize="10737418240", volblocksize="16384",
                                                          compression="lz4", volmode="dev")})
    result = run(monkeypatch, {"datasets": [zvol()]})
    assert result.result["changed"] is False


def test_sets_only_the_differing_property(monkeypatch, fake):
    run(monkeypatch, {"datasets": [zvol()]})
    fake["zfs"].datasets["tank/vm/disk0"]["compression"] = "off"
    result = run(monkeypatch, {"datasets": [zvol()]})
    assert result.result["updated"] == {"tank/vm/disk0": {"compression": ["off", "lz4"]}}
    assert fake["zfs"].changes[-1] == ["/usr/sbin/zfs", "set", "compression=lz4", "tank/vm/disk0"]


def test_creation_only_drift_is_reported_not_changed(monkeypatch, fake):
    fake["zfs"] = FakeZfs(datasets={"tank/vm/disk0": dict(type="volume", volsize="10737418240", volblocksize="8192")})
    result = run(monkeypatch, {"datasets": [zvol()]})
    assert not result.failed
    assert result.result["creation_only_drift"] == [{"dataset": "tank/vm/disk0", "property": "volblocksize",
                                                     "current": "8192", "wanted": "16384"}]
    assert fake["zfs"].datasets["tank/vm/disk0"]["volblocksize"] == "8192"
    assert not any("volblocksize" in " ".join(c) for c in fake["zfs"].changes)


def test_creation_only_drift_fails_when_strict_and_changes_nothing(monkeypatch, fake):
    fake["zfs"] = FakeZfs(datasets={"tank/vm/disk0": dict(type="volume", volsize="10737418240", volblocksize="8192",
                                                          compression="off")})
    result = run(monkeypatch, {"datasets": [zvol()], "strict": True})
    assert result.failed and "creation-only property volblocksize is 8192" in result.result["msg"]
    assert fake["zfs"].changes == []


def test_check_mode_writes_nothing_and_predicts(monkeypatch, fake):
    result = run(monkeypatch, {"datasets": [guests_fs(), zvol()]}, check_mode=True)
    assert result.result["changed"] is True and result.result["created"] == ["tank/vm", "tank/vm/disk0"]
    assert fake["zfs"].changes == [] and set(fake["zfs"].datasets) == {"tank"}
    assert result.result["commands"][1] == ("zfs create -p -b 16384 -V 10737418240 -o compression=lz4 "
                                            "-o logbias=latency -o primarycache=all -o sync=standard "
                                            "-o volmode=dev tank/vm/disk0")


def test_diff_before_after(monkeypatch, fake):
    run(monkeypatch, {"datasets": [zvol()]})
    fake["zfs"].datasets["tank/vm/disk0"]["sync"] = "disabled"
    result = run(monkeypatch, {"datasets": [zvol()]})
    assert result.result["diff"] == {"before_header": "zfs (before)", "after_header": "zfs (after)",
                                     "before": {"tank/vm/disk0": {"sync": "disabled"}},
                                     "after": {"tank/vm/disk0": {"sync": "standard"}}}


def test_sparse_zvol(monkeypatch, fake):
    result = run(monkeypatch, {"datasets": [dict(zvol(), sparse=True)]}, check_mode=True)
    assert result.result["commands"][0].startswith("zfs create -p -s -b 16384 -V 10737418240 ")


def test_zvol_grows_never_shrinks(monkeypatch, fake):
    run(monkeypatch, {"datasets": [zvol()]})
    result = run(monkeypatch, {"datasets": [zvol(size=2 * 10737418240)]})
    assert result.result["updated"] == {"tank/vm/disk0": {"volsize": ["10737418240", "21474836480"]}}
    result = run(monkeypatch, {"datasets": [zvol()]})
    assert result.failed and "never shrunk" in result.result["msg"]
    assert fake["zfs"].datasets["tank/vm/disk0"]["volsize"] == "21474836480"


def test_type_mismatch_refused(monkeypatch, fake):
    fake["zfs"] = FakeZfs(datasets={"tank/vm/disk0": {"type": "filesystem"}})
    result = run(monkeypatch, {"datasets": [zvol()]})
    assert result.failed and "exists as a filesystem, not a volume" in result.result["msg"]


def absent(name="tank/vm/disk0"):
    return {"name": name, "type": "volume", "state": "absent", "size": None, "sparse": False,
            "properties": {}, "creation_properties": {}}


def test_absent_needs_allow_destroy(monkeypatch, fake):
    run(monkeypatch, {"datasets": [zvol()]})
    result = run(monkeypatch, {"datasets": [absent()]})
    assert result.failed and "allow_destroy" in result.result["msg"]
    assert "tank/vm/disk0" in fake["zfs"].datasets


def test_absent_with_allow_destroy(monkeypatch, fake):
    run(monkeypatch, {"datasets": [zvol()]})
    result = run(monkeypatch, {"datasets": [absent()], "allow_destroy": True})
    assert result.result["destroyed"] == ["tank/vm/disk0"] and "tank/vm/disk0" not in fake["zfs"].datasets
    result = run(monkeypatch, {"datasets": [absent()], "allow_destroy": True})
    assert result.result["changed"] is False


def test_absent_refused_with_snapshots_or_clones(monkeypatch, fake):
    run(monkeypatch, {"datasets": [zvol()]})
    fake["zfs"].snapshots.append("tank/vm/disk0@base")
    result = run(monkeypatch, {"datasets": [absent()], "allow_destroy": True})
    assert result.failed and "tank/vm/disk0@base" in result.result["msg"]
    fake["zfs"].snapshots = []
    fake["zfs"].datasets["tank/vm/disk1"] = {"type": "volume"}
    fake["zfs"].origins["tank/vm/disk1"] = "tank/vm/disk0@base"
    result = run(monkeypatch, {"datasets": [absent()], "allow_destroy": True})
    assert result.failed and "tank/vm/disk1 (clone of tank/vm/disk0@base)" in result.result["msg"]
    assert "tank/vm/disk0" in fake["zfs"].datasets


SCRATCH = "/dev/disk/by-id/virtio-kvmops-scratch"


def pool(force=()):
    return {"name": "guests", "vdevs": [SCRATCH], "devices": [SCRATCH], "ashift": 12, "properties": {},
            "filesystem_properties": {"compression": "lz4"}, "force": list(force)}


def test_pool_created_when_absent_then_left_alone(monkeypatch, fake):
    result = run(monkeypatch, {"pools": [pool()], "datasets": [zvol(name="guests/disk0")]})
    assert result.result["pools_created"] == ["guests"] and result.result["created"] == ["guests/disk0"]
    assert fake["zfs"].changes[0] == ["/usr/sbin/zpool", "create", "-o", "ashift=12", "-O", "compression=lz4",
                                      "guests", SCRATCH]
    result = run(monkeypatch, {"pools": [pool()], "datasets": [zvol(name="guests/disk0")]})
    assert result.result["changed"] is False


def test_pool_device_with_a_label_refused_unless_forced(monkeypatch, fake):
    fake["zfs"].labels[SCRATCH] = "TYPE=ext4"
    result = run(monkeypatch, {"pools": [pool()], "datasets": [zvol(name="guests/disk0")]})
    assert result.failed and "holds TYPE=ext4" in result.result["msg"] and fake["zfs"].changes == []
    result = run(monkeypatch, {"pools": [pool(force=[SCRATCH])]})
    assert fake["zfs"].changes[0][:3] == ["/usr/sbin/zpool", "create", "-f"]


def test_check_mode_creates_no_pool(monkeypatch, fake):
    result = run(monkeypatch, {"pools": [pool()]}, check_mode=True)
    assert result.result["pools_created"] == ["guests"] and fake["zfs"].changes == []

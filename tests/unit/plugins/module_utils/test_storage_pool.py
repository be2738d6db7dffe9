# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""apply/storage_pool.py against a fake libvirt connection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import storage_pool as _pool

WANTED_XML = ("<pool type='zfs'>\n  <name>guests-zfs</name>\n  <source>\n    <name>kvmlab/guests</name>\n"
              "  </source>\n</pool>\n")
WANTED = {"name": "guests-zfs", "dataset": "kvmlab/guests", "autostart": True, "xml": WANTED_XML,
          "volumes": ["disk0", "disk1"], "absent_volumes": [], "variable": "zfs_storage_libvirt_pools[0]"}
# what `virsh pool-dumpxml --inactive` gives back: uuid, sizes and the target added
STORED = """<pool type="zfs">
  <name>guests-zfs</name>
  <uuid>0c6f8a1e-3a2b-4d6e-9b0c-2f1e5d7a9b33</uuid>
  <capacity unit="bytes">0</capacity>
  <allocation unit="bytes">0</allocation>
  <available unit="bytes">0</available>
  <source>
    <name>kvmlab/guests</name>
  </source>
  <target>
    <path>/dev/zvol/kvmlab/guests</path>
  </target>
</pool>
"""
CAPS = """<storagepoolCapabilities>
  <pool type='dir' supported='yes'/>
  <pool type='zfs' supported='%s'/>
</storagepoolCapabilities>"""


class NotFound(Exception):
    pass


class FakePool(object):
    def __init__(self, xml, active=False, autostart=False, volumes=(), zvols=()):
        self.xml, self.active, self.auto = xml, active, autostart
        self.volumes = list(volumes)   # what libvirt lists now
        self.zvols = list(zvols)       # what zfs list -r would show (listed at start/refresh)
        self.calls = []

    def XMLDesc(self, flags):  # noqa: N802  (libvirt-python's names)
        assert flags == 1, "the persistent definition is compared (VIR_STORAGE_XML_INACTIVE)"
        return self.xml

    def isActive(self):  # noqa: N802
        return 1 if self.active else 0

    def create(self, flags):
        self.calls.append("create")
        self.active = True
        self.volumes = list(self.zvols)

    def autostart(self):
        return 1 if self.auto else 0

    def setAutostart(self, flag):  # noqa: N802
        self.calls.append("autostart=%d" % flag)
        self.auto = bool(flag)

    def listVolumes(self):  # noqa: N802
        return list(self.volumes)

    def refresh(self, flags):
        self.calls.append("refresh")
        self.volumes = list(self.zvols)


class FakeConn(object):
    def __init__(self, pools=None, zfs="yes", zvols=("disk0", "disk1"), define_error=None):
        self.pools = dict(pools or {})
        self.defined = []
        self.zfs, self.zvols, self.define_error = zfs, list(zvols), define_error

    def getStoragePoolCapabilities(self, flags):  # noqa: N802
        return CAPS % self.zfs

    def storagePoolLookupByName(self, name):  # noqa: N802
        if name not in self.pools:
            raise NotFound(name)
        return self.pools[name]

    def storagePoolDefineXML(self, xml, flags):  # noqa: N802
        if self.define_error:
            raise RuntimeError(self.define_error)
        self.defined.append(xml)
        name = xml.split("<name>")[1].split("</name>")[0]
        old = self.pools.get(name)
        self.pools[name] = FakePool(xml, old.active if old else False, old.auto if old else False,
                                    old.volumes if old else (), self.zvols)
        return self.pools[name]


def missing(exc):
    return isinstance(exc, NotFound)


def run(conn, pools=None, check_mode=False):
    return _pool.apply(conn, [WANTED] if pools is None else pools, check_mode=check_mode, missing=missing)


def test_source_reads_type_and_dataset():
    assert _pool.source(STORED) == ("zfs", "kvmlab/guests")
    assert _pool.same(STORED, WANTED_XML)
    assert not _pool.same(STORED.replace("kvmlab/guests</name>", "kvmlab/other</name>"), WANTED_XML)


def test_missing_pool_defined_started_autostarted():
    conn = FakeConn()
    report = run(conn)
    assert report["changed"] is True and conn.defined == [WANTED_XML]
    assert conn.pools["guests-zfs"].calls == ["create", "autostart=1"]
    assert report["pools"] == [{"name": "guests-zfs", "defined": True, "started": True, "autostart": True,
                                "refreshed": False, "pending": False}]
    assert report["diff"] == [{"before_header": "libvirt storage pool guests-zfs",
                               "after_header": "libvirt storage pool guests-zfs",
                               "before": "(not defined)\n",
                               "after": "type: zfs\nsource: kvmlab/guests\nactive: yes\nautostart: yes\n"
                                        "volumes: disk0 disk1\n"}]


def test_same_pool_running_with_its_zvols_changes_nothing():
    pool = FakePool(STORED, active=True, autostart=True, volumes=["disk0", "disk1", "handmade"])
    conn = FakeConn({"guests-zfs": pool})
    report = run(conn)
    assert report["changed"] is False and report["diff"] == [] and conn.defined == [] and pool.calls == []


def test_running_pool_missing_a_new_zvol_is_refreshed():
    pool = FakePool(STORED, active=True, autostart=True, volumes=["disk0"], zvols=["disk0", "disk1"])
    conn = FakeConn({"guests-zfs": pool})
    report = run(conn)
    assert report["changed"] is True and report["pools"][0]["refreshed"] is True
    assert pool.calls == ["refresh"] and pool.volumes == ["disk0", "disk1"]
    assert report["diff"][0]["before"].endswith("volumes: disk0\n")
    assert report["diff"][0]["after"].endswith("volumes: disk0 disk1\n")
    # the second run: listed now, nothing to do
    assert run(conn)["changed"] is False


def test_running_pool_still_listing_a_destroyed_zvol_is_refreshed():
    pool = FakePool(STORED, active=True, autostart=True, volumes=["disk0", "disk1", "old"], zvols=["disk0", "disk1"])
    report = run(FakeConn({"guests-zfs": pool}), [dict(WANTED, absent_volumes=["old"])])
    assert report["pools"][0]["refreshed"] is True and pool.calls == ["refresh"]


def test_inactive_pool_started_not_refreshed():
    pool = FakePool(STORED, active=False, autostart=True, zvols=["disk0", "disk1"])
    report = run(FakeConn({"guests-zfs": pool}))
    assert pool.calls == ["create"] and report["pools"][0]["started"] is True
    assert report["pools"][0]["refreshed"] is False


def test_autostart_off_when_planned_off():
    pool = FakePool(STORED, active=True, autostart=True, volumes=["disk0", "disk1"])
    report = run(FakeConn({"guests-zfs": pool}), [dict(WANTED, autostart=False)])
    assert pool.calls == ["autostart=0"] and report["pools"][0]["autostart"] is True


def test_other_source_redefined_pending_while_active():
    other = STORED.replace("kvmlab/guests</name>", "kvmlab/old</name>")
    pool = FakePool(other, active=True, autostart=True, volumes=["x"])
    conn = FakeConn({"guests-zfs": pool})
    report = run(conn)
    assert conn.defined == [WANTED_XML]
    assert report["pools"][0]["pending"] is True and report["pools"][0]["refreshed"] is False
    assert "source: kvmlab/old" in report["diff"][0]["before"]


def test_check_mode_predicts_and_calls_nothing():
    conn = FakeConn()
    report = run(conn, check_mode=True)
    assert report["pools"] == [{"name": "guests-zfs", "defined": True, "started": True, "autostart": True,
                                "refreshed": False, "pending": False}]
    assert conn.defined == [] and conn.pools == {}


def test_check_mode_predicts_a_refresh_without_doing_it():
    pool = FakePool(STORED, active=True, autostart=True, volumes=["disk0"], zvols=["disk0", "disk1"])
    report = run(FakeConn({"guests-zfs": pool}), check_mode=True)
    assert report["pools"][0]["refreshed"] is True and pool.calls == [] and report["changed"] is True


def test_no_zfs_backend_fails_naming_the_variable():
    conn = FakeConn(zfs="no")
    with pytest.raises(_pool.PoolError) as info:
        run(conn)
    assert str(info.value).startswith("zfs_storage_libvirt_pools[0] (guests-zfs): libvirt on this host has no zfs "
                                      "storage backend (Debian: install libvirt-daemon-driver-storage-zfs")
    assert conn.defined == []


def test_no_zfs_backend_seen_in_the_define_error():
    # a libvirt without the capabilities API: the define's error says it
    conn = FakeConn(define_error="internal error: missing backend for pool type 11 (zfs)")
    conn.getStoragePoolCapabilities = None
    with pytest.raises(_pool.PoolError) as info:
        run(conn)
    assert "no zfs storage backend" in str(info.value) and "missing backend for pool type 11" in str(info.value)
    assert str(info.value).startswith("zfs_storage_libvirt_pools[0] (guests-zfs): ")


def test_other_define_error_names_the_variable():
    conn = FakeConn(define_error="operation failed: Storage source conflict with pool: 'mine'")
    with pytest.raises(_pool.PoolError) as info:
        run(conn)
    assert str(info.value) == ("zfs_storage_libvirt_pools[0] (guests-zfs): libvirt refused the pool: operation "
                               "failed: Storage source conflict with pool: 'mine'")


def test_lookup_failure_that_is_not_a_missing_pool_is_raised():
    class Broken(FakeConn):
        def storagePoolLookupByName(self, name):  # noqa: N802
            raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError):
        run(Broken())


def test_capabilities_support():
    assert _pool.zfs_supported(FakeConn(zfs="yes")) is True
    assert _pool.zfs_supported(FakeConn(zfs="no")) is False

    class Old(object):
        pass

    assert _pool.zfs_supported(Old()) is None

"""libvirt_storage_pool: the module around apply/storage_pool.py, with libvirt.open giving a
fake connection (tests/unit/plugins/module_utils/test_storage_pool.py has the fakes)."""

import importlib.util
import os

import libvirt

from ansible_collections.kvmops.hypervisor.plugins.modules import libvirt_storage_pool
from module_runner import run_module

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "kvmops_storage_pool_fakes", os.path.join(os.path.dirname(HERE), "module_utils", "test_storage_pool.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)


class NoPool(libvirt.libvirtError):
    """What storagePoolLookupByName raises for a pool that does not exist."""

    def __init__(self, name):
        libvirt.libvirtError.__init__(self, "Storage pool not found: no storage pool with matching name '%s'" % name)

    def get_error_code(self):
        return libvirt.VIR_ERR_NO_STORAGE_POOL


class Conn(fakes.FakeConn):
    def storagePoolLookupByName(self, name):  # noqa: N802
        if name not in self.pools:
            raise NoPool(name)
        return self.pools[name]


def run(monkeypatch, conn, check_mode=False, pools=None, uris=None):
    def open_(uri):
        if uris is not None:
            uris.append(uri)
        return conn

    monkeypatch.setattr(libvirt_storage_pool.libvirt, "open", open_)
    return run_module(monkeypatch, libvirt_storage_pool.main, {"pools": [fakes.WANTED] if pools is None else pools},
                      check_mode=check_mode)


def test_defines_starts_and_is_idempotent(monkeypatch):
    conn, uris = Conn(), []
    first = run(monkeypatch, conn, uris=uris)
    assert not first.failed and first.result["changed"] is True and uris == ["qemu:///system"]
    assert conn.defined == [fakes.WANTED_XML]
    assert first.result["pools"][0]["started"] is True
    assert first.result["diff"][0]["after"].startswith("type: zfs\nsource: kvmlab/guests\nactive: yes\n")
    second = run(monkeypatch, conn)
    assert not second.failed and second.result["changed"] is False and "diff" not in second.result


def test_check_mode_changes_nothing(monkeypatch):
    conn = Conn()
    result = run(monkeypatch, conn, check_mode=True)
    assert result.result["changed"] is True and conn.defined == [] and conn.pools == {}


def test_no_zfs_backend_fails_naming_the_variable(monkeypatch):
    result = run(monkeypatch, Conn(zfs="no"))
    assert result.failed
    assert result.result["msg"].startswith("zfs_storage_libvirt_pools[0] (guests-zfs): libvirt on this host has no "
                                           "zfs storage backend")


def test_no_pools_needs_no_libvirt(monkeypatch):
    def refuse(uri):
        raise AssertionError("no connection without pools")

    monkeypatch.setattr(libvirt_storage_pool.libvirt, "open", refuse)
    result = run_module(monkeypatch, libvirt_storage_pool.main, {"pools": []})
    assert not result.failed and result.result == {"changed": False, "pools": []}


def test_connection_failure_names_the_variable(monkeypatch):
    class Down(libvirt.libvirtError):
        def __init__(self):
            # libvirtError takes the thread's last libvirt error when there is one (an
            # earlier test's test driver leaves one): clear it, as a fresh process has none
            libvirt.virResetLastError()
            libvirt.libvirtError.__init__(self, "Failed to connect socket to '/var/run/libvirt/libvirt-sock'")

    def open_(uri):
        raise Down()

    monkeypatch.setattr(libvirt_storage_pool.libvirt, "open", open_)
    result = run_module(monkeypatch, libvirt_storage_pool.main, {"pools": [fakes.WANTED]})
    assert result.failed and result.result["msg"].startswith(
        "zfs_storage_libvirt_pools[0]: cannot connect to libvirt at qemu:///system: Failed to connect socket")

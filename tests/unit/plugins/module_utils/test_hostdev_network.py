# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""apply/hostdev_network.py against a fake libvirt connection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import hostdev_network as _net
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.sriov_vhost import network_xml

WANTED = {"name": "sriov-pool", "xml": network_xml("sriov-pool", ["0000:01:10.4", "0000:01:10.6"])}
# what `virsh net-dumpxml` gives back: a uuid added, attribute order and hex case its own
STORED = """<network>
  <name>sriov-pool</name>
  <uuid>8b1b2a4e-1d1c-4f0e-9a4e-2f9d8b1d6c11</uuid>
  <forward mode='hostdev' managed='yes'>
    <address type='pci' domain='0x0000' bus='0x01' slot='0x10' function='0x6'/>
    <address type='pci' domain='0x0000' bus='0x01' slot='0x10' function='0x4'/>
  </forward>
</network>
"""


class NotFound(Exception):
    pass


class FakeNetwork(object):
    def __init__(self, xml, active=False, autostart=False):
        self.xml, self.active, self.auto, self.calls = xml, active, autostart, []

    def XMLDesc(self, flags):  # noqa: N802  (libvirt-python's names)
        return self.xml

    def isActive(self):  # noqa: N802
        return self.active

    def create(self):
        self.calls.append("create")
        self.active = True

    def autostart(self):
        return self.auto

    def setAutostart(self, flag):  # noqa: N802
        self.calls.append("autostart")
        self.auto = bool(flag)


class FakeConn(object):
    def __init__(self, networks=None):
        self.networks = dict(networks or {})
        self.defined = []

    def networkLookupByName(self, name):  # noqa: N802
        if name not in self.networks:
            raise NotFound(name)
        return self.networks[name]

    def networkDefineXML(self, xml):  # noqa: N802
        self.defined.append(xml)
        name = xml.split("<name>")[1].split("</name>")[0]
        old = self.networks.get(name)
        self.networks[name] = FakeNetwork(xml, old.active if old else False, old.auto if old else False)
        return self.networks[name]


def test_forward_reads_mode_managed_and_addresses():
    assert _net.forward(STORED) == ("hostdev", "yes", ["0000:01:10.4", "0000:01:10.6"])
    assert _net.same(STORED, WANTED["xml"])


def test_missing_network_defined_started_autostarted():
    conn = FakeConn()
    report = _net.apply(conn, [WANTED], not_found=NotFound)
    assert report["changed"] is True and conn.defined == [WANTED["xml"]]
    assert conn.networks["sriov-pool"].calls == ["create", "autostart"]


def test_same_network_running_changes_nothing():
    conn = FakeConn({"sriov-pool": FakeNetwork(STORED, active=True, autostart=True)})
    assert _net.apply(conn, [WANTED], not_found=NotFound)["changed"] is False
    assert conn.defined == []


def test_other_vfs_redefined_pending_while_active():
    other = STORED.replace("function='0x6'", "function='0x2'")
    conn = FakeConn({"sriov-pool": FakeNetwork(other, active=True, autostart=True)})
    report = _net.apply(conn, [WANTED], not_found=NotFound)
    assert report["changed"] is True and report["networks"][0]["pending"] is True
    assert conn.defined == [WANTED["xml"]]


def test_check_mode_predicts_and_calls_nothing():
    conn = FakeConn()
    report = _net.apply(conn, [WANTED], check_mode=True, not_found=NotFound)
    assert report["networks"] == [{"name": "sriov-pool", "defined": True, "started": True,
                                   "autostart": True, "pending": False}]
    assert conn.defined == [] and conn.networks == {}

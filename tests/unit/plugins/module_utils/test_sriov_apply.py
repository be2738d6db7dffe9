# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""apply/sriov.py: the ip JSON parser, the ip argv builder, and apply() on a fixture tree
whose fake kernel creates VFs on a sriov_numvfs write and binds on drivers_probe."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import sriov as _sriov

from .facts_helpers import Tree

PF = "0000:01:00.0"

# `ip -d -j link show dev enp1s0` of an igb PF with two VFs, in iproute2's print_vfinfo
# shape (vfinfo_list entries: vf, link_type, address, broadcast, vlan_list [{vlan, qos}],
# max_tx_rate, min_tx_rate, spoofchk, link_state, trust, query_rss); shortened.
IP_JSON = json.dumps([{
    "ifindex": 2, "ifname": "enp1s0", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
    "mtu": 1500, "operstate": "UP", "address": "52:54:00:12:34:56", "num_vf": 2,
    "vfinfo_list": [
        {"vf": 0, "link_type": "ether", "address": "52:54:00:00:10:00", "broadcast": "ff:ff:ff:ff:ff:ff",
         "vlan_list": [{"vlan": 100}], "max_tx_rate": 0, "min_tx_rate": 0, "spoofchk": True,
         "link_state": "auto", "trust": False, "query_rss": False},
        {"vf": 1, "link_type": "ether", "address": "00:00:00:00:00:00", "broadcast": "ff:ff:ff:ff:ff:ff",
         "max_tx_rate": 0, "min_tx_rate": 0, "spoofchk": True, "link_state": "auto", "trust": False,
         "query_rss": False},
    ]}])


def test_parse_vfinfo():
    vfs = _sriov.parse_vfinfo(IP_JSON)
    assert vfs[0] == {"mac": "52:54:00:00:10:00", "vlan": 100, "qos": 0, "max_tx_rate": 0, "min_tx_rate": 0,
                      "spoofchk": True, "trust": False, "link_state": "auto"}
    assert vfs[1]["vlan"] == 0 and vfs[1]["mac"] == "00:00:00:00:00:00"
    old = _sriov.parse_vfinfo(json.dumps([{"vfinfo_list": [{"vf": 0, "vlan": 5, "qos": 2, "tx_rate": 10}]}]))
    assert old[0] == {"vlan": 5, "qos": 2, "max_tx_rate": 10}
    with pytest.raises(_sriov.SriovError, match="cannot parse"):
        _sriov.parse_vfinfo("RTNETLINK answers")


def test_differences_and_argv():
    current = _sriov.parse_vfinfo(IP_JSON)
    assert _sriov.differences(current[0], {"mac": "52:54:00:00:10:00", "vlan": 100}) == {}
    diff = _sriov.differences(current[1], {"mac": "52:54:00:00:10:01", "vlan": 0, "spoofchk": False})
    assert diff == {"mac": "52:54:00:00:10:01", "spoofchk": False}
    assert _sriov.ip_argv("enp1s0", 1, diff) == ["ip", "link", "set", "dev", "enp1s0", "vf", "1",
                                                 "mac", "52:54:00:00:10:01", "spoofchk", "off"]
    both = _sriov.differences(current[0], {"vlan": 100, "qos": 3})
    assert _sriov.ip_argv("enp1s0", 0, both)[7:] == ["vlan", "100", "qos", "3"]


@pytest.mark.parametrize("current, wanted, writes", [
    (0, 4, ["4"]), (4, 3, ["0", "3"]), (4, 0, ["0"]), (4, 4, []),
])
def test_numvfs_zero_first_between_non_zero_counts(current, wanted, writes):
    assert _sriov.numvfs_writes(current, wanted) == writes


class FakeKernel(object):
    """Writes into the tree; sriov_numvfs creates or removes VFs, drivers_probe binds by
    driver_override, driver/unbind unbinds (drivers/pci/iov.c, pci-driver.c, in short)."""

    def __init__(self, tree, refuse_busy=True):
        self.tree = tree
        self.log = []
        self.refuse_busy = refuse_busy

    def __call__(self, path, value):
        rel = "/" + os.path.relpath(path, self.tree.root)
        self.log.append((rel, value))
        if rel.endswith("/sriov_numvfs"):
            current = int(open(path).read().strip() or 0)
            if self.refuse_busy and current and int(value):
                raise OSError(16, "Device or resource busy")
            dev = os.path.dirname(rel)
            for index in range(current):
                self.tree.remove("%s/virtfn%d" % (dev, index))
            for index in range(int(value)):
                vf = self.tree.pci_device("0000:02:10.%d" % index, parent="/sys/devices/pci0000:00/0000:00:1c.0")
                self.tree.symlink("%s/virtfn%d" % (dev, index), vf)
        elif rel == "/sys/bus/pci/drivers_probe":
            dev = "/" + os.path.relpath(os.path.realpath(self.tree.path("/sys/bus/pci/devices/%s" % value)),
                                        os.path.realpath(self.tree.root))
            override = open(self.tree.path(dev + "/driver_override")).read().strip()
            self.tree.mkdir("/sys/bus/pci/drivers/%s" % override)
            self.tree.symlink(dev + "/driver", "/sys/bus/pci/drivers/%s" % override)
            return
        elif rel.endswith("/driver/unbind"):
            self.tree.remove("/sys/bus/pci/devices/%s/driver" % value)
            return
        with open(path, "w") as handle:
            handle.write(value)


def fixture(tmp_path, numvfs=0):
    tree = Tree(tmp_path)
    tree.sriov_pf(PF, netdev="enp1s0", totalvfs=7, numvfs=0, driver="igb", vf_driver="igbvf")
    tree.write("/sys/bus/pci/devices/%s/sriov_drivers_autoprobe" % PF, "1")
    kernel = FakeKernel(tree)
    if numvfs:
        kernel(tree.path("/sys/bus/pci/devices/%s/sriov_numvfs" % PF), str(numvfs))
        kernel.log = []
    return tree, kernel


WANTED = [{"address": PF, "numvfs": 2, "autoprobe": False, "vfs": [
    {"index": 0, "driver_override": "vfio-pci", "settings": {"mac": "52:54:00:00:10:00", "vlan": 100}},
    {"index": 1, "driver_override": "igbvf", "settings": {"mac": "52:54:00:00:10:01"}},
]}]


def runner(calls, show=IP_JSON):
    def run(argv):
        calls.append(argv)
        if argv[:3] == ["ip", "-d", "-j"]:
            return 0, show, ""
        return 0, "", ""
    return run


def test_create_bind_and_set_in_order(tmp_path):
    tree, kernel = fixture(tmp_path)
    calls = []
    report = _sriov.apply(WANTED, root=str(tmp_path), writer=kernel, run=runner(calls))
    assert report["changed"] is True
    assert kernel.log[:2] == [("/sys/bus/pci/devices/%s/sriov_drivers_autoprobe" % PF, "0"),
                              ("/sys/bus/pci/devices/%s/sriov_numvfs" % PF, "2")]
    assert ("/sys/bus/pci/devices/0000:02:10.0/driver_override", "vfio-pci") in kernel.log
    assert ("/sys/bus/pci/drivers_probe", "0000:02:10.0") in kernel.log
    assert os.path.basename(os.readlink(tree.path("/sys/bus/pci/devices/0000:02:10.0/driver"))) == "vfio-pci"
    # VF 0 already has its MAC and VLAN; VF 1 gets its MAC
    assert calls[-1] == ["ip", "link", "set", "dev", "enp1s0", "vf", "1", "mac", "52:54:00:00:10:01"]
    assert len([c for c in calls if c[:3] == ["ip", "link", "set"]]) == 1


def test_second_run_changes_nothing(tmp_path):
    tree, kernel = fixture(tmp_path)
    _sriov.apply(WANTED, root=str(tmp_path), writer=kernel, run=runner([]))
    kernel.log = []
    done = json.loads(IP_JSON)
    done[0]["vfinfo_list"][1]["address"] = "52:54:00:00:10:01"
    report = _sriov.apply(WANTED, root=str(tmp_path), writer=kernel, run=runner([], json.dumps(done)))
    assert report["changed"] is False and kernel.log == []


def test_count_change_writes_zero_first(tmp_path):
    tree, kernel = fixture(tmp_path, numvfs=4)
    wanted = [{"address": PF, "numvfs": 3, "autoprobe": None, "vfs": []}]
    _sriov.apply(wanted, root=str(tmp_path), writer=kernel, run=runner([]))
    assert kernel.log == [("/sys/bus/pci/devices/%s/sriov_numvfs" % PF, "0"),
                          ("/sys/bus/pci/devices/%s/sriov_numvfs" % PF, "3")]


def test_count_change_refused_while_a_guest_holds_a_vf(tmp_path):
    tree, kernel = fixture(tmp_path, numvfs=4)
    tree.write("/run/libvirt/qemu/lab-sriov.xml",
               "<domstatus><domain><name>lab-sriov</name><devices><hostdev type='pci'><source>"
               "<address domain='0x0000' bus='0x02' slot='0x10' function='0x1'/></source></hostdev>"
               "</devices></domain></domstatus>")
    wanted = [{"address": PF, "numvfs": 3, "autoprobe": None, "vfs": []}]
    with pytest.raises(_sriov.SriovError, match="running guest lab-sriov holds VF 1"):
        _sriov.apply(wanted, root=str(tmp_path), writer=kernel, run=runner([]))
    assert kernel.log == []


def test_every_pf_checked_before_the_first_write(tmp_path):
    """A count above sriov_totalvfs (the kernel answers EINVAL) or a PF that is gone, on any
    PF of the list, is refused before the first PF is touched."""
    tree, kernel = fixture(tmp_path)
    for second in ({"address": PF, "numvfs": 8, "autoprobe": None, "vfs": []},
                   {"address": "0000:99:00.0", "numvfs": 1, "autoprobe": None, "vfs": []}):
        with pytest.raises(_sriov.SriovError, match=r"^%s: (numvfs 8 is more than the PF offers \(sriov_totalvfs 7\); "
                                                    r"give 0 to 7|no SR-IOV capable PF)" % second["address"]):
            _sriov.apply(WANTED + [second], root=str(tmp_path), writer=kernel, run=runner([]))
        assert kernel.log == []


def test_check_mode_writes_nothing_and_predicts(tmp_path):
    tree, kernel = fixture(tmp_path)
    calls = []
    report = _sriov.apply(WANTED, root=str(tmp_path), check_mode=True, writer=kernel, run=runner(calls))
    assert kernel.log == [] and report["changed"] is True
    writes = report["pfs"][0]["writes"]
    assert writes[:2] == [["/sys/bus/pci/devices/%s/sriov_drivers_autoprobe" % PF, "0"],
                          ["/sys/bus/pci/devices/%s/sriov_numvfs" % PF, "2"]]
    assert ["/sys/bus/pci/devices/%s/virtfn0/driver_override" % PF, "vfio-pci"] in writes
    assert [c for c in calls if c[:3] == ["ip", "link", "set"]] == []
    assert len(report["pfs"][0]["commands"]) == 2


def test_vfio_binding_waits_for_the_iommu(tmp_path):
    tree, kernel = fixture(tmp_path)
    report = _sriov.apply(WANTED, root=str(tmp_path), vfio_ready=False, writer=kernel, run=runner([]))
    assert not any(path.endswith("0000:02:10.0/driver_override") for path, _value in kernel.log)
    assert any("waits for the IOMMU" in w for w in report["warnings"])


def test_a_setting_the_driver_refuses_fails_naming_it(tmp_path):
    tree, kernel = fixture(tmp_path, numvfs=2)

    def run(argv):
        if argv[:3] == ["ip", "-d", "-j"]:
            return 0, IP_JSON, ""
        return 2, "", "RTNETLINK answers: Operation not supported"
    wanted = [{"address": PF, "numvfs": 2, "autoprobe": None,
               "vfs": [{"index": 1, "driver_override": None, "settings": {"link_state": "enable"}}]}]
    with pytest.raises(_sriov.SriovError, match="igb driver refuses link_state for VF 1"):
        _sriov.apply(wanted, root=str(tmp_path), writer=kernel, run=run)


def test_parse_vfinfo_of_the_lab_igb_pf():
    """Captured on the lab host (Debian 12, iproute2 6.1, QEMU igb, 4 VFs set by the lab
    policy): rates come as "rate": {"max_tx", "min_tx"}, not max_tx_rate."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "ip", "igb-pf-4vfs.json")
    with open(path) as handle:
        vfs = _sriov.parse_vfinfo(handle.read())
    assert sorted(vfs) == [0, 1, 2, 3]
    assert vfs[0] == {"mac": "52:54:00:5a:00:00", "vlan": 100, "qos": 0, "max_tx_rate": 0, "min_tx_rate": 0,
                      "spoofchk": True, "trust": False, "link_state": "auto"}
    assert vfs[2]["mac"] == "52:54:00:5a:00:02" and vfs[2]["vlan"] == 0
    assert vfs[3]["mac"] == "00:00:00:00:00:00"

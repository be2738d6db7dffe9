# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sriov_vhost section: every decision and every refusal, on the lab's shape (an igb PF
with 7 VFs at most, intel-iommu with interrupt remapping)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import importlib.util
import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import PlanError, plan

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("kvmops_plan_sriov_helpers", os.path.join(HERE, "test_plan.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)

PF = "0000:01:00.0"
LINK = "/etc/systemd/network/10-kvmops-sriov-0000-01-00.0.link"
RULES = "/etc/udev/rules.d/90-kvmops-sriov.rules"


def vf(index, driver="igbvf", domain=None, vfio_open=False):
    return {"index": index, "address": "0000:02:10.%d" % index,
            "driver": driver, "driver_override": None, "netdev": None, "iommu_group": str(20 + index),
            "domain": domain, "vfio_open": vfio_open}


def host(numvfs=0, vfs=None, remapping=True, iommu=True, vhost=None):
    facts = _helpers.make_facts(sockets=1, cores=2, smt=2)
    facts["iommu"] = {"enabled": iommu, "groups": 30 if iommu else 0, "units": ["dmar0"] if iommu else [],
                      "interrupt_remapping": remapping, "acpi_tables": ["DMAR"]}
    facts["sriov"] = [{"name": "enp1s0", "address": PF, "netdevs": ["enp1s0"], "mac": "52:54:00:12:34:56",
                       "driver": "igb", "totalvfs": 7, "numvfs": numvfs, "autoprobe": True,
                       "vfs": vfs if vfs is not None else [vf(i) for i in range(numvfs)]}]
    facts["vhost"] = vhost or {"vhost_net_loaded": False, "experimental_zcopytx": None,
                               "dev_vhost_net": False, "dev_net_tun": True}
    return facts


LAB_PFS = [{"address": PF, "numvfs": 4, "vfs": [
    {"index": 0, "mac": "52:54:00:00:10:00", "vlan": 100, "driver": "vfio-pci"},
    {"index": 1, "mac": "52:54:00:00:10:01", "driver": "vfio-pci", "spoofchk": True, "trust": False},
    {"index": 2, "mac": "52:54:00:00:10:02", "max_tx_rate": 100},
]}]


def sriov(options=None, facts=None, policy=None):
    return plan(facts or host(), policy or {}, sections={"sriov_vhost": options or {}})["sriov_vhost"]


def body(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_nothing_asked_nothing_written_but_vhost_net():
    result = sriov()
    assert result["kernel_args"] == [] and result["pfs"] == [] and result["sysfs"] == {}
    assert result["files"][LINK] is None  # a PF not in the plan has no .link file of ours
    assert result["files"][RULES] is None
    assert body(result["files"]["/etc/modules-load.d/kvmops-vhost_net.conf"]) == ["vhost_net"]
    assert result["files"]["/etc/modprobe.d/kvmops-vhost_net.conf"] is None
    assert result["vhost"]["load"] is True


def test_lab_policy_link_file_vfs_mac_vlan_and_naming_kept():
    result = sriov({"pfs": LAB_PFS}, host(numvfs=4))
    assert result["kernel_args"] == [["intel_iommu", "on"]]  # a VF for vfio-pci needs the IOMMU
    lines = body(result["files"][LINK])
    assert lines[:2] == ["[Match]", "Path=pci-0000:01:00.0"]
    assert "NamePolicy=keep kernel database onboard slot path" in lines
    assert "MACAddressPolicy=persistent" in lines
    assert "SR-IOVVirtualFunctions=4" in lines
    first = lines.index("VirtualFunction=0")
    assert lines[first - 1:first + 3] == ["[SR-IOV]", "VirtualFunction=0", "MACAddress=52:54:00:00:10:00",
                                          "VLANId=100"]
    second = lines.index("VirtualFunction=1")
    assert lines[second + 1:second + 4] == ["MACAddress=52:54:00:00:10:01", "MACSpoofCheck=yes", "Trust=no"]
    pf = result["pfs"][0]
    assert pf["numvfs"] == 4 and pf["reset_first"] is False and pf["autoprobe"] is False
    # VF 3 is not listed: with autoprobe off it still needs its override to bind to igbvf
    assert [v["driver_override"] for v in pf["vfs"]] == ["vfio-pci", "vfio-pci", "igbvf", "igbvf"]
    assert pf["vfs"][3]["settings"] == {} and pf["vfs"][3]["address"] == "0000:02:10.3"
    assert pf["vfs"][2]["settings"] == {"mac": "52:54:00:00:10:02", "max_tx_rate": 100}
    assert result["sysfs"]["/sys/bus/pci/devices/%s/sriov_numvfs" % PF] == "4"
    assert result["sysfs"]["/sys/bus/pci/devices/%s/sriov_drivers_autoprobe" % PF] == "0"
    assert result["sysfs"]["/sys/bus/pci/devices/%s/virtfn0/driver_override" % PF] == "vfio-pci"
    assert result["vfio_ready"] is True


def test_udev_rules_autoprobe_off_bind_by_address_and_rates():
    result = sriov({"pfs": LAB_PFS}, host(numvfs=4))
    rules = body(result["files"][RULES])
    assert rules[0] == 'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:01:00.0", ATTR{sriov_drivers_autoprobe}="0"'
    assert rules[1].startswith('ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:02:10.0", '
                               'ATTR{driver_override}="vfio-pci", RUN{builtin}+="kmod load vfio-pci"')
    assert "drivers_probe" in rules[1] and "$$d/driver/unbind" in rules[1]
    assert 'KERNEL=="0000:02:10.2", ATTR{driver_override}="igbvf"' in rules[3]
    assert 'KERNEL=="0000:02:10.3", ATTR{driver_override}="igbvf"' in rules[4]
    assert rules[5] == ('ACTION=="add", SUBSYSTEM=="net", KERNELS=="0000:01:00.0", '
                        'RUN+="/sbin/ip link set dev $name vf 2 max_tx_rate 100"')
    assert body(result["files"]["/etc/modules-load.d/kvmops-vfio.conf"]) == ["vfio-pci"]


def test_vf_addresses_unknown_until_the_vfs_exist_are_warned_about():
    result = plan(host(numvfs=0), {}, sections={"sriov_vhost": {"pfs": LAB_PFS}})
    section = result["sriov_vhost"]
    assert [v["address"] for v in section["pfs"][0]["vfs"]] == [None, None, None, None]
    assert "KERNEL==\"0000:02" not in section["files"][RULES]
    assert any("written once the VFs exist" in w for w in result["warnings"])


def test_count_change_between_non_zero_counts_resets_first():
    pf = sriov({"pfs": [{"address": PF, "numvfs": 3}]}, host(numvfs=4))["pfs"][0]
    assert pf["reset_first"] is True and pf["current_numvfs"] == 4


def test_count_change_refused_naming_the_running_guest():
    facts = host(numvfs=4, vfs=[vf(0, "vfio-pci", domain="lab-sriov"), vf(1), vf(2), vf(3)])
    with pytest.raises(PlanError, match="^sriov_vhost_pfs: .*running guest\\(s\\) lab-sriov hold VFs"):
        sriov({"pfs": [{"address": PF, "numvfs": 3}]}, facts)
    facts = host(numvfs=4, vfs=[vf(0, "vfio-pci", vfio_open=True), vf(1), vf(2), vf(3)])
    with pytest.raises(PlanError, match="open through /dev/vfio"):
        sriov({"pfs": [{"address": PF, "numvfs": 3}]}, facts)
    # the same count, a guest holding a VF: nothing to refuse
    facts = host(numvfs=4, vfs=[vf(0, "vfio-pci", domain="lab-sriov"), vf(1), vf(2), vf(3)])
    assert sriov({"pfs": LAB_PFS}, facts)["pfs"][0]["reset_first"] is False


def test_rebinding_a_vf_a_guest_holds_is_refused():
    facts = host(numvfs=4, vfs=[vf(0, "vfio-pci", domain="lab-sriov"), vf(1), vf(2), vf(3)])
    with pytest.raises(PlanError, match="held by the running guest lab-sriov"):
        sriov({"pfs": [{"address": PF, "numvfs": 4, "vfs": [{"index": 0, "driver": "host"}]}]}, facts)


def test_pf_matched_by_mac_or_driver_never_by_name():
    by_mac = sriov({"pfs": [{"mac": "52:54:00:12:34:56", "numvfs": 2}]}, host(numvfs=2))
    assert by_mac["pfs"][0]["address"] == PF
    assert "PermanentMACAddress=52:54:00:12:34:56" in body(by_mac["files"][LINK])
    by_driver = sriov({"pfs": [{"driver": "igb", "numvfs": 2}]}, host(numvfs=2))
    assert "Driver=igb" in body(by_driver["files"][LINK])
    short = sriov({"pfs": [{"address": "01:00.0", "numvfs": 2}]}, host(numvfs=2))
    assert short["pfs"][0]["address"] == PF


@pytest.mark.parametrize("pfs, text", [
    ([{"address": "0000:05:00.0", "numvfs": 2}], "no SR-IOV capable PF matches"),
    ([{"name": "enp1s0", "numvfs": 2}], "unknown key"),
    ([{"numvfs": 2}], "never an interface name"),
    ([{"address": "1:0.0", "numvfs": 2}], "not a PCI address"),
    ([{"address": PF, "numvfs": 8}], "sriov_totalvfs 7"),
    ([{"address": PF, "numvfs": -1}], "0 or more"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 2}]}], "from 0 to 1"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "mac": "52:54:00:00:10"}]}], "not a MAC address"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "mac": "01:54:00:00:10:00"}]}], "multicast"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "vlan": 4095}]}], "1 to 4094"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "vlan": 0, "qos": 3}]}], "qos needs a vlan"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "link_state": "enable"}]}],
     "igb does not support link_state"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "min_tx_rate": 10}]}], "does not support min_tx_rate"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "driver": "igbvf"}]}], "driver must be vfio-pci"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0}, {"index": 0}]}], "given twice"),
    ([{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "mac": "52:54:00:00:10:00"},
                                           {"index": 1, "mac": "52:54:00:00:10:00"}]}], "already"),
    ([{"address": PF, "numvfs": 2}, {"driver": "igb", "numvfs": 1}], "already"),
])
def test_bad_input_refused_naming_the_variable(pfs, text):
    with pytest.raises(PlanError, match="^sriov_vhost_pfs: .*%s" % text):
        sriov({"pfs": pfs}, host(numvfs=2))


def test_vfio_needs_the_iommu_and_interrupt_remapping():
    vfio = [{"address": PF, "numvfs": 1, "vfs": [{"index": 0, "driver": "vfio-pci"}]}]
    with pytest.raises(PlanError, match="^sriov_vhost_iommu: "):
        sriov({"pfs": vfio, "iommu": False}, host(numvfs=1))
    with pytest.raises(PlanError, match="^sriov_vhost_allow_unsafe_interrupts: "):
        sriov({"pfs": vfio}, host(numvfs=1, remapping=False))
    unsafe = sriov({"pfs": vfio, "allow_unsafe_interrupts": True}, host(numvfs=1, remapping=False))
    assert body(unsafe["files"]["/etc/modprobe.d/kvmops-vfio.conf"]) == [
        "options vfio_iommu_type1 allow_unsafe_interrupts=1"]
    assert unsafe["vfio_ready"] is True
    # the IOMMU arguments planned but not booted yet: bind after the reboot
    result = plan(host(numvfs=1, iommu=False), {}, sections={"sriov_vhost": {"pfs": vfio}})
    assert result["sriov_vhost"]["vfio_ready"] is False
    assert result["sriov_vhost"]["kernel_args"] == [["intel_iommu", "on"]]
    assert any("after the reboot" in w for w in result["warnings"])


def test_passthrough_needs_the_iommu():
    with pytest.raises(PlanError, match="^sriov_vhost_iommu_passthrough: "):
        sriov({"iommu": False, "iommu_passthrough": True})


def test_vhost_net_zcopytx_only_when_asked_and_load_time_only():
    result = plan(host(vhost={"vhost_net_loaded": True, "experimental_zcopytx": 0}), {},
                  sections={"sriov_vhost": {"vhost_net_zcopytx": True}})
    section = result["sriov_vhost"]
    assert body(section["files"]["/etc/modprobe.d/kvmops-vhost_net.conf"]) == [
        "options vhost_net experimental_zcopytx=1"]
    assert section["boot_sysfs"] == {"/sys/module/vhost_net/parameters/experimental_zcopytx": "1"}
    assert any("load-time only" in w for w in result["warnings"])
    off = sriov({"vhost_net": False})
    assert off["files"]["/etc/modules-load.d/kvmops-vhost_net.conf"] is None


def test_plan_is_pure():
    facts = host(numvfs=4)
    before = copy.deepcopy(facts)
    assert sriov({"pfs": LAB_PFS}, facts) == sriov({"pfs": copy.deepcopy(LAB_PFS)}, copy.deepcopy(facts))
    assert facts == before


POOL_PFS = [{"driver": "igb", "numvfs": 4, "network": {"name": "sriov-pool", "vfs": [2, 3]}, "vfs": [
    {"index": 0, "mac": "52:54:00:00:10:00", "driver": "vfio-pci"}]}]


def test_hostdev_network_of_vfs_by_address_left_to_libvirt():
    section = sriov({"pfs": POOL_PFS}, host(numvfs=4))
    assert section["networks"] == [{
        "name": "sriov-pool", "pf": PF, "addresses": ["0000:02:10.2", "0000:02:10.3"],
        "xml": "<network>\n  <name>sriov-pool</name>\n  <forward mode='hostdev' managed='yes'>\n"
               "    <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x2'/>\n"
               "    <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x3'/>\n"
               "  </forward>\n</network>\n"}]
    pf = section["pfs"][0]
    # libvirt binds the pool's VFs at guest start: no override of ours, VF 1 stays with the host
    assert [vf["driver_override"] for vf in pf["vfs"]] == ["vfio-pci", "igbvf", None, None]
    assert section["kernel_args"] == [["intel_iommu", "on"]]


def test_hostdev_network_waits_for_the_vf_addresses():
    result = plan(host(numvfs=0), {}, sections={"sriov_vhost": {"pfs": POOL_PFS}})
    assert result["sriov_vhost"]["networks"] == []
    assert any("sriov-pool" in w for w in result["warnings"])


@pytest.mark.parametrize("network, text", [
    ({"name": "sriov pool", "vfs": [2]}, "libvirt network name"),
    ({"name": "pool", "vfs": [4]}, "from 0 to 3"),
    ({"name": "pool", "vfs": []}, "from 0 to 3"),
    ({"name": "pool", "vfs": [0]}, "no settings nor driver"),
    ({"name": "pool", "vfs": [2], "bridge": "x"}, "a mapping of name and vfs"),
])
def test_bad_hostdev_network_refused(network, text):
    with pytest.raises(PlanError, match="^sriov_vhost_pfs: .*%s" % text):
        sriov({"pfs": [dict(POOL_PFS[0], network=network)]}, host(numvfs=4))

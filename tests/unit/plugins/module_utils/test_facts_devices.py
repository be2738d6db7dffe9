"""Device facts: IOMMU groups, SR-IOV functions, vhost-net (NVMe: test_facts_nvme.py)."""

import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import devices as _facts_devices
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Tree


def test_pf_with_eight_vfs(tmp_path):
    tree = Tree(tmp_path)
    vfs = tree.sriov_pf("0000:3b:00.0", netdev="ens1f0", totalvfs=64, numvfs=8,
                        driver="ice", vf_driver="iavf", numa_node=1)
    tree.pci_device("0000:00:1f.0", driver="lpc_ich")  # not SR-IOV capable
    reader = Reader(str(tmp_path))
    functions = _facts_devices.gather_sriov(reader)
    assert len(functions) == 1
    pf = functions[0]
    assert pf["name"] == "ens1f0" and pf["address"] == "0000:3b:00.0" and pf["driver"] == "ice"
    assert pf["numa_node"] == 1 and pf["totalvfs"] == 64 and pf["numvfs"] == 8
    assert [vf["index"] for vf in pf["vfs"]] == list(range(8))
    assert [vf["address"] for vf in pf["vfs"]] == vfs
    assert pf["vfs"][7] == {"index": 7, "address": "0000:3c:00.7", "driver": "iavf",
                            "driver_override": None, "netdev": "ens1f0v7", "iommu_group": None,
                            "domain": None, "vfio_open": False}
    assert pf["mac"] == "00:11:22:33:44:00" and pf["autoprobe"] is None
    assert reader.warnings == []


def test_pf_without_vfs(tmp_path):
    Tree(tmp_path).sriov_pf("0000:3b:00.1", netdev="ens1f1", totalvfs=8, numvfs=0)
    pf = _facts_devices.gather_sriov(Reader(str(tmp_path)))[0]
    assert pf["numvfs"] == 0 and pf["vfs"] == []


def test_iommu_groups(tmp_path):
    tree = Tree(tmp_path)
    tree.pci_device("0000:00:00.0")
    tree.pci_device("0000:00:02.0")
    tree.pci_device("0000:00:02.1")
    tree.iommu_group(0, ["0000:00:00.0"]).iommu_group(12, ["0000:00:02.1", "0000:00:02.0"])
    tree.mkdir("/sys/class/iommu/dmar0")
    iommu = _facts_devices.gather_iommu(Reader(str(tmp_path)))
    assert iommu == {"enabled": True, "units": ["dmar0"], "groups": 2,
                     "group_devices": {"0": ["0000:00:00.0"],
                                       "12": ["0000:00:02.0", "0000:00:02.1"]},
                     "domain_types": ["DMA"], "acpi_tables": [], "interrupt_remapping": None,
                     "allow_unsafe_interrupts": None}


def test_iommu_off(tmp_path):
    iommu = _facts_devices.gather_iommu(Reader(str(tmp_path)))
    assert iommu["enabled"] is False and iommu["groups"] == 0 and iommu["group_devices"] == {}


INTERRUPTS_IR = """           CPU0       CPU1
  0:         20          0   IO-APIC   2-edge      timer
 24:          0          0  IR-PCI-MSI 2097152-edge      eth0
"""
INTERRUPTS_NO_IR = """           CPU0
 24:          0  PCI-MSI 2097152-edge      eth0
"""


def test_interrupt_remapping_from_proc_interrupts():
    assert _facts_devices.interrupt_remapping(INTERRUPTS_IR) is True
    assert _facts_devices.interrupt_remapping(INTERRUPTS_NO_IR) is False
    assert _facts_devices.interrupt_remapping("           CPU0\n NMI: 0 Non-maskable interrupts\n") is None
    assert _facts_devices.interrupt_remapping(None) is None


def test_iommu_acpi_table_and_unsafe_interrupts(tmp_path):
    tree = Tree(tmp_path)
    tree.write("/sys/firmware/acpi/tables/DMAR", b"DMAR")
    tree.write("/proc/interrupts", INTERRUPTS_IR)
    tree.write("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N")
    iommu = _facts_devices.gather_iommu(Reader(str(tmp_path)))
    assert iommu["acpi_tables"] == ["DMAR"] and iommu["interrupt_remapping"] is True
    assert iommu["allow_unsafe_interrupts"] is False


STATUS_XML = """<domstatus state='running' pid='4242'>
  <domain type='kvm' id='3'>
    <name>guest-a</name>
    <devices>
      <hostdev mode='subsystem' type='pci' managed='yes'>
        <source><address domain='0x0000' bus='0x02' slot='0x10' function='0x2'/></source>
      </hostdev>
      <hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/></source></hostdev>
      <interface type='hostdev' managed='yes'>
        <source><address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x4'/></source>
      </interface>
      <interface type='network'><source network='default'/></interface>
    </devices>
  </domain>
</domstatus>
"""


def test_domain_hostdevs_of_a_status_xml():
    assert _facts_devices.domain_hostdevs(STATUS_XML) == ("guest-a", ["0000:02:10.2", "0000:02:10.4"])
    assert _facts_devices.domain_hostdevs("not xml") == (None, [])
    assert _facts_devices.domain_hostdevs(None) == (None, [])


def test_vf_held_by_a_running_guest_and_autoprobe(tmp_path):
    tree = Tree(tmp_path)
    vfs = tree.sriov_pf("0000:01:00.0", netdev="enp1s0", totalvfs=7, numvfs=2, driver="igb",
                        vf_driver="vfio-pci")
    tree.write("/sys/bus/pci/devices/0000:01:00.0/sriov_drivers_autoprobe", "0")
    tree.write("/sys/bus/pci/devices/%s/driver_override" % vfs[1], "vfio-pci")
    tree.write("/sys/bus/pci/devices/%s/driver_override" % vfs[0], "(null)")
    tree.mkdir("/sys/kernel/iommu_groups/17")
    tree.symlink("/sys/bus/pci/devices/%s/iommu_group" % vfs[1], "/sys/kernel/iommu_groups/17")
    tree.write("/dev/vfio/17", "")
    tree.mkdir("/proc/4242/fd")
    os.symlink("/dev/vfio/17", tree.path("/proc/4242/fd/23"))
    tree.write("/run/libvirt/qemu/guest-a.xml", STATUS_XML.replace("0x10' function='0x2'", "0x00' function='0x1'"))
    pf = _facts_devices.gather_sriov(Reader(str(tmp_path)))[0]
    assert pf["autoprobe"] is False and pf["driver"] == "igb"
    first, second = pf["vfs"]
    assert first["driver_override"] is None and first["domain"] is None and first["vfio_open"] is False
    assert second["address"] == vfs[1] == "0000:02:00.1"
    assert second["driver_override"] == "vfio-pci" and second["iommu_group"] == "17"
    assert second["domain"] == "guest-a" and second["vfio_open"] is True


def test_vhost_facts(tmp_path):
    tree = Tree(tmp_path)
    assert _facts_devices.gather_vhost(Reader(str(tmp_path))) == {
        "vhost_net_loaded": False, "experimental_zcopytx": None, "dev_vhost_net": False,
        "dev_net_tun": False, "tun_loaded": False}
    tree.write("/sys/module/vhost_net/parameters/experimental_zcopytx", "0")
    tree.mkdir("/sys/module/tun")
    tree.write("/dev/vhost-net", "").write("/dev/net/tun", "")
    assert _facts_devices.gather_vhost(Reader(str(tmp_path))) == {
        "vhost_net_loaded": True, "experimental_zcopytx": 0, "dev_vhost_net": True,
        "dev_net_tun": True, "tun_loaded": True}

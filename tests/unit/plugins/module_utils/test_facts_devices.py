"""Device facts: IOMMU groups, SR-IOV functions (NVMe: test_facts_nvme.py)."""

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
                            "netdev": "ens1f0v7"}
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
                     "domain_types": ["DMA"]}


def test_iommu_off(tmp_path):
    iommu = _facts_devices.gather_iommu(Reader(str(tmp_path)))
    assert iommu["enabled"] is False and iommu["groups"] == 0 and iommu["group_devices"] == {}

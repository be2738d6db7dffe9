"""Device facts: IOMMU groups, NVMe controllers and queues, SR-IOV functions."""

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import devices as _facts_devices
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Tree


def test_nvme_controller_with_four_queues(tmp_path):
    tree = Tree(tmp_path)
    tree.nvme("nvme0", address="0000:01:00.0", queues=4, numa_node=1, namespaces=2,
              scheduler="[none] mq-deadline kyber", io_poll=1)
    tree.nvme("nvme10", address="0000:02:00.0", queues=1, numa_node=-1, namespaces=0)
    tree.write("/sys/class/nvme/nvme-fabrics", "")  # not a controller
    reader = Reader(str(tmp_path))
    nvme = _facts_devices.gather_nvme(reader)
    assert [ctrl["name"] for ctrl in nvme] == ["nvme0", "nvme10"]
    first = nvme[0]
    assert first["queues"] == 4 and first["numa_node"] == 1 and first["address"] == "0000:01:00.0"
    assert first["model"] == "KVMOPS NVMe" and first["transport"] == "pcie"
    assert [ns["name"] for ns in first["namespaces"]] == ["nvme0n1", "nvme0n2"]
    assert first["namespaces"][0] == {
        "name": "nvme0n1", "size_sectors": 1953525168, "queues": 4, "scheduler": "none",
        "nr_requests": 1023, "io_poll": True, "read_ahead_kb": 128}
    assert nvme[1]["numa_node"] is None and nvme[1]["namespaces"] == [] and nvme[1]["queues"] == 0
    assert reader.warnings == []


def test_nvme_address_from_device_link(tmp_path):
    tree = Tree(tmp_path)
    ctrl = tree.nvme("nvme0", address="0000:05:00.0")
    tree.remove(ctrl + "/address")
    assert _facts_devices.gather_nvme(Reader(str(tmp_path)))[0]["address"] == "0000:05:00.0"


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

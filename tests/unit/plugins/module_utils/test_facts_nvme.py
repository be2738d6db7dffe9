"""NVMe facts (facts/nvme.py): controllers, namespaces with their queue settings and
holders, and the controllers' IRQs. Expected values are written by hand from the trees."""

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import nvme as _facts_nvme
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Tree

NS = "/sys/devices/pci0000:00/0000:01:00.0/nvme/nvme0/nvme0n1"


def lab_tree(tmp_path, **kwargs):
    """The lab's shape: one controller nvme0, serial kvmopslab0, one namespace."""
    tree = Tree(tmp_path)
    tree.nvme("nvme0", address="0000:01:00.0", queues=4, numa_node=0, namespaces=1,
              scheduler="[none] mq-deadline kyber", **kwargs)
    tree.files({
        "/sys/class/nvme/nvme0/serial": "kvmopslab0          ",
        NS + "/queue/rq_affinity": "1", NS + "/queue/nomerges": "0", NS + "/queue/iostats": "1",
        NS + "/wwid": "nvme.1b36-6b766d6f70736c616230-51454d55204e564d65-00000001",
        NS + "/dev": "259:0",
    })
    return tree


def test_nvme_controller_with_four_queues(tmp_path):
    tree = Tree(tmp_path)
    tree.nvme("nvme0", address="0000:01:00.0", queues=4, numa_node=1, namespaces=2,
              scheduler="[none] mq-deadline kyber", io_poll=1)
    tree.nvme("nvme10", address="0000:02:00.0", queues=1, numa_node=-1, namespaces=0)
    tree.write("/sys/class/nvme/nvme-fabrics", "")  # not a controller
    reader = Reader(str(tmp_path))
    nvme = _facts_nvme.gather_nvme(reader)
    assert [ctrl["name"] for ctrl in nvme] == ["nvme0", "nvme10"]
    first = nvme[0]
    assert first["queues"] == 4 and first["numa_node"] == 1 and first["address"] == "0000:01:00.0"
    assert first["model"] == "KVMOPS NVMe" and first["transport"] == "pcie"
    assert [ns["name"] for ns in first["namespaces"]] == ["nvme0n1", "nvme0n2"]
    assert first["namespaces"][0] == {
        "name": "nvme0n1", "blk_mq": True, "paths": [], "size_sectors": 1953525168, "queues": 4, "scheduler": "none",
        "schedulers": ["none", "mq-deadline", "kyber"], "nr_requests": 1023, "io_poll": True,
        "read_ahead_kb": 128, "rq_affinity": None, "nomerges": None, "iostats": None,
        "wwid": None, "partitions": [],
        "holders": {"mounted": [], "dm": [], "zfs": None, "free": True}}
    assert first["irqs"] == [] and first["io_queue_irqs"] == 0
    assert first["module_parameters"] == {"poll_queues": None, "write_queues": None}
    assert nvme[1]["numa_node"] is None and nvme[1]["namespaces"] == [] and nvme[1]["queues"] == 0
    assert reader.warnings == []


def test_nvme_address_from_device_link(tmp_path):
    tree = Tree(tmp_path)
    ctrl = tree.nvme("nvme0", address="0000:05:00.0")
    tree.remove(ctrl + "/address")
    assert _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]["address"] == "0000:05:00.0"


def test_lab_namespace_settings_serial_wwid_and_module_parameters(tmp_path):
    tree = lab_tree(tmp_path)
    tree.files({"/sys/module/nvme/parameters/poll_queues": "2",
                "/sys/module/nvme/parameters/write_queues": "0"})
    ctrl = _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]
    assert ctrl["serial"] == "kvmopslab0" and ctrl["firmware"] == "1.0"
    assert ctrl["module_parameters"] == {"poll_queues": 2, "write_queues": 0}
    ns = ctrl["namespaces"][0]
    assert (ns["rq_affinity"], ns["nomerges"], ns["iostats"]) == (1, 0, 1)
    assert ns["wwid"] == "nvme.1b36-6b766d6f70736c616230-51454d55204e564d65-00000001"


def test_wwid_from_device_when_the_disk_has_none(tmp_path):
    tree = lab_tree(tmp_path)
    tree.remove(NS + "/wwid")
    tree.write(NS + "/device/wwid", "eui.0011223344556677")
    ns = _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]["namespaces"][0]
    assert ns["wwid"] == "eui.0011223344556677"


def test_hidden_multipath_paths_are_skipped_and_the_head_is_the_namespace(tmp_path):
    tree = Tree(tmp_path)
    ctrl = tree.nvme("nvme0", namespaces=0)
    # native multipath: the controller holds the hidden path nvme0c0n1; the head nvme0n1
    # hangs under the subsystem
    tree.write(ctrl + "/nvme0c0n1/queue/scheduler", "[none]")
    head = "/sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1"
    tree.files({head + "/queue/scheduler": "[none] mq-deadline", head + "/queue/nr_requests": "1023"})
    tree.symlink("/sys/block/nvme0n1", head)
    tree.symlink("/sys/class/nvme-subsystem/nvme-subsys0", "/sys/devices/virtual/nvme-subsystem/nvme-subsys0")
    tree.symlink("/sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0", ctrl)
    namespaces = _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]["namespaces"]
    assert [ns["name"] for ns in namespaces] == ["nvme0n1"]
    assert namespaces[0]["schedulers"] == ["none", "mq-deadline"] and namespaces[0]["nr_requests"] == 1023


def test_multipath_head_of_linux_6_10_is_bio_based_and_names_its_paths(tmp_path):
    # Debian 13's 6.12 on the lab: the head's queue/ has read_ahead_kb, nomerges, iostats but
    # no scheduler, nr_requests, rq_affinity (blk_mq_queue_attr_visible); its path is the
    # hidden disk nvme0c0n1 in /sys/block (nvme1c0n1 is another subsystem's, nvme0c0n2
    # another namespace's)
    tree = Tree(tmp_path)
    ctrl = tree.nvme("nvme0", namespaces=0)
    tree.write(ctrl + "/nvme0c0n1/queue/scheduler", "[none] mq-deadline")
    head = "/sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1"
    tree.files({head + "/queue/read_ahead_kb": "128", head + "/queue/nomerges": "0", head + "/queue/iostats": "1"})
    for other in ("nvme0c0n1", "nvme1c0n1", "nvme0c0n2"):
        tree.symlink("/sys/block/" + other, ctrl + "/nvme0c0n1")
    tree.symlink("/sys/block/nvme0n1", head)
    tree.symlink("/sys/class/nvme-subsystem/nvme-subsys0", "/sys/devices/virtual/nvme-subsystem/nvme-subsys0")
    tree.symlink("/sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0", ctrl)
    namespace = _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]["namespaces"][0]
    assert namespace["blk_mq"] is False and namespace["paths"] == ["nvme0c0n1"]
    assert namespace["scheduler"] is None and namespace["schedulers"] == [] and namespace["rq_affinity"] is None


def test_blk_mq_queue_and_unknown_queue(tmp_path):
    tree = Tree(tmp_path)
    ctrl = tree.nvme("nvme0", namespaces=2)
    tree.remove(ctrl + "/nvme0n2/queue")  # no queue/ at all: the kernel does not say
    namespaces = _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]["namespaces"]
    assert namespaces[0]["blk_mq"] is True and namespaces[0]["paths"] == []
    assert namespaces[1]["blk_mq"] is None


def test_holders_mounted_partition_lvm_and_zfs(tmp_path):
    tree = Tree(tmp_path)
    tree.nvme("nvme0", namespaces=3)
    base = "/sys/devices/pci0000:00/0000:01:00.0/nvme/nvme0/"
    tree.files({
        # nvme0n1: partition 2 mounted at /srv/my data (escaped by the kernel), partition 1 /boot
        base + "nvme0n1/nvme0n1p1/partition": "1", base + "nvme0n1/nvme0n1p2/partition": "2",
        "/proc/self/mounts": ("/dev/nvme0n1p2 /srv/my\\040data ext4 rw 0 0\n"
                              "/dev/nvme0n1p1 /boot vfat rw 0 0\n"
                              "tmpfs /run tmpfs rw 0 0\n"),
        # nvme0n2: an LVM physical volume (dm holder)
        base + "nvme0n2/holders/dm-0": "",
        # nvme0n3: a ZFS vdev on partition 1 (udev database)
        base + "nvme0n3/dev": "259:4", base + "nvme0n3/nvme0n3p1/dev": "259:5",
        "/run/udev/data/b259:4": "E:ID_PART_TABLE_TYPE=gpt\n",
        "/run/udev/data/b259:5": "E:ID_FS_TYPE=zfs_member\nE:ID_FS_LABEL=tank\n",
    })
    namespaces = _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]["namespaces"]
    first, second, third = namespaces
    assert first["partitions"] == ["nvme0n1p1", "nvme0n1p2"]
    assert first["holders"] == {"mounted": ["/boot", "/srv/my data"], "dm": [], "zfs": None, "free": False}
    assert second["holders"] == {"mounted": [], "dm": ["dm-0"], "zfs": None, "free": False}
    assert third["holders"] == {"mounted": [], "dm": [], "zfs": True, "free": False}


def test_udev_database_without_zfs_says_false(tmp_path):
    tree = lab_tree(tmp_path)
    tree.write("/run/udev/data/b259:0", "E:ID_WWN=eui.1\n")
    holders = _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]["namespaces"][0]["holders"]
    assert holders == {"mounted": [], "dm": [], "zfs": False, "free": True}


INTERRUPTS = """\
            CPU0       CPU1       CPU2       CPU3
  24:          0          0          0          0  PCI-MSI-0000:00:02.0    0-edge      virtio0-config
  40:         12          0          0          0  PCI-MSIX-0000:01:00.0   0-edge      nvme0q0
  41:         80          0          0          0  PCI-MSIX-0000:01:00.0   1-edge      nvme0q1
  42:          0         75          0          0  PCI-MSIX-0000:01:00.0   2-edge      nvme0q2
  43:          0          0          9          0  PCI-MSIX-0000:01:00.0   3-edge      nvme0q3
NMI:          0          0          0          0   Non-maskable interrupts
"""


def test_irqs_per_controller_with_affinity_and_managed_flag(tmp_path):
    tree = lab_tree(tmp_path)
    tree.write("/proc/interrupts", INTERRUPTS)
    for irq, effective, mask in ((40, "0", "0-1"), (41, "0", "0"), (42, "1", "1"), (43, "2", "2-3")):
        tree.files({"/proc/irq/%d/effective_affinity_list" % irq: effective,
                    "/proc/irq/%d/smp_affinity_list" % irq: mask})
    reader = Reader(str(tmp_path))
    ctrl = _facts_nvme.gather_nvme(reader)[0]
    assert ctrl["irqs"] == [
        {"irq": 40, "queue": 0, "name": "nvme0q0", "managed": False, "effective_affinity": [0], "smp_affinity": [0, 1]},
        {"irq": 41, "queue": 1, "name": "nvme0q1", "managed": True, "effective_affinity": [0], "smp_affinity": [0]},
        {"irq": 42, "queue": 2, "name": "nvme0q2", "managed": True, "effective_affinity": [1], "smp_affinity": [1]},
        {"irq": 43, "queue": 3, "name": "nvme0q3", "managed": True, "effective_affinity": [2], "smp_affinity": [2, 3]},
    ]
    assert ctrl["io_queue_irqs"] == 3
    assert reader.warnings == []


def test_irq_without_effective_affinity_file_is_null(tmp_path):
    tree = lab_tree(tmp_path)
    tree.write("/proc/interrupts", INTERRUPTS)
    irqs = _facts_nvme.gather_nvme(Reader(str(tmp_path)))[0]["irqs"]
    assert irqs[0]["effective_affinity"] is None and irqs[0]["smp_affinity"] is None

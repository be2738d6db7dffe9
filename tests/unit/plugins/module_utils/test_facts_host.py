"""gather_subset handling, the whole gather, and garbage in every kind of file."""

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import host as _facts_host
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import (
    SUBSET_NAMES,
    SubsetError,
    gather,
    kvm_host_facts,
    resolve_subsets,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Host, Tree

ALL = set(SUBSET_NAMES)


@pytest.mark.parametrize("requested, expected", [
    (None, ALL),
    (["all"], ALL),
    (["cpu"], {"cpu"}),
    (["cpu", "numa"], {"cpu", "numa"}),
    (["!qemu"], ALL - {"qemu"}),
    (["all", "!qemu", "!zfs"], ALL - {"qemu", "zfs"}),
    (["!all", "cpu"], {"cpu"}),
    (["!all"], set()),
    ("cpu,kernel", {"cpu", "kernel"}),
    (["cpu", "!cpu"], set()),
])
def test_resolve_subsets(requested, expected):
    assert resolve_subsets(requested) == expected


@pytest.mark.parametrize("requested", [["cpus"], ["!bogus"], ["all", ""], [3]])
def test_bad_subset_names_the_option(requested):
    with pytest.raises(SubsetError, match="gather_subset"):
        resolve_subsets(requested)


def test_only_requested_parts_are_read(tmp_path):
    Host("1x2x2").build(Tree(tmp_path))
    facts = kvm_host_facts(str(tmp_path), ["numa"])
    assert set(facts) == {"numa", "warnings"}
    facts = kvm_host_facts(str(tmp_path), ["!qemu"])
    assert set(facts) == {"cpu", "numa", "memory", "kernel", "iommu", "nvme", "sriov", "vhost", "zfs",
                          "libvirt", "daemons", "security", "domains", "tuned", "warnings"}


def test_a_reader_bug_costs_one_subset(tmp_path, monkeypatch):
    def broken(reader):
        raise KeyError("boom")
    monkeypatch.setattr(_facts_host, "gather_zfs", broken)
    Host("1x2x1").build(Tree(tmp_path))
    facts = gather(Reader(str(tmp_path)), ALL)
    assert "zfs" not in facts and "cpu" in facts
    assert any(warning.startswith("zfs facts failed: KeyError") for warning in facts["warnings"])


def test_empty_root_gives_an_answer_with_warnings(tmp_path):
    facts = kvm_host_facts(str(tmp_path))
    assert facts["cpu"]["online"] == [] and facts["cpu"]["cores"] == 0
    assert facts["numa"]["nodes"][0]["cpus"] == []
    assert facts["nvme"] == [] and facts["sriov"] == [] and facts["qemu_processes"] == []


CPU = "/sys/devices/system/cpu"
NODE = "/sys/devices/system/node"
BINARY = b"\xff\xfe\x00\x9c garbage \x00"

# one entry per kind of file the facts read: (path, garbage content, key that must survive)
GARBAGE = [
    ("cpulist", CPU + "/online", "0-x,,7"),
    ("cpulist-binary", CPU + "/online", BINARY),
    ("topology-list", CPU + "/cpu0/topology/core_cpus_list", "zz"),
    ("topology-mask", CPU + "/cpu0/topology/thread_siblings", "not-hex"),
    ("package-mask", CPU + "/cpu0/topology/core_siblings", "0x,zz"),
    ("package-list", CPU + "/cpu0/topology/package_cpus_list", "3-1"),
    ("core-id", CPU + "/cpu0/topology/core_id", "seven"),
    ("cache-level", CPU + "/cpu0/cache/index3/level", "three"),
    ("cache-shared", CPU + "/cpu0/cache/index3/shared_cpu_list", "--"),
    ("cpu-online-flag", CPU + "/cpu1/online", "maybe"),
    ("node-cpulist", NODE + "/node0/cpulist", "a-b"),
    ("node-cpumap", NODE + "/node0/cpumap", "ffff,gg"),
    ("node-meminfo", NODE + "/node0/meminfo", "Node 0 MemTotal: lots kB"),
    ("node-distance", NODE + "/node0/distance", "10 far"),
    ("hugepage-count", NODE + "/node0/hugepages/hugepages-2048kB/nr_hugepages", "-x"),
    ("meminfo", "/proc/meminfo", BINARY),
    ("cpuinfo", "/proc/cpuinfo", BINARY),
    ("thp-selector", "/sys/kernel/mm/transparent_hugepage/enabled", "always madvise never"),
    ("ksm-integer", "/sys/kernel/mm/ksm/run", ""),
    ("swappiness", "/proc/sys/vm/swappiness", "sixty"),
    ("zswap-flag", "/sys/module/zswap/parameters/enabled", "perhaps"),
    ("swaps", "/proc/swaps", "Filename Type\n/dev/sda2 partition big 0 -2\n"),
    ("cmdline", "/proc/cmdline", BINARY),
    ("osrelease", "/proc/sys/kernel/osrelease", BINARY),
    ("isolated", CPU + "/isolated", "2-"),
    ("kvm-nested", "/sys/module/kvm_intel/parameters/nested", "2x"),
    ("config-gz", "/proc/config.gz", b"not gzip"),
    ("nvme-queues", "/sys/class/nvme/nvme0/nvme0n1/queue/nr_requests", "many"),
    ("nvme-scheduler", "/sys/class/nvme/nvme0/nvme0n1/queue/scheduler", "mq-deadline none"),
    ("nvme-numa", "/sys/class/nvme/nvme0/device/numa_node", "near"),
    ("sriov-totalvfs", "/sys/bus/pci/devices/0000:3b:00.0/sriov_totalvfs", "eight"),
    ("sriov-numvfs", "/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs", BINARY),
    ("arcstats", "/proc/spl/kstat/zfs/arcstats", "x\ny\nc_max 4 lots\n"),
    ("zfs-parameter", "/sys/module/zfs/parameters/zfs_arc_max", "max"),
    ("qemu-conf", "/etc/libvirt/qemu.conf", 'user = "root\n] = = [\nseccomp_sandbox = [1,'),
    ("network-xml", "/etc/libvirt/qemu/networks/default.xml", "<network><name>x</nam"),
    ("proc-status", "/proc/4242/status", "Seccomp:\tsome\n"),
    ("proc-cmdline", "/proc/4242/cmdline", b"qemu-kvm\0-name\0\xff\xfe\0"),
    ("directory-instead-of-file", "/proc/meminfo/", None),
]


# files only old kernels have (or that are read only when the new ones are missing)
LEGACY = ("topology-mask", "package-mask", "cpu-online-flag", "node-cpumap")


def _full_host(tmp_path, legacy=False):
    tree = Tree(tmp_path)
    Host("1x4x2", nodes=1, legacy=legacy).build(tree)
    tree.nvme("nvme0", queues=4)
    tree.sriov_pf("0000:3b:00.0", numvfs=2)
    tree.files({
        "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
        "/sys/kernel/mm/ksm/run": "0", "/proc/sys/vm/swappiness": "60",
        "/sys/module/zswap/parameters/enabled": "N", "/proc/swaps": "Filename\n",
        "/proc/cmdline": "ro quiet", "/proc/sys/kernel/osrelease": "6.1.0",
        "/sys/module/kvm_intel/parameters/nested": "N",
        "/proc/spl/kstat/zfs/arcstats": "h\nh\nc_max 4 1\n",
        "/sys/module/zfs/parameters/zfs_arc_max": "0",
        "/etc/libvirt/qemu.conf": 'user = "qemu"\n',
        "/etc/libvirt/qemu/networks/default.xml": "<network><name>default</name></network>",
        "/proc/4242/cmdline": b"qemu-kvm\0-name\0guest=g\0",
        "/proc/4242/status": "Seccomp:\t2\n",
    })
    return tree


@pytest.mark.parametrize("kind, path, garbage", GARBAGE, ids=[entry[0] for entry in GARBAGE])
def test_garbage_gives_warnings_never_a_traceback(kind, path, garbage, tmp_path):
    tree = _full_host(tmp_path, legacy=kind in LEGACY)
    clean = kvm_host_facts(str(tmp_path))
    assert clean["warnings"] == []
    if garbage is None:
        tree.remove(path.rstrip("/"))
        tree.mkdir(path)
    else:
        tree.write(path, garbage)
    facts = kvm_host_facts(str(tmp_path))
    assert set(facts) == set(clean), kind  # every part is still there
    assert facts != clean, kind  # the garbage was seen (a value changed or a warning appeared)
    assert not any("facts failed" in warning for warning in facts["warnings"]), facts["warnings"]
    if kind not in ("cpuinfo", "topology-list", "cmdline", "osrelease", "proc-cmdline"):
        assert facts["warnings"], kind
        assert any(path.rstrip("/").split("/")[-1] in warning or "malformed" in warning
                   or "cannot" in warning for warning in facts["warnings"]), facts["warnings"]


def test_snapshot_of_this_machine_reads_like_the_machine(tmp_path):
    """sysfs_builder.snapshot copies what the facts read: the copy gives the same topology,
    nodes and kernel facts as the live /sys and /proc."""
    from .facts_helpers import snapshot

    assert snapshot(str(tmp_path)) > 10
    subsets = {"cpu", "numa", "kernel"}
    live = gather(Reader("/"), subsets)
    copy = gather(Reader(str(tmp_path)), subsets)
    for key in ("online", "offline", "core_groups", "package_groups", "l3_groups", "flags",
                "vendor", "model_name"):
        assert copy["cpu"][key] == live["cpu"][key], key
    assert [(n["id"], n["cpus"], n["distances"]) for n in copy["numa"]["nodes"]] == \
        [(n["id"], n["cpus"], n["distances"]) for n in live["numa"]["nodes"]]
    for key in ("release", "cmdline", "isolated", "nohz_full"):
        assert copy["kernel"][key] == live["kernel"][key], key

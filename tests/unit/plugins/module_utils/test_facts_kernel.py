"""Kernel facts: release, command lines, isolation, kvm parameters, build options."""

import gzip

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import kernel as _facts_kernel
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Tree

CONFIG = """#
# CONFIG_NO_HZ_FULL is not set
CONFIG_HUGETLBFS=y
CONFIG_KVM_INTEL=m
CONFIG_HZ=250
CONFIG_DEFAULT_HOSTNAME="(none)"
CONFIG_UNRELATED=y
"""


@pytest.mark.parametrize("release, expected", [
    ("6.1.0-13-amd64", [6, 1]), ("5.16.0", [5, 16]), ("4.18.0-513.el8.x86_64", [4, 18]),
    ("garbage", None), ("", None), (None, None)])
def test_version_tuple(release, expected):
    assert _facts_kernel.version_tuple(release) == expected


def test_parse_kconfig():
    assert _facts_kernel.parse_kconfig(CONFIG) == {
        "CONFIG_NO_HZ_FULL": "n", "CONFIG_HUGETLBFS": "y", "CONFIG_KVM_INTEL": "m",
        "CONFIG_HZ": "250"}


def test_kernel_facts(tmp_path):
    Tree(tmp_path).files({
        "/proc/sys/kernel/osrelease": "6.1.0-13-amd64",
        "/proc/cmdline": 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet isolcpus=2-7 "x=a b"',
        "/sys/devices/system/cpu/isolated": "2-7",
        "/sys/devices/system/cpu/nohz_full": "(null)",
        "/sys/module/kvm/parameters/halt_poll_ns": "200000",
        "/sys/module/kvm_intel/parameters/nested": "Y",
        "/boot/config-6.1.0-13-amd64": CONFIG,
        "/etc/kernel/cmdline": "root=/dev/sda1 ro isolcpus=2-7 nohz_full=2-7",
    })
    reader = Reader(str(tmp_path))
    kernel = _facts_kernel.gather_kernel(reader)
    assert kernel["release"] == "6.1.0-13-amd64" and kernel["version_tuple"] == [6, 1]
    assert kernel["cmdline"] == ["BOOT_IMAGE=/vmlinuz", "root=/dev/sda1", "ro", "quiet",
                                 "isolcpus=2-7", "x=a b"]
    assert kernel["pending_cmdline"] == ["root=/dev/sda1", "ro", "isolcpus=2-7", "nohz_full=2-7"]
    assert kernel["isolated"] == [2, 3, 4, 5, 6, 7] and kernel["nohz_full"] == []
    assert kernel["kvm"] == {"loaded": True, "module": "kvm_intel", "nested": True,
                             "halt_poll_ns": 200000}
    assert kernel["config"]["CONFIG_NO_HZ_FULL"] == "n"
    assert kernel["config_source"] == "/boot/config-6.1.0-13-amd64"
    assert kernel["br_netfilter_loaded"] is None  # no /proc/modules in this tree: unknown
    assert kernel["kernel_cmdline_owners"] == []
    assert reader.warnings == []


def test_kernel_cmdline_owners_from_grub_drop_ins_and_records(tmp_path):
    Tree(tmp_path).files({
        "/proc/cmdline": "ro",
        "/etc/default/grub.d/90-kvmops-hugepages.cfg": 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX hugepages=4"\n',
        "/etc/default/grub.d/90-kvmops-iommu.cfg": "garbage, still an owner's file\n",
        "/etc/default/grub.d/50-cloudimg.cfg": 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=ttyS0"\n',
        "/etc/kvmops/kernel_cmdline/nvme_queues.args": "nvme.poll_queues=1\n",
        "/etc/kvmops/kernel_cmdline/README": "not a record\n",
    })
    assert _facts_kernel.gather_kernel(Reader(str(tmp_path)))["kernel_cmdline_owners"] == [
        "hugepages", "iommu", "nvme_queues"]


BRIDGE_ONLY = "bridge 311296 0 - Live 0x0000000000000000\nstp 12288 1 bridge, Live 0x0000000000000000\n"
WITH_BR_NETFILTER = "br_netfilter 32768 0 - Live 0x0000000000000000\n" + BRIDGE_ONLY


@pytest.mark.parametrize("files, expected", [
    ({"/proc/modules": BRIDGE_ONLY}, False),                   # bridge alone: no netfilter hooks
    ({"/proc/modules": WITH_BR_NETFILTER}, True),
    ({"/proc/modules": BRIDGE_ONLY, "/proc/sys/net/bridge/bridge-nf-call-iptables": "1"}, True),  # built in
    ({"/proc/sys/net/ipv4/ip_forward": "0"}, None),            # /proc/modules unreadable
])
def test_br_netfilter_loaded_from_proc_modules(tmp_path, files, expected):
    Tree(tmp_path).files(files)
    assert _facts_kernel.br_netfilter_loaded(Reader(str(tmp_path))) is expected


def test_config_from_proc_config_gz_and_release_from_proc_version(tmp_path):
    Tree(tmp_path).files({
        "/proc/version": "Linux version 5.15.0-91-generic (buildd@lcy02) (gcc) #101",
        "/proc/config.gz": gzip.compress(b"CONFIG_NO_HZ_FULL=y\n"),
        "/proc/cmdline": "ro",
    })
    kernel = _facts_kernel.gather_kernel(Reader(str(tmp_path)))
    assert kernel["release"] == "5.15.0-91-generic"
    assert kernel["config"] == {"CONFIG_NO_HZ_FULL": "y"}
    assert kernel["config_source"] == "/proc/config.gz"
    assert kernel["pending_cmdline"] is None


def test_bare_tree(tmp_path):
    reader = Reader(str(tmp_path))
    kernel = _facts_kernel.gather_kernel(reader)
    assert kernel["cmdline"] == [] and kernel["release"] is None and kernel["config"] == {}
    assert kernel["kvm"]["loaded"] is False
    assert any("/proc/cmdline" in warning for warning in reader.warnings)

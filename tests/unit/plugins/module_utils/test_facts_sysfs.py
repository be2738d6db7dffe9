"""The Reader: never raises, warns on malformed content, resolves links inside the root."""

import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Tree, cpumask


@pytest.fixture
def tree(tmp_path):
    return Tree(tmp_path)


def test_missing_files_are_quiet_unless_asked(tree):
    reader = Reader(tree.root)
    assert reader.text("/sys/nothing") is None
    assert reader.integer("/sys/nothing", 7) == 7
    assert reader.warnings == []
    assert reader.text("/sys/nothing", warn_missing=True) is None
    assert reader.warnings and "/sys/nothing" in reader.warnings[0]


def test_directory_instead_of_file_warns(tree):
    tree.mkdir("/proc/meminfo")
    reader = Reader(tree.root)
    assert reader.text("/proc/meminfo") is None
    assert reader.warnings


@pytest.mark.parametrize("method, content, expected", [
    ("integer", "42\n", 42), ("integer", "42 kB", 42), ("integer", "x", None),
    ("integer", "", None),
    ("boolean", "Y", True), ("boolean", "N", False), ("boolean", "1", True),
    ("boolean", "maybe", None),
    ("selected", "always [madvise] never", "madvise"), ("selected", "none", "none"),
    ("selected", "a b", None),
    ("cpulist", "0-3,8", [0, 1, 2, 3, 8]), ("cpulist", "(null)", []), ("cpulist", "", []),
    ("cpulist", "3-1", None),
    ("cpumask", "00000000,0000010f", [0, 1, 2, 3, 8]), ("cpumask", "xyz", None),
])
def test_typed_reads(tree, method, content, expected):
    tree.write("/f", content)
    reader = Reader(tree.root)
    assert getattr(reader, method)("/f") == expected
    assert bool(reader.warnings) == (expected is None and content.strip() != "" or
                                     method == "integer" and content == "")


def test_undecodable_bytes_do_not_raise(tree):
    tree.write("/f", b"\xff\xfe1")
    reader = Reader(tree.root)
    assert reader.integer("/f") is None and reader.warnings


def test_cpus_prefers_list_then_mask(tree):
    tree.write("/d/list", "0-1").write("/d/mask", cpumask([4]))
    reader = Reader(tree.root)
    assert reader.cpus("/d", "list", "mask") == [0, 1]
    assert reader.cpus("/d", "absent", "mask") == [4]
    assert reader.cpus("/d", "absent", "absent2", "dflt") == "dflt"


def test_realpath_relative_links_stay_host_paths(tree):
    tree.write("/sys/devices/pci0000:00/0000:00:01.0/vendor", "0x8086")
    tree.symlink("/sys/bus/pci/devices/0000:00:01.0", "/sys/devices/pci0000:00/0000:00:01.0")
    reader = Reader(tree.root)
    assert reader.realpath("/sys/bus/pci/devices/0000:00:01.0") == \
        "/sys/devices/pci0000:00/0000:00:01.0"
    assert reader.realpath("/sys/bus/pci/devices/0000:00:01.0/vendor") == \
        "/sys/devices/pci0000:00/0000:00:01.0/vendor"
    assert reader.link_name("/sys/bus/pci/devices/0000:00:01.0") == "0000:00:01.0"


def test_realpath_absolute_link_is_resolved_inside_the_root(tree):
    tree.write("/sys/bus/pci/drivers/nvme/bind", "")
    os.makedirs(tree.path("/sys/devices/x"))
    os.symlink("/sys/bus/pci/drivers/nvme", tree.path("/sys/devices/x/driver"))
    reader = Reader(tree.root)
    assert reader.realpath("/sys/devices/x/driver") == "/sys/bus/pci/drivers/nvme"
    assert reader.link_name("/sys/devices/x/driver") == "nvme"


def test_realpath_dotdot_cannot_leave_the_root(tree):
    tree.write("/etc/hostname", "h")
    os.makedirs(tree.path("/a"))
    os.symlink("../../../../etc", tree.path("/a/up"))
    assert Reader(tree.root).realpath("/a/up/hostname") == "/etc/hostname"


def test_realpath_missing_and_loops(tree):
    os.makedirs(tree.path("/a"))
    os.symlink("b", tree.path("/a/c"))
    os.symlink("c", tree.path("/a/b"))
    reader = Reader(tree.root)
    assert reader.realpath("/a/nothing") is None
    assert reader.realpath("/a/c") is None
    assert any("symbolic links" in warning for warning in reader.warnings)
    os.symlink("gone", tree.path("/a/dangling"))
    assert reader.realpath("/a/dangling") is None


def test_realpath_with_root_slash():
    assert Reader("/").realpath("/proc/self/..") == "/proc"
    assert Reader("/").realpath("/") == "/"


def test_listdir_missing_is_empty(tree):
    assert Reader(tree.root).listdir("/nope") == []

"""The lab host has the virtual hardware tools/lab/lab.conf asked for."""

import re


def _ls(host, path):
    return host.check_output("ls -1 %s 2>/dev/null || true", path).split()


def test_python3(host):
    assert host.run("/usr/bin/python3 -c 'import sys; print(sys.version_info[0])'").stdout.strip() == "3"


def test_cpu_topology(host, shape):
    lscpu = dict(
        line.split(":", 1) for line in host.check_output("lscpu").splitlines() if ":" in line
    )
    assert int(lscpu["CPU(s)"]) == shape["sockets"] * shape["cores"] * shape["threads"]
    assert int(lscpu["Socket(s)"]) == shape["sockets"]
    assert int(lscpu["Core(s) per socket"]) == shape["cores"]
    assert int(lscpu["Thread(s) per core"]) == shape["threads"]


def test_numa_nodes(host, shape):
    nodes = [n for n in _ls(host, "/sys/devices/system/node") if re.fullmatch(r"node\d+", n)]
    assert len(nodes) == shape["numa_nodes"]
    for node in nodes:
        meminfo = host.file("/sys/devices/system/node/%s/meminfo" % node).content_string
        total_kb = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1))
        # The kernel reserves some memory: at least 80 % of each node is there.
        assert total_kb > shape["node_mem_mb"] * 1024 * 0.8
        cpus = host.file("/sys/devices/system/node/%s/cpulist" % node).content_string.strip()
        assert cpus, "%s has no CPUs" % node


def test_iommu_groups(host):
    assert len(_ls(host, "/sys/kernel/iommu_groups")) > 0


def test_nvme_controller(host, shape):
    controllers = _ls(host, "/sys/class/nvme")
    if shape["nvme"]:
        assert controllers
        assert host.file("/sys/class/nvme/%s/model" % controllers[0]).content_string.strip()
    else:
        assert not controllers


def test_sriov_nic(host, shape):
    pfs = {}
    for nic in _ls(host, "/sys/class/net"):
        path = "/sys/class/net/%s/device/sriov_totalvfs" % nic
        if host.file(path).exists:
            pfs[nic] = int(host.file(path).content_string)
    if shape["sriov_nic"]:
        assert sorted(pfs.values()) == [7]
    else:
        assert pfs == {}


def test_zfs_module_loads(host):
    host.run_test("modprobe zfs")
    assert host.file("/sys/module/zfs").is_directory


def test_libvirt_sees_the_numa_cells(host, shape):
    caps = host.check_output("virsh -c qemu:///system capabilities")
    assert len(re.findall(r"<cell id=", caps)) == shape["numa_nodes"]

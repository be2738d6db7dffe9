"""The roles' outcome on the converged lab host (issues 7 and 8).

The scenario converges playbooks/site.yml with molecule/lab/vars/policy.yml, which allows the
reboot: by now the host has rebooted once into the kernel command line the roles wrote.
Expected values follow from the policy and the lab's shape (CPUs 0-1 on node 0, 2-3 on
node 1), worked out by hand here, not by the planner.
"""

from pathlib import Path

import pytest

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]

HOUSEKEEPING = "0-1"
ISOLATED = "2-3"
PAGES_2M = {0: 16, 1: 80}


def cmdline(host):
    return host.file("/proc/cmdline").content_string.split()


@pytest.mark.parametrize("token", [
    "isolcpus=domain,managed_irq,%s" % ISOLATED,
    "nohz_full=%s" % ISOLATED,
    "rcu_nocbs=%s" % ISOLATED,
    "irqaffinity=%s" % HOUSEKEEPING,
    "nosoftlockup",
    "skew_tick=1",
    "default_hugepagesz=2M",
    "hugepagesz=2M",
    "hugepages=0:16,1:80",
    "transparent_hugepage=madvise",
    "intel_iommu=on",
])
def test_running_cmdline_holds_planned_token(host, token):
    assert token in cmdline(host)


def test_no_token_twice(host):
    tokens = [t for t in cmdline(host) if not t.startswith("BOOT_IMAGE=")]
    assert len(tokens) == len(set(tokens)), tokens


def test_kernel_isolated_cpus_as_planned(host):
    assert host.file("/sys/devices/system/cpu/isolated").content_string.strip() == ISOLATED
    assert host.file("/sys/devices/system/cpu/nohz_full").content_string.strip() == ISOLATED


def test_one_grub_dropin_per_owner(host):
    # sriov_vhost has none: its one argument, intel_iommu=on, is in the lab image's own drop-in.
    for owner in ("numa_pinning", "hugepages"):
        assert host.file("/etc/default/grub.d/90-kvmops-%s.cfg" % owner).exists


@pytest.mark.parametrize("node, count", sorted(PAGES_2M.items()))
def test_huge_pages_per_node(host, node, count):
    path = "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages" % node
    assert int(host.file(path).content_string) == count


def test_hugetlbfs_mounted(host):
    mount = host.mount_point("/dev/hugepages2M")
    assert mount.exists and mount.filesystem == "hugetlbfs"
    assert "pagesize=2M" in mount.options or "pagesize=2048k" in mount.options


def test_qemu_conf_knows_the_hugetlbfs_mount(host):
    assert '"/dev/hugepages2M"' in host.file("/etc/libvirt/qemu.conf").content_string


def test_systemd_runs_on_housekeeping_cpus(host):
    dropin = host.file("/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf").content_string
    assert "CPUAffinity=%s" % HOUSEKEEPING in dropin.splitlines()
    # PID 1 took it (daemon-reexec, then the reboot); services inherit it from PID 1.
    status = host.file("/proc/1/status").content_string
    allowed = [line for line in status.splitlines() if line.startswith("Cpus_allowed_list:")][0]
    assert allowed.split()[1] == HOUSEKEEPING
    # and the host units' cgroups (AllowedCPUs=, which keeps it when libvirt starts a guest)
    for unit in ("init.scope", "system.slice", "user.slice"):
        assert host.file("/sys/fs/cgroup/%s/cpuset.cpus" % unit).content_string.strip() == HOUSEKEEPING, unit


def test_irqbalance_banned_from_isolated(host):
    lines = host.file("/etc/default/irqbalance").content_string.splitlines()
    index = lines.index("IRQBALANCE_BANNED_CPULIST=%s" % ISOLATED)
    # the marker that lets a run with no partitioning take the line back
    assert lines[index - 1] == "# Managed by kvmops.hypervisor: IRQBALANCE_BANNED_CPULIST"


@pytest.mark.parametrize("path", ["/sys/devices/virtual/workqueue/cpumask",
                                  "/sys/bus/workqueue/devices/writeback/cpumask"])
def test_unbound_workqueues_on_housekeeping_cpus(host, path):
    # CPUs 0-1 = mask 0x3; the kernel shows it zero-padded to the possible CPUs
    assert int(host.file(path).content_string.strip().replace(",", ""), 16) == 0x3
    tmpfiles = host.file("/etc/tmpfiles.d/kvmops-cpu.conf").content_string.splitlines()
    assert "w %s - - - - 3" % path in tmpfiles


def test_vm_stat_interval_with_isolation(host):
    assert host.file("/proc/sys/vm/stat_interval").content_string.strip() == "10"


def test_numa_balancing_off(host):
    assert host.file("/proc/sys/kernel/numa_balancing").content_string.strip() == "0"
    dropin = host.file("/etc/sysctl.d/90-kvmops-numa.conf").content_string
    assert "kernel.numa_balancing = 0" in dropin.splitlines()


def test_iommu_on_after_the_reboot(host):
    assert host.file("/sys/class/iommu").is_directory
    assert host.check_output("ls /sys/kernel/iommu_groups").split()


def test_sysctl_values_live(host):
    conf = host.file("/etc/sysctl.d/90-kvmops-net.conf").content_string
    pairs = [line.split("=", 1) for line in conf.splitlines()
             if line.strip() and not line.lstrip().startswith(("#", ";"))]
    assert len(pairs) >= 15
    for key, value in pairs:
        live = host.file("/proc/sys/" + key.strip().replace(".", "/")).content_string
        assert live.split() == value.split(), key


def test_br_netfilter_not_made_persistent(host):
    # The role loads no module (tests in test_62_safe_net.py); the old file is gone.
    assert not host.file("/etc/modules-load.d/kvmops-br_netfilter.conf").exists


def test_guest_domain_pinned_as_planned(host):
    xml = host.check_output("virsh -c qemu:///system dumpxml --inactive lab-guest")
    assert "<vcpupin vcpu='0' cpuset='2'/>" in xml or "<vcpupin vcpu='0' cpuset='3'/>" in xml
    pins = sorted(line.split("cpuset='")[1].split("'")[0]
                  for line in xml.splitlines() if "<vcpupin " in line)
    assert pins == ["2", "3"]
    assert "<emulatorpin cpuset='%s'/>" % HOUSEKEEPING in xml
    assert "<memory mode='strict' nodeset='1'/>" in xml
    assert "<page size='2048' unit='KiB'/>" in xml


def test_audit_reports_nothing_drifted(lab_audit):
    report = lab_audit
    drifted = [row for row in report["rows"] if row["status"] != "applied"]
    assert drifted == []
    assert report["summary"]["applied"] >= 40
    items = set(row["item"] for row in report["rows"])
    # every section is audited item by item, the IOMMU arguments included
    for item in ("sriov_vhost: intel_iommu=on", "numa_pinning: nohz_full=2-3", "hugepages: hugepages=0:16,1:80",
                 "/sys/devices/system/cpu/isolated", "kernel.numa_balancing", "net.core.somaxconn",
                 "/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf",
                 "/etc/systemd/system/system.slice.d/90-kvmops-allowedcpus.conf",
                 "/etc/default/irqbalance IRQBALANCE_BANNED_CPULIST", "/dev/hugepages2M (mounted)",
                 "numa_pinning: skew_tick=1", "/sys/devices/virtual/workqueue/cpumask", "vm.stat_interval",
                 "lab-guest vcpupin", "lab-guest emulatorpin", "lab-guest memory_nodes"):
        assert item in items, item

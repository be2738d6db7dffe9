"""What playbooks/site.yml (converge, then idempotence) wrote into the image chroot, in image
mode, with the default variables: files only, every value as the plan has it.

The files are read from the controller (the chroot is a local directory; tests/conftest.py);
the plan is host_plan's, run in check mode in the chroot through Ansible (testinfra's host): the same facts and
the roles' default options, so the expectations follow the machine the test runs on (CPUs,
NUMA nodes, CPU vendor) instead of assuming one.
"""

import os
import re

import pytest

ETC_DROPIN = "/etc/default/grub.d/90-kvmops-%s.cfg"
CPUAFFINITY = "/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf"
IRQBALANCE = "/etc/default/irqbalance"
NUMA_SYSCTL = "/etc/sysctl.d/90-kvmops-numa.conf"
MEMORY_SYSCTL = "/etc/sysctl.d/90-kvmops-memory.conf"
TMPFILES = "/etc/tmpfiles.d/kvmops-memory.conf"
NET_SYSCTL = "/etc/sysctl.d/90-kvmops-net.conf"
MODULES_LOAD = "/etc/modules-load.d/kvmops-br_netfilter.conf"
VHOST_NET_LOAD = "/etc/modules-load.d/kvmops-vhost_net.conf"
HARDENING_SYSCTL = "/etc/sysctl.d/90-kvmops-hardening.conf"
QEMU_CONF = "/etc/libvirt/qemu.conf"
DROPIN_LINE = re.compile(r'^GRUB_CMDLINE_LINUX="\$GRUB_CMDLINE_LINUX (.*)"$', re.M)


@pytest.fixture(scope="module")
def plan(host):
    """kvm_host_plan of the instance: every section, the roles' default options."""
    result = host.ansible(
        "kvmops.hypervisor.host_plan",
        """sections='{"numa_pinning": {}, "hugepages": {}, "sysctl_net": {}, "iommu": {}, """
        """"zfs_storage": {}, "nvme_queues": {}, "sriov_vhost": {}, "seccomp_sandbox": {}}'""",
        check=True)
    return result["ansible_facts"]["kvm_host_plan"]


def tokens(section):
    return ["%s=%s" % (name, value) if value is not None else name for name, value in section["kernel_args"]]


def sysctl_text(value):
    """A planned sysctl value as a drop-in line has it."""
    if isinstance(value, bool):
        return str(int(value))
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def text(files, path):
    return files[path]


def in_image(helpers, path):
    """A file of the instance, read from the controller (the chroot is a local directory)."""
    return helpers.IMAGE / path.lstrip("/")


def test_the_files_written_are_the_plans(site_files, plan, helpers):
    """Exactly these files, no other (no state under /run or /var, no runtime record)."""
    expected = {helpers.GRUB_CFG}
    for owner in ("iommu", "numa_pinning", "hugepages", "nvme_queues", "sriov_vhost"):
        if plan[owner]["kernel_args"]:
            expected.add(ETC_DROPIN % owner)
    for role in ("numa_pinning", "hugepages", "zfs_storage", "nvme_queues", "sriov_vhost", "seccomp_sandbox"):
        expected.update(path for path, content in plan[role]["files"].items() if content is not None)
        if plan[role]["sysctl"]["values"]:
            expected.add(plan[role]["sysctl"]["path"])
        # A KEY= line goes into a file another package owns only when that file exists.
        expected.update(path for path in plan[role]["lines"] if in_image(helpers, path).exists())
    if plan["hugepages"]["mounts"]:
        expected.add("/etc/fstab")
    expected.add(NET_SYSCTL)
    assert sorted(site_files) == sorted(expected)


def test_defaults_write_no_iommu_numa_balancing_memory_or_mount_files(site_files, plan):
    # kvmops_plan_iommu false and no VF for vfio-pci: no IOMMU argument (sriov_vhost's; the
    # former owner iommu has none since 0.3.0); no guests: numa_balancing auto and ksm auto
    # leave the kernel alone, no huge pages are planned, swappiness and zswap are null.
    assert plan["iommu"]["kernel_args"] == [] and plan["sriov_vhost"]["kernel_args"] == []
    for path in (ETC_DROPIN % "iommu", ETC_DROPIN % "sriov_vhost", NUMA_SYSCTL, MEMORY_SYSCTL, TMPFILES,
                 "/etc/fstab"):
        assert path not in site_files


def test_no_policy_partitions_no_cpu(site_files, plan, helpers):
    """The scenario has no policy at all: a fleet run like it keeps every CPU for the host
    (issue 13): no numa_pinning drop-in (no irqaffinity=), no CPUAffinity=, no irqbalance ban."""
    assert plan["cpu_partitioning"]["enabled"] is False
    assert plan["isolated_cpus"] == [] and plan["numa_pinning"]["kernel_args"] == []
    assert ETC_DROPIN % "numa_pinning" not in site_files
    assert CPUAFFINITY not in site_files
    for path in site_files:
        if path.startswith("/etc/default/grub"):
            assert "irqaffinity=" not in text(site_files, path), path


def test_hugepages_grub_dropin(site_files, plan):
    dropin = text(site_files, ETC_DROPIN % "hugepages")
    assert "owner hugepages" in dropin
    args = DROPIN_LINE.findall(dropin)[0].split()
    assert args == tokens(plan["hugepages"])
    assert args[-1] == "transparent_hugepage=madvise"
    # Boot-time huge pages only when the plan has some (none without guests).
    assert any(arg.startswith("hugepages=") for arg in args) == bool(plan["hugepages"]["mounts"])


def test_grub_cfg_boots_with_the_dropins_arguments(site_files, helpers):
    """The shared handler ran grub-mkconfig in the chroot: every kernel entry gets the
    drop-ins' arguments, in the drop-ins' file name order."""
    appended = []
    for path in sorted(path for path in site_files if path.startswith("/etc/default/grub.d/90-kvmops-")):
        appended += DROPIN_LINE.findall(text(site_files, path))[0].split()
    entries = helpers.grub_linux_args(text(site_files, helpers.GRUB_CFG))
    assert entries
    for args in entries:
        assert [arg for arg in args if arg in appended] == appended, args


def test_cpuaffinity_dropin(site_files, plan, helpers):
    if not plan["isolated_cpus"]:
        assert CPUAFFINITY not in site_files, "no CPU is isolated: no CPUAffinity= drop-in"
        return
    lines = [line for line in text(site_files, CPUAFFINITY).splitlines() if not line.startswith("#")]
    assert lines == ["[Manager]", "CPUAffinity=%s" % helpers.cpulist(plan["housekeeping_cpus"])]


def test_irqbalance_banned_cpus(site_files, plan, helpers):
    config = in_image(helpers, IRQBALANCE)
    if not config.exists():
        # irqbalance is not in the chroot: the role does not create its configuration.
        assert IRQBALANCE not in site_files
        return
    banned = [line for line in config.read_text().splitlines() if line.startswith("IRQBALANCE_BANNED_")]
    expected = ["IRQBALANCE_BANNED_CPULIST=%s" % helpers.cpulist(plan["isolated_cpus"])] if plan["isolated_cpus"] else []
    assert banned == expected


def test_sysctl_net_dropin(site_files, plan):
    keys = dict(line.split(" = ", 1) for line in text(site_files, NET_SYSCTL).splitlines()
                if line and not line.startswith("#"))
    assert keys == {key: sysctl_text(value) for key, value in plan["sysctl_net"]["sysctl"]["values"].items()}
    # The baseline, as docs/sysctl_net.md gives it.
    assert keys["net.core.somaxconn"] == "4096"
    assert keys["vm.max_map_count"] == "262144"
    assert keys["net.ipv4.tcp_rmem"] == "4096 131072 33554432"
    # net.bridge.* only when the facts saw br_netfilter loaded; nothing loads it.
    bridge = plan["sysctl_net"]["bridge_nf"]["written"]
    assert ("net.bridge.bridge-nf-call-iptables" in keys) is bridge
    # No libvirt network in the chroot: auto leaves forwarding out (never 0).
    assert "net.ipv4.ip_forward" not in keys and "net.ipv6.conf.all.forwarding" not in keys
    assert "net.ipv4.conf.all.rp_filter" not in keys and keys["net.ipv4.conf.default.rp_filter"] == "2"
    assert len(keys) == (19 if bridge else 16)


def test_br_netfilter_not_loaded_at_boot(site_files):
    assert MODULES_LOAD not in site_files


def test_hugetlbfs_in_fstab_only_when_pages_are_planned(site_files, plan, helpers):
    fstab = in_image(helpers, "/etc/fstab").read_text()
    mounts = [line for line in fstab.splitlines() if " hugetlbfs " in line]
    assert len(mounts) == len(plan["hugepages"]["mounts"])
    assert ("/etc/fstab" in site_files) == bool(plan["hugepages"]["mounts"])


def test_nothing_running_was_touched(site_files, helpers):
    """Image mode writes files only. The chroot's /proc/sys and /sys are the controller's,
    mounted read-only (lab.sh chroot-new): a runtime write would have failed the converge.
    What was written is boot and configuration files, nothing under /run, /var or /proc."""
    with open("/proc/mounts") as mounts:
        options = {fields[1]: fields[3].split(",") for fields in (line.split() for line in mounts)}
    for path in ("/proc/sys", "/sys"):
        assert "ro" in options[str(helpers.IMAGE) + path], path
    assert all(path.startswith(("/etc/", "/boot/grub/")) for path in site_files), sorted(site_files)


def test_vhost_net_loaded_at_boot(site_files, plan):
    """sriov_vhost's default: vhost_net in modules-load.d (image mode loads nothing now)."""
    lines = [line for line in text(site_files, VHOST_NET_LOAD).splitlines() if line and not line.startswith("#")]
    assert lines == ["vhost_net"]
    assert text(site_files, VHOST_NET_LOAD) == plan["sriov_vhost"]["files"][VHOST_NET_LOAD]
    assert "kvmops.hypervisor.sriov_vhost" in text(site_files, VHOST_NET_LOAD)


def test_no_sriov_files_without_pfs(site_files, plan):
    """No sriov_vhost_pfs: no VF, no .link file, no udev rule, no vfio-pci at boot, no module
    options (sriov_vhost_vhost_net_zcopytx null, no unsafe interrupts)."""
    assert plan["sriov_vhost"]["pfs"] == [] and plan["sriov_vhost"]["networks"] == []
    for path in ("/etc/udev/rules.d/90-kvmops-sriov.rules", "/etc/modules-load.d/kvmops-vfio.conf",
                 "/etc/modprobe.d/kvmops-vhost_net.conf", "/etc/modprobe.d/kvmops-vfio.conf"):
        assert path not in site_files, path
    assert not [path for path in site_files if path.startswith("/etc/systemd/network/")]


def test_hardening_sysctl_dropin(site_files, plan):
    """seccomp_sandbox's drop-in: the planned keys (the running kernel's: one it lacks is
    left out), each with its documentation and reason; never the keys of the "not" list."""
    section = plan["seccomp_sandbox"]["sysctl"]
    assert section["path"] == HARDENING_SYSCTL
    dropin = text(site_files, HARDENING_SYSCTL)
    keys = dict(line.split(" = ", 1) for line in dropin.splitlines() if line and not line.startswith("#"))
    assert keys == {key: sysctl_text(value) for key, value in section["values"].items()}
    assert "kvmops.hypervisor.seccomp_sandbox" in dropin
    # Each key where the running kernel has it (the chroot's /proc is the controller's): a
    # kernel without sysrq, Yama or a BPF JIT gets no line for it (the plan warns).
    for key, value in (("kernel.kptr_restrict", "2"), ("kernel.dmesg_restrict", "1"),
                       ("kernel.unprivileged_bpf_disabled", "1"), ("net.core.bpf_jit_harden", "2"),
                       ("kernel.perf_event_paranoid", "3"), ("kernel.yama.ptrace_scope", "2"),
                       ("fs.protected_symlinks", "1"), ("fs.protected_hardlinks", "1"),
                       # 1, not KSPP's 2: systemd's 99-protect-links.conf is read after it
                       ("fs.protected_fifos", "1"), ("fs.protected_regular", "2"),
                       ("fs.suid_dumpable", "0"), ("kernel.randomize_va_space", "2"), ("kernel.sysrq", "176")):
        if os.path.exists("/proc/sys/" + key.replace(".", "/")):
            assert keys[key] == value, key
        else:
            assert key not in keys, key
    for key in ("net.ipv4.ip_forward", "kernel.modules_disabled", "vm.unprivileged_userfaultfd"):
        assert key not in keys, key
    # kernel.kexec_load_disabled 1 only without kdump (none in the chroot) on a kernel with kexec.
    kexec = os.path.exists("/proc/sys/kernel/kexec_load_disabled")
    assert plan["seccomp_sandbox"]["kexec"].endswith("written 1") == kexec, plan["seccomp_sandbox"]["kexec"]
    assert ("kernel.kexec_load_disabled" in keys) == kexec
    assert len(keys) == len(section["values"]) <= 14


def test_qemu_conf_left_missing_without_libvirt(site_files, plan, helpers):
    """seccomp_sandbox writes its qemu.conf lines only where libvirt installed the file; the
    chroot has no libvirt, and a missing file stays missing."""
    assert list(plan["seccomp_sandbox"]["lines"]) == [QEMU_CONF]
    assert plan["seccomp_sandbox"]["qemu_conf"]["seccomp_sandbox"] == 1
    if in_image(helpers, QEMU_CONF).exists():
        conf = text(site_files, QEMU_CONF)
        assert "seccomp_sandbox = 1" in conf.splitlines()
        return
    assert QEMU_CONF not in site_files

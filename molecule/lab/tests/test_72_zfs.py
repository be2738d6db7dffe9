"""ZFS storage on the converged lab host (issue 14).

molecule/lab/vars/policy.yml declares the pool kvmlab on the scratch disk
(/dev/disk/by-id/virtio-kvmops-scratch), the filesystem kvmlab/guests and two zvols
(kvmlab/guests/disk0 1G, kvmlab/guests/disk1 2G sparse), with kvmops_plan_zfs_arc_max_mb
256, the libvirt storage pool guests-zfs over kvmlab/guests and a sanoid policy on it
(hourly 2, daily 1, autoprune). Expected values are worked out by hand from that policy,
zfsprops(7)/zfs(4), libvirt's zfs backend and sanoid 2.1.0's sanoid.defaults.conf, not by
the planner. Not run by the unit tests: molecule/lab only.

testinfra quotes every %s argument of host.run: the virsh URI is part of the command
string, only names go through %s.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]

MIB = 1048576
POOL = "kvmlab"
GUESTS = "kvmlab/guests"
ZVOLS = {"kvmlab/guests/disk0": 1024 * MIB, "kvmlab/guests/disk1": 2048 * MIB}
SCRATCH = "/dev/disk/by-id/virtio-kvmops-scratch"
ARC_MAX = 256 * MIB
LIBVIRT_POOL = "guests-zfs"
VIRSH = "virsh -c qemu:///system "
SANOID_CONF = "/etc/sanoid/sanoid.conf"
# the lab policy's hourly 2, daily 1, autoprune; every other key sanoid 2.1.0's default
# (sanoid.defaults.conf: frequently 0, weekly 0, monthly 6, yearly 0, autosnap yes; recursive
# unset, written as no)
SANOID_SECTION = ["[kvmlab/guests]", "recursive = no", "frequently = 0", "hourly = 2", "daily = 1", "weekly = 0",
                  "monthly = 6", "yearly = 0", "autosnap = yes", "autoprune = yes"]


def zget(host, dataset, prop):
    return host.check_output("zfs get -Hp -o value %s %s", prop, dataset).strip()


def vol_list(host):
    """Volume names of the libvirt pool (virsh vol-list: a header, a rule, then name path)."""
    lines = host.check_output(VIRSH + "vol-list %s", LIBVIRT_POOL).splitlines()[2:]
    return sorted(line.split()[0] for line in lines if line.strip())


def arcstats(host):
    values = {}
    for line in host.file("/proc/spl/kstat/zfs/arcstats").content_string.splitlines()[2:]:
        words = line.split()
        if len(words) == 3:
            values[words[0]] = words[2]
    return values


def node_memtotal_mb(host):
    """Sum of the nodes' MemTotal (what the planner's topology adds up), in MiB."""
    total_kb = 0
    for node in (0, 1):
        for line in host.file("/sys/devices/system/node/node%d/meminfo" % node).content_string.splitlines():
            if "MemTotal:" in line:
                total_kb += int(line.split()[3])
    return total_kb // 1024


def converge(extra_vars=None, tmp_path=None):
    """The zfs_storage role alone (molecule/lab/zfs_storage.yml) with the lab policy; returns
    the finished process. The role alone plans its own section, as in site.yml."""
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "zfs_storage.yml"),
               "-e", "@%s" % (SCENARIO / "vars" / "policy.yml")]
    if extra_vars is not None:
        path = tmp_path / "zfs-extra.yml"
        path.write_text(yaml.safe_dump(extra_vars))
        command += ["-e", "@%s" % path]
    return subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, check=False)


def test_pool_on_the_scratch_disk_with_ashift_12(host):
    assert host.check_output("zpool list -H -o name,health %s", POOL).split() == [POOL, "ONLINE"]
    assert host.check_output("zpool get -Hp -o value ashift %s", POOL).strip() == "12"
    status = host.check_output("zpool status -P %s", POOL)
    assert "virtio-kvmops-scratch" in status


def test_guest_filesystem_properties(host):
    assert zget(host, GUESTS, "type") == "filesystem"
    assert zget(host, GUESTS, "recordsize") == str(64 * 1024)
    assert zget(host, GUESTS, "atime") == "off"
    assert zget(host, GUESTS, "compression") == "lz4"


@pytest.mark.parametrize("zvol, size", sorted(ZVOLS.items()))
def test_zvols_for_guest_disks(host, zvol, size):
    assert zget(host, zvol, "type") == "volume"
    assert zget(host, zvol, "volsize") == str(size)
    assert zget(host, zvol, "volblocksize") == str(16 * 1024)
    assert zget(host, zvol, "volmode") == "dev"
    assert zget(host, zvol, "compression") == "lz4"
    assert zget(host, zvol, "sync") == "standard"
    assert zget(host, zvol, "logbias") == "latency"
    assert host.file("/dev/zvol/%s" % zvol).exists


def test_sparse_zvol_has_no_reservation(host):
    assert zget(host, "kvmlab/guests/disk1", "refreservation") == "0"
    assert int(zget(host, "kvmlab/guests/disk0", "refreservation")) >= 1024 * MIB


def test_arc_limits_as_planned_now_and_at_boot(host):
    total_mb = node_memtotal_mb(host)
    arc_min = max(32, min(total_mb // 32, 256 // 2)) * MIB   # zfs(4) default, at most half the max
    stats = arcstats(host)
    assert int(stats["c_max"]) == ARC_MAX
    assert int(stats["c_min"]) == arc_min
    lines = [line for line in host.file("/etc/modprobe.d/zfs.conf").content_string.splitlines()
             if not line.startswith("#")]
    assert lines == ["options zfs zfs_arc_max=%d zfs_arc_min=%d" % (ARC_MAX, arc_min)]
    assert host.file("/sys/module/zfs/parameters/zfs_arc_max").content_string.strip() == str(ARC_MAX)


def test_no_ignored_tunable_in_the_kernel_log(host):
    assert "ignoring tunable" not in host.check_output("dmesg")


def test_arc_plus_hugepages_plus_reserve_fit(host):
    pages_mb = 0
    for node in (0, 1):
        pages_mb += int(host.file("/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages"
                                  % node).content_string) * 2
    # huge pages 16 + 80 (192 MiB) + ARC 256 MiB + the default reserve (1 GiB + 4 % per node)
    assert pages_mb + 256 + 2 * 1024 <= node_memtotal_mb(host)


def test_libvirt_pool_over_the_guest_dataset(host):
    info = host.check_output(VIRSH + "pool-info %s", LIBVIRT_POOL)
    assert re.search(r"^State:\s+running$", info, re.M), info
    assert re.search(r"^Persistent:\s+yes$", info, re.M), info
    assert re.search(r"^Autostart:\s+yes$", info, re.M), info
    xml = host.check_output(VIRSH + "pool-dumpxml --inactive %s", LIBVIRT_POOL)
    assert re.search(r"<pool type=.zfs.>", xml) and "<name>kvmlab/guests</name>" in xml, xml


def test_libvirt_pool_lists_the_zvols(host):
    # the role made the zvols, then refreshed (or started) the pool: libvirt names them by
    # their last component (storage_backend_zfs.c)
    names = vol_list(host)
    assert "disk0" in names and "disk1" in names, names
    path = host.check_output(VIRSH + "vol-path --pool %s %s", LIBVIRT_POOL, "disk0").strip()
    assert path == "/dev/zvol/kvmlab/guests/disk0"


def test_sanoid_conf_has_the_planned_policy(host):
    text = host.file(SANOID_CONF).content_string
    assert text.startswith("# Managed by Ansible (kvmops.hypervisor.zfs_storage)")
    assert [line for line in text.splitlines() if line and not line.startswith("#")] == SANOID_SECTION
    lines = text.splitlines()
    assert lines[lines.index("hourly = 2") - 1] == "# zfs_storage_snapshots[0].hourly"


def test_sanoid_reads_the_policy(host):
    # sanoid dies on a key it does not know (init_config); --readonly takes and prunes nothing
    result = host.run("sanoid --readonly --take-snapshots --verbose")
    assert result.rc == 0, result.stdout + result.stderr
    assert "FATAL" not in result.stdout + result.stderr


def test_sanoid_timer_enabled_and_active(host):
    assert host.run("systemctl is-enabled %s", "sanoid.timer").stdout.strip() == "enabled"
    assert host.run("systemctl is-active %s", "sanoid.timer").stdout.strip() == "active"


# Two runs of the role and one of site.yml (~5 min of TCG): in make test, as issue 14's
# verification asks (the hand changes are what an operator meets first).
def test_hand_changes_restored_or_reported(host, tmp_path):
    """One run of the role: a settable property changed by hand is restored; a zvol made by
    hand with another volblocksize (creation-only) is reported and left intact; with
    zfs_storage_strict the same run fails."""
    host.check_output("zfs set compression=off %s", "kvmlab/guests/disk0")
    host.run("zfs destroy %s", "kvmlab/guests/handmade")
    host.check_output("zfs create -V 64M -b 8192 %s", "kvmlab/guests/handmade")
    policy = yaml.safe_load((SCENARIO / "vars" / "policy.yml").read_text())
    datasets = list(policy["zfs_storage_datasets"]) + [
        {"name": "kvmlab/guests/handmade", "type": "volume", "size": "64M"}]
    try:
        proc = converge({"zfs_storage_datasets": datasets}, tmp_path)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert zget(host, "kvmlab/guests/disk0", "compression") == "lz4"
        assert "creation-only properties differ" in proc.stdout + proc.stderr
        assert zget(host, "kvmlab/guests/handmade", "volblocksize") == "8192"
        # the running pool did not list the new zvol: the role refreshed it
        assert "handmade" in vol_list(host)
        strict = converge({"zfs_storage_datasets": datasets, "zfs_storage_strict": True}, tmp_path)
        # the failure is on stderr ([ERROR]: Task failed), wrapped: compare with folded spaces
        output = " ".join((strict.stdout + strict.stderr).split())
        assert strict.returncode != 0 and "volblocksize is 8192" in output, output[-3000:]
        # site.yml refuses the same before any role writes (issue 21): its pre_tasks ask
        # zfs_datasets read-only, so numa_pinning, hugepages... never start. The role-alone
        # play above leaves its lock (zfs_storage.yml has no release); site.yml must not
        # take one before it refuses.
        host.run("rm -f %s", "/var/lib/kvmops/run.lock")
        command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                   str(ROOT / "playbooks" / "site.yml"),
                   "-e", "@%s" % (SCENARIO / "vars" / "policy.yml"), "-e", "@%s" % (tmp_path / "zfs-extra.yml")]
        site = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, check=False)
        output = " ".join((site.stdout + site.stderr).split())
        assert site.returncode != 0 and "volblocksize is 8192" in output, output[-3000:]
        assert re.search(r"kvmlab\s+: ok=\d+\s+changed=0\s.*failed=1", output), output[-3000:]
        assert "changed: [kvmlab]" not in site.stdout
        # the failing task is the last one the play started (ansible-core 2.19 prints the
        # error itself on stderr): the read-only check, before any role's first task
        failed_at = site.stdout.rsplit("TASK [", 1)[1]
        assert failed_at.startswith("kvmops.hypervisor.zfs_storage : Check the planned pools and datasets"), failed_at
        assert not host.file("/var/lib/kvmops/run.lock").exists
    finally:
        host.run("zfs destroy %s", "kvmlab/guests/handmade")
        host.run(VIRSH + "pool-refresh %s", LIBVIRT_POOL)


def test_audit_has_the_zfs_rows(lab_audit):
    report = lab_audit
    rows = dict((row["item"], row["status"]) for row in report["rows"])
    for item in ("/etc/modprobe.d/zfs.conf", "/sys/module/zfs/parameters/zfs_arc_max",
                 "/sys/module/zfs/parameters/zfs_arc_min", SANOID_CONF, LIBVIRT_POOL):
        assert rows.get(item) == "applied", (item, rows.get(item))
    pool = [row for row in report["rows"] if row["area"] == "libvirt pool"]
    assert [row["item"] for row in pool] == [LIBVIRT_POOL]
    # libvirt writes /run/libvirt/storage/<pool>.xml when it starts a pool, but libvirt 9.0
    # (Debian 12) restarted by its idle timeout runs the autostarted pool without it: the
    # audit, which reads files only, then says "state unknown" and leaves the running state
    # to virsh (test_libvirt_pool_over_the_guest_dataset). Never "inactive" for a running pool.
    assert pool[0]["actual"] in ("zfs kvmlab/guests, active, autostart",
                                 "zfs kvmlab/guests, state unknown, autostart"), pool[0]
    assert pool[0]["expected"] == "zfs kvmlab/guests, active, autostart"

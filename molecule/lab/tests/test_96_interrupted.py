"""Issue 21 on the lab host: a converge killed halfway (kill -9 of ansible-playbook) or a
power cut (QEMU stopped) while GRUB's configuration is being regenerated leaves a host that
boots with a valid grub.cfg holding either the old or the new command line, and a rerun
converges, the run after it changing nothing.

The fault is placed, not raced: a script in /etc/grub.d (grub-mkconfig runs each of them)
marks the moment and sleeps, so the kill lands while grub-mkconfig runs, after the kvmops
drop-in is written and before grub.cfg is renamed: the drop-in is new, grub.cfg old. A
rerun must then see grub.cfg out of date although its own drop-in is unchanged (the
reboot role's comparison of the next boot with the drop-ins), and take over the dead
run's lock. The play is nvme_reboot.yml with nvme.write_queues=1 and reboots not allowed;
cleanup converges the lab policy again (the running command line never changed).

And a full root file system: the same play fails naming the file it could not write, every
boot and configuration file stays as it was (checksums), no temporary file is left, and
once space is freed a rerun converges.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
HOOK = "/etc/grub.d/05_kvmops_fault"
MARK = "/run/kvmops-fault-mkconfig"
ARG = "nvme.write_queues=1"
HOOK_TEXT = "#!/bin/sh\n# kvmops fault test: hold grub-mkconfig here\ntouch %s\nsleep 45\n" % MARK


def command(tmp_path, name, extra_vars):
    extra = tmp_path / ("%s.yml" % name)
    extra.write_text(yaml.safe_dump(extra_vars))
    return ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "nvme_reboot.yml"),
            "-e", "@%s" % (SCENARIO / "vars" / "policy.yml"), "-e", "@%s" % extra]


def play(tmp_path, name, extra_vars):
    return subprocess.run(command(tmp_path, name, extra_vars), env=dict(os.environ), capture_output=True,
                          text=True, check=False)


def changed(output):
    match = re.search(r"kvmlab\s+: ok=\d+\s+changed=(\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


def linux_lines(host):
    return [line for line in host.file("/boot/grub/grub.cfg").content_string.splitlines()
            if line.strip().startswith("linux")]


def boot_config_is_whole(host):
    """grub.cfg parses (grub-script-check), has kernel entries, and each holds the
    argument in all or in none: the old command line or the new, never a mix."""
    check = host.run("grub-script-check /boot/grub/grub.cfg")
    assert check.rc == 0, check.stderr
    lines = linux_lines(host)
    assert lines, "no linux line in grub.cfg"
    having = [ARG in line.split() for line in lines]
    assert all(having) or not any(having), lines
    return all(having)


def wait_for(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(2)
    raise AssertionError("%s: not within %d s" % (what, seconds))


def start_held(host, tmp_path, name):
    """Install the hook, start the play, return it once grub-mkconfig is held."""
    host.check_output("rm -f %s", MARK)
    host.check_output("printf '%%s' %s > %s && chmod 755 %s", HOOK_TEXT, HOOK, HOOK)
    proc = subprocess.Popen(command(tmp_path, name, {"nvme_queues_write_queues": 1, "kvmops_reboot_allowed": False}),
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_for(lambda: host.file(MARK).exists or proc.poll() is not None, 900, "grub-mkconfig reached")
    except AssertionError:
        proc.kill()
        raise
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    # the drop-in is written (the role wrote it before notifying the regeneration)
    assert ARG in host.check_output("cat /etc/default/grub.d/*kvmops*.cfg")
    return proc


def converge_again(host, tmp_path, name):
    host.run("rm -f %s %s", HOOK, MARK)
    rerun = play(tmp_path, name + "-rerun", {"nvme_queues_write_queues": 1, "kvmops_reboot_allowed": False})
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-3000:]
    assert boot_config_is_whole(host), "the rerun did not regenerate grub.cfg with %s" % ARG
    again = play(tmp_path, name + "-again", {"nvme_queues_write_queues": 1, "kvmops_reboot_allowed": False})
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert changed(again.stdout) == 0, again.stdout[-3000:]
    return output


def restore(host, tmp_path, name, running):
    host.run("rm -f %s %s", HOOK, MARK)
    cleanup = play(tmp_path, name + "-cleanup", {})
    assert cleanup.returncode == 0, cleanup.stdout[-3000:]
    assert not boot_config_is_whole(host)
    assert host.file("/proc/cmdline").content_string.split() == running


@pytest.mark.extra
def test_kill_9_during_the_grub_regeneration(host, tmp_path):
    running = host.file("/proc/cmdline").content_string.split()
    assert ARG not in running
    try:
        proc = start_held(host, tmp_path, "kill")
        os.killpg(proc.pid, signal.SIGKILL)  # ansible-playbook and its workers, at once
        proc.wait(timeout=60)
        # the module on the host may still finish; wait until grub-mkconfig is gone
        wait_for(lambda: host.run("pgrep -f %s", "[g]rub-mkconfig").rc != 0, 120, "grub-mkconfig ended")
        host.run("rm -f %s", HOOK)
        boot_config_is_whole(host)
        output = converge_again(host, tmp_path, "kill")
        # the killed run's lock was taken over (its controller process is gone), not waited on
        assert "another kvmops run holds" not in output
        assert not host.file("/var/lib/kvmops/run.lock").exists
    finally:
        restore(host, tmp_path, "kill", running)


@pytest.mark.extra
def test_power_cut_during_the_grub_regeneration(host, lab, tmp_path):
    running = host.file("/proc/cmdline").content_string.split()
    before = host.file("/proc/sys/kernel/random/boot_id").content_string.strip()
    try:
        proc = start_held(host, tmp_path, "power")
        lab("restart")  # QEMU stopped: the guest loses what it had not written
        proc.wait(timeout=600)
        assert host.file("/proc/sys/kernel/random/boot_id").content_string.strip() != before
        # it came up through GRUB with the command line it had (grub.cfg was still the old one)
        assert host.file("/proc/cmdline").content_string.split() == running
        host.run("rm -f %s", HOOK)
        assert not boot_config_is_whole(host)
        converge_again(host, tmp_path, "power")
    finally:
        restore(host, tmp_path, "power", running)


FILLER = "/var/tmp/kvmops-fault-filler"
BOOT_FILES = ("/boot/grub/grub.cfg /etc/default/grub /etc/default/grub.d/*.cfg /etc/sysctl.d/*.conf "
              "/etc/modprobe.d/*.conf")


@pytest.mark.extra
def test_root_file_system_full(host, tmp_path):
    running = host.file("/proc/cmdline").content_string.split()
    sums = host.check_output("sha256sum " + BOOT_FILES)
    tmp_on_root = host.check_output("findmnt -n -o TARGET --target /tmp").strip() == "/"
    host.check_output("touch /run/kvmops-fault-stamp")
    try:
        # the free blocks, root's reserve included (f_bfree), less ext4's reserved clusters
        # (4096 on the lab: /sys/fs/ext4/<dev>/reserved_clusters, not for data) and a
        # margin, then the rest block by block until the kernel says ENOSPC
        host.check_output("fallocate -l $(( ($(stat -f -c %s /) - 8192) * $(stat -f -c %s /) )) %s",
                          "%f", "%S", FILLER)
        host.run("dd if=/dev/zero of=%s bs=4096 oflag=append conv=notrunc", FILLER)
        assert host.run("sh -c %s", "echo x > /var/tmp/kvmops-fault-probe").rc != 0, "the disk is not full"
        extra = {"nvme_queues_write_queues": 1, "kvmops_reboot_allowed": False,
                 "kvmops_lock_path": "/run/kvmops-fault.lock"}
        if tmp_on_root:
            # /tmp on the full root (Debian 12's default): Python finds no temporary directory,
            # so no Ansible module starts at all (AnsiballZ unpacks there): the run stops at
            # its first task, having written nothing
            proc = play(tmp_path, "full-tmp", extra)
            output = " ".join((proc.stdout + proc.stderr).split())
            assert proc.returncode != 0 and "No usable temporary directory" in output, output[-3000:]
            assert host.check_output("sha256sum " + BOOT_FILES) == sums
            host.check_output("mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp")
        # /tmp a tmpfs (Debian 13's default, or mounted above) and Ansible's remote temporary
        # directory there too (~/.ansible/tmp is on the full root: Ansible could not even
        # start a module): the modules run, the run lock is on /run, so the first write on /
        # is the role's drop-in: it fails naming it
        proc = play(tmp_path, "full", dict(extra, ansible_remote_tmp="/tmp/kvmops-fault-ansible"))
        output = " ".join((proc.stdout + proc.stderr).split())
        assert proc.returncode != 0, output[-3000:]
        assert "No space left on device" in output and "90-kvmops-nvme_queues.cfg" in output, output[-3000:]
        assert host.check_output("sha256sum " + BOOT_FILES) == sums
        left = host.check_output("find /etc /boot /var/lib/kvmops -xdev -newer /run/kvmops-fault-stamp -type f")
        assert left.strip() == "", left
        boot_config_is_whole(host)
    finally:
        if tmp_on_root:
            host.run("umount /tmp")
        host.run("rm -f %s /var/tmp/kvmops-fault-probe /run/kvmops-fault-stamp /run/kvmops-fault.lock", FILLER)
    try:
        rerun = play(tmp_path, "full-rerun", {"nvme_queues_write_queues": 1, "kvmops_reboot_allowed": False})
        assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
        assert boot_config_is_whole(host)
    finally:
        restore(host, tmp_path, "full", running)

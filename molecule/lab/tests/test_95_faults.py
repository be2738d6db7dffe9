"""Issue 21 on the lab host: two runs at once (the second fails naming the first, the
first completes and releases the lock), and a reboot the boot loader ignores is not
repeated.

The boot loader is made to ignore what kvmops writes the way a real one does (another
configuration wins over grub.cfg's default entry): /boot/grub/custom.cfg, which grub.cfg
sources last (/etc/grub.d/41_custom), defines an entry with the running command line and
makes it the default. A play then adds nvme.write_queues=1 and reboots: the host comes
back without it, the play fails naming it and records the attempt; the next play refuses
to reboot again (same boot id); the audit shows the argument pending. Cleanup: custom.cfg
and the record removed, the lab policy converged again (no reboot: the running command
line is the lab policy's).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
CUSTOM = "/boot/grub/custom.cfg"
RECORD = "/var/lib/kvmops/reboot-ignored.json"


def play(path, tmp_path, extra_vars=None):
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(path),
               "-e", "@%s" % (SCENARIO / "vars" / "policy.yml")]
    if extra_vars:
        extra = tmp_path / "faults-extra.yml"
        extra.write_text(yaml.safe_dump(extra_vars))
        command += ["-e", "@%s" % extra]
    return subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, check=False)


def play_command(path, tmp_path, name):
    extra = tmp_path / ("%s.yml" % name)
    extra.write_text(yaml.safe_dump({"kvmops_lock_wait": 0}))
    return ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(path),
            "-e", "@%s" % (SCENARIO / "vars" / "policy.yml"), "-e", "@%s" % extra]


@pytest.mark.extra
def test_two_runs_at_once_the_second_fails_naming_the_first(host, tmp_path):
    procs = [subprocess.Popen(play_command(SCENARIO / "nvme_reboot.yml", tmp_path, "run%d" % index),
                              env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for index in range(2)]
    outputs = [proc.communicate(timeout=1800)[0] for proc in procs]
    codes = [proc.returncode for proc in procs]
    assert sorted(codes) == [0, 2], (codes, [out[-2000:] for out in outputs])
    loser = " ".join(outputs[codes.index(2)].split())
    assert "another kvmops run holds this host's lock" in loser, loser[-3000:]
    assert not host.file("/var/lib/kvmops/run.lock").exists  # the winner released it


def boot_id(host):
    return host.file("/proc/sys/kernel/random/boot_id").content_string.strip()


def first_entry(grub_cfg):
    """The body of grub.cfg's first menuentry (what the running kernel booted)."""
    match = re.search(r"^menuentry [^{]*\{\n(.*?)^\}", grub_cfg, re.S | re.M)
    assert match, "no menuentry in grub.cfg"
    return match.group(1)


@pytest.mark.extra
def test_a_reboot_the_boot_loader_ignores_is_not_repeated(host, tmp_path):
    running = host.file("/proc/cmdline").content_string.split()
    assert "nvme.write_queues=1" not in running
    body = first_entry(host.file("/boot/grub/grub.cfg").content_string)
    custom = ("# kvmops fault test: the boot loader ignores what kvmops writes\n"
              "menuentry 'kvmops fault test' --id kvmops-fault {\n%s}\nset default=kvmops-fault\n" % body)
    host.check_output("printf '%%s' %s > %s", custom, CUSTOM)
    try:
        before = boot_id(host)
        first = play(SCENARIO / "nvme_reboot.yml", tmp_path, {"nvme_queues_write_queues": 1})
        output = " ".join((first.stdout + first.stderr).split())
        assert first.returncode != 0 and "did not get the arguments" in output, output[-3000:]
        assert boot_id(host) != before  # it did reboot, once
        assert "nvme.write_queues=1" not in host.file("/proc/cmdline").content_string.split()
        assert "nvme.write_queues=1" in host.file(RECORD).content_string

        rebooted = boot_id(host)
        second = play(SCENARIO / "nvme_reboot.yml", tmp_path, {"nvme_queues_write_queues": 1})
        output = " ".join((second.stdout + second.stderr).split())
        assert second.returncode != 0 and "Not rebooting kvmlab again" in output, output[-3000:]
        assert boot_id(host) == rebooted  # no second reboot: no loop

        audit_dir = tmp_path / "audit"
        audit = play(ROOT / "playbooks" / "audit.yml", tmp_path,
                     {"nvme_queues_write_queues": 1, "kvmops_audit_dir": str(audit_dir)})
        assert audit.returncode == 0, audit.stdout[-3000:]
        report = yaml.safe_load(next(audit_dir.glob("*.json")).read_text())
        rows = [row for row in report["rows"] if "nvme.write_queues" in row["item"]]
        assert rows and all(row["status"] == "pending-reboot" for row in rows), rows
    finally:
        host.run("rm -f %s %s", CUSTOM, RECORD)
        cleanup = play(SCENARIO / "nvme_reboot.yml", tmp_path)
        assert cleanup.returncode == 0, cleanup.stdout[-3000:]
        assert host.file("/proc/cmdline").content_string.split() == running

"""Issue 21 on the lab host: a host that does not come back from its reboot within the
timeout stops site.yml there; the next batch is never touched (serial 1, the default
max_fail_percentage 0 of site.yml).

The fleet is the lab host twice: ``kvmlab`` and ``kvmlab-next``, the same machine under a
second inventory name (a second batch that site.yml would reach if it went on). A kernel
argument the lab policy does not have (nvme.write_queues=1) makes site.yml reboot kvmlab,
with a reboot timeout (20 s) shorter than any TCG boot: the reboot fails as if the host had
not come back. Then: site.yml failed on kvmlab, no task ran on kvmlab-next, and the host
(which does come back, later) booted once. Cleanup: the lab policy converged again with a
reboot back to its command line. Runs site.yml with --tags nvme_queues,reboot (the plan of
every section still runs: its pre_tasks are tagged always).
"""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
ARG = "nvme.write_queues=1"


def two_batch_inventory(tmp_path):
    source = yaml.safe_load(Path(os.environ["MOLECULE_INVENTORY_FILE"]).read_text())
    connection = dict(source["all"]["hosts"]["kvmlab"])
    path = tmp_path / "two-batches.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"kvm_hosts": {"hosts": {
        "kvmlab": connection, "kvmlab-next": dict(connection)}}}}}))
    return path


def site(inventory, tmp_path, extra_vars):
    extra = tmp_path / "batch-extra.yml"
    extra.write_text(yaml.safe_dump(extra_vars))
    command = ["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / "site.yml"),
               "--tags", "nvme_queues,reboot", "-e", "@%s" % (SCENARIO / "vars" / "policy.yml"),
               "-e", "@%s" % extra]
    return subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, check=False)


def boot_id(host):
    return host.file("/proc/sys/kernel/random/boot_id").content_string.strip()


def wait_back(host, seconds=900):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if host.run("true").rc == 0:
                return
        # testinfra raises while SSH is down
        except Exception:  # pylint: disable=broad-except
            pass
        time.sleep(10)
    raise AssertionError("the lab host did not come back in %d s" % seconds)


@pytest.mark.extra
def test_a_host_that_does_not_come_back_stops_the_next_batch(host, tmp_path):
    running = host.file("/proc/cmdline").content_string.split()
    assert ARG not in running
    before = boot_id(host)
    inventory = two_batch_inventory(tmp_path)
    try:
        proc = site(inventory, tmp_path, {"nvme_queues_write_queues": 1, "reboot_timeout": 20,
                                          "kvmops_serial": 1})
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, output[-3000:]
        assert re.search(r"fatal: \[kvmlab\]", output), output[-3000:]
        # the next batch never started: no task result and no recap line for it
        assert "[kvmlab-next]" not in proc.stdout, proc.stdout[-3000:]
        assert not re.search(r"^kvmlab-next\s+:", proc.stdout, re.M), proc.stdout[-3000:]
        wait_back(host)
        assert boot_id(host) != before, output[-4000:]  # it did reboot, once, and came back late
        assert ARG in host.file("/proc/cmdline").content_string.split()
    finally:
        wait_back(host)
        # the lab policy again, on kvmlab alone, rebooting back to its command line
        cleanup = subprocess.run(
            ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "nvme_reboot.yml"),
             "-e", "@%s" % (SCENARIO / "vars" / "policy.yml")],
            env=dict(os.environ), capture_output=True, text=True, check=False)
        assert cleanup.returncode == 0, cleanup.stdout[-3000:]
        assert host.file("/proc/cmdline").content_string.split() == running

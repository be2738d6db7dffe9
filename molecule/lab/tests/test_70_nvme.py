# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 15 on the lab host after playbooks/site.yml: the NVMe queue settings are in the
udev rule file and in sysfs, survive a replayed change event, udev logged no write
failure, and the admin queue interrupt of nvme0 stays on the housekeeping CPUs.

Lab: one emulated NVMe controller nvme0 (serial kvmopslab0) with one namespace nvme0n1;
policy housekeeping CPUs 0-1, isolated 2-3, isolation nohz_full (molecule/lab/vars/policy.yml),
so rq_affinity=auto plans 2."""

import pytest

RULES = "/etc/udev/rules.d/90-kvmops-nvme.rules"
MATCH = 'ACTION=="add|change", SUBSYSTEM=="block", KERNEL=="nvme[0-9]*n[0-9]*", ENV{DEVTYPE}=="disk"'
QUEUE = "/sys/block/nvme0n1/queue/"
HOUSEKEEPING = {0, 1}


def cpulist(text):
    cpus = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, _sep, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def read(host, path):
    return host.file(path).content_string.strip()


def planned_lines(host):
    return [line for line in host.file(RULES).content_string.splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def nvme(host, shape):
    if not shape.get("nvme") or not host.file("/sys/block/nvme0n1").exists:
        pytest.skip("the lab host has no NVMe namespace nvme0n1")
    return host


def test_rule_file_holds_the_planned_line(nvme):
    assert nvme.file(RULES).exists
    lines = planned_lines(nvme)
    assert lines[0].startswith(MATCH + ", ")
    assert 'ATTR{queue/scheduler}="none"' in lines[0]
    assert 'ATTR{queue/rq_affinity}="2"' in lines[0]


def test_scheduler_none_is_selected(nvme):
    # The lab's nvme0n1 is the multipath head of subsystem nvmesubsys0, a queue without
    # I/O scheduler support: the kernel shows a bare "none" (block/elevator.c,
    # elv_iosched_show), else the selected word is bracketed.
    words = read(nvme, QUEUE + "scheduler").split()
    assert "[none]" in words or words == ["none"], words


def test_values_unchanged_after_a_change_event(nvme):
    names = ("scheduler", "nr_requests", "read_ahead_kb", "rq_affinity", "nomerges", "iostats")
    before = dict((name, read(nvme, QUEUE + name)) for name in names)
    nvme.run_test("udevadm trigger --action=change --subsystem-match=block --sysname-match='nvme*n*'")
    nvme.run_test("udevadm settle --timeout=120")
    after = dict((name, read(nvme, QUEUE + name)) for name in names)
    assert after == before
    assert read(nvme, QUEUE + "rq_affinity") == "2"
    # the lab policy: read_ahead_kb 128 for all, nomerges 1 by the override for serial kvmopslab0
    assert read(nvme, QUEUE + "read_ahead_kb") == "128"
    assert read(nvme, QUEUE + "nomerges") == "1"


def test_override_matches_the_serial(nvme):
    lines = planned_lines(nvme)
    assert any('ATTRS{serial}=="kvmopslab0"' in line and 'ATTR{queue/nomerges}="1"' in line for line in lines), lines


def test_udev_logged_no_write_failure_for_nvme(nvme):
    journal = nvme.check_output("journalctl -b -u systemd-udevd --no-pager -o cat || true")
    bad = [line for line in journal.splitlines()
           if "nvme" in line and ("Failed to write ATTR" in line or "Invalid" in line)]
    assert bad == []


def test_admin_queue_irq_on_housekeeping_cpus(nvme):
    lines = [line.split() for line in nvme.file("/proc/interrupts").content_string.splitlines()]
    admin = [fields[0].rstrip(":") for fields in lines if fields and fields[-1] == "nvme0q0"]
    assert len(admin) == 1, "nvme0q0 not in /proc/interrupts"
    effective = cpulist(read(nvme, "/proc/irq/%s/effective_affinity_list" % admin[0]))
    assert effective and effective <= HOUSEKEEPING

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 15 on the lab host after playbooks/site.yml: the NVMe queue settings are in the
udev rule file and in sysfs, survive a replayed change event, udev logged no write
failure, and the admin queue interrupt of nvme0 stays on the housekeeping CPUs.

Lab: one emulated NVMe controller nvme0 (serial kvmopslab0) with one namespace nvme0n1;
policy housekeeping CPUs 0-1, isolated 2-3, isolation nohz_full (molecule/lab/vars/policy.yml),
so rq_affinity=auto plans 2; nvme_queues_poll_queues 1 (a kernel argument, in effect
after the converge's reboot): the kernel splits default/read/poll queues and fio's polled
io_uring reads pinned to housekeeping CPUs add no nvme interrupt on the isolated ones."""

import json

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


BLK_MQ_ONLY = ("scheduler", "nr_requests", "rq_affinity")


def blk_mq(nvme):
    """False on Linux 6.10+ (Debian 13): the multipath head nvme0n1 is a bio-based queue
    without the blk-mq files (block/blk-sysfs.c, blk_mq_queue_attr_visible)."""
    return nvme.file(QUEUE + "scheduler").exists


def test_scheduler_none_is_selected(nvme):
    # The lab's nvme0n1 is the multipath head of subsystem nvmesubsys0, a queue without
    # I/O scheduler support. Before 6.10 the kernel shows a bare "none" there (block/elevator.c,
    # elv_iosched_show); from 6.10 the head has no scheduler file and the I/O goes through the
    # hidden path queue nvme0c0n1, where a multi-queue device gets "none" from the kernel.
    path = QUEUE + "scheduler"
    if not blk_mq(nvme):
        paths = [name for name in nvme.check_output("ls /sys/block").split()
                 if name.startswith("nvme0c") and name.endswith("n1")]
        assert paths, "a head without blk-mq files and without a path disk nvme0cXn1"
        path = "/sys/block/%s/queue/scheduler" % paths[0]
    words = read(nvme, path).split()
    assert "[none]" in words or words == ["none"], words


def test_blk_mq_settings_planned_only_where_the_queue_has_them(nvme, lab_audit):
    rows = [row for row in lab_audit["rows"] if "/sys/block/nvme0n1/queue/" in str(row.get("item"))]
    planned = set(row["item"].rsplit("/", 1)[1] for row in rows)
    assert "read_ahead_kb" in planned and "nomerges" in planned, planned
    if blk_mq(nvme):
        assert "rq_affinity" in planned, planned
    else:
        assert not planned & set(BLK_MQ_ONLY), planned


def test_values_unchanged_after_a_change_event(nvme):
    names = [name for name in ("scheduler", "nr_requests", "read_ahead_kb", "rq_affinity", "nomerges", "iostats")
             if blk_mq(nvme) or name not in BLK_MQ_ONLY]
    before = dict((name, read(nvme, QUEUE + name)) for name in names)
    nvme.run_test("udevadm trigger --action=change --subsystem-match=block --sysname-match='nvme*n*'")
    nvme.run_test("udevadm settle --timeout=120")
    after = dict((name, read(nvme, QUEUE + name)) for name in names)
    assert after == before
    if blk_mq(nvme):
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


# --- polled queues (lab policy nvme_queues_poll_queues: 1) ---------------------------

POLL_QUEUES = 1
ISOLATED = {2, 3}
FIO = ("taskset -c 0-1 fio --name=kvmops --filename=/dev/nvme0n1 --readonly --ioengine=io_uring "
       "--direct=1 --rw=randread --bs=4k --size=64M --time_based --runtime=4 --output-format=json")


def nvme_interrupts(host):
    """{cpu: count} summed over nvme0's I/O queue lines (nvme0q1...), from /proc/interrupts."""
    rows = host.file("/proc/interrupts").content_string.splitlines()
    cpus = [int(word[3:]) for word in rows[0].split()]
    totals = dict((cpu, 0) for cpu in cpus)
    for row in rows[1:]:
        fields = row.split()
        if fields and fields[-1].startswith("nvme0q") and fields[-1] != "nvme0q0":
            for cpu, count in zip(cpus, fields[1:1 + len(cpus)]):
                totals[cpu] += int(count)
    return totals


def fio_reads(host, hipri):
    out = host.check_output(FIO + (" --hipri=1" if hipri else ""))
    return json.loads(out[out.index("{"):])["jobs"][0]["read"]["total_ios"]


def test_kernel_split_default_read_poll_queues(nvme):
    assert "nvme.poll_queues=%d" % POLL_QUEUES in read(nvme, "/proc/cmdline").split()
    cpus = len(cpulist(read(nvme, "/sys/devices/system/cpu/online")))
    log = nvme.check_output("dmesg")
    assert "nvme nvme0: %d/0/%d default/read/poll queues" % (cpus, POLL_QUEUES) in log
    assert read(nvme, QUEUE + "io_poll") == "1"


def test_polled_reads_on_housekeeping_cpus_add_no_interrupt_on_isolated_cpus(nvme):
    """fio pinned to CPUs 0-1: interrupt-driven reads raise nvme0's counters on
    housekeeping CPUs only (the counter works), polled reads (--hipri) raise almost none,
    and neither adds one on an isolated CPU."""
    before = nvme_interrupts(nvme)
    plain_ios = fio_reads(nvme, hipri=False)
    middle = nvme_interrupts(nvme)
    polled_ios = fio_reads(nvme, hipri=True)
    after = nvme_interrupts(nvme)
    plain = dict((cpu, middle[cpu] - before[cpu]) for cpu in before)
    polled = dict((cpu, after[cpu] - middle[cpu]) for cpu in before)
    figures = {"plain_ios": plain_ios, "plain_irqs": plain, "polled_ios": polled_ios, "polled_irqs": polled}
    print("nvme interrupts per CPU: %s" % figures)
    assert plain_ios > 0 and polled_ios > 0
    assert sum(plain[cpu] for cpu in HOUSEKEEPING) > 0, figures
    assert all(plain[cpu] == 0 and polled[cpu] == 0 for cpu in ISOLATED), figures
    assert sum(polled.values()) * 10 < sum(plain.values()), figures

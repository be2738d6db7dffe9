"""kvmops.hypervisor.run_summary: the set_stats data of site.yml and audit.yml, from
hand-written audit reports (rows as audit_report makes them)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.filter.audit import FilterModule

run_summary = FilterModule().filters()["run_summary"]


def row(section, area, item, status, actual):
    return {"section": section, "area": area, "item": item, "expected": "x", "actual": actual,
            "status": status, "note": ""}


def report(host, *rows):
    return {"host": host, "rows": list(rows)}


KERNEL_APPLIED = row("numa_pinning", "kernel cmdline", "numa_pinning: irqaffinity=0-1", "applied", "running")
KERNEL_MISSING = row("hugepages", "kernel cmdline", "hugepages: hugepages=64", "drifted", "absent")
KERNEL_PENDING = row("hugepages", "kernel cmdline", "hugepages: hugepages=64", "pending-reboot", "next boot")
BOOT_DRIFT = row("hugepages", "boot state", "/sys/kernel/mm/hugepages/nr", "drifted", "0")
SWAP_OK = row("hugepages", "sysctl", "vm.swappiness", "applied", "10")
SWAP_OFF = row("hugepages", "sysctl", "vm.swappiness", "drifted", "60")
FILE_OK = row("sysctl_net", "file", "/etc/sysctl.d/90-kvmops-net.conf", "applied", "(ours)")
FILE_GONE = row("sysctl_net", "file", "/etc/sysctl.d/90-kvmops-net.conf", "drifted", "(missing)")


def run(host, before, after, reboot_required=None, check_mode=False, rebooted=False):
    return {"host": host, "before": before, "after": after, "reboot_required": reboot_required,
            "rebooted": rebooted, "check_mode": check_mode}


def test_audit_reports_count_every_row_and_change_nothing():
    assert run_summary([
        report("kvm1", KERNEL_APPLIED, SWAP_OK, FILE_OK),
        report("kvm2", KERNEL_PENDING, SWAP_OFF, FILE_GONE),
        report("kvm3", KERNEL_MISSING, BOOT_DRIFT, SWAP_OK),
    ]) == {
        "kvmops_hosts": 3,
        "kvmops_hosts_changed": 0, "kvmops_changed_hosts": [],
        "kvmops_reboots_pending": 1, "kvmops_reboot_pending_hosts": ["kvm2"],
        "kvmops_drift_count": 4, "kvmops_drifted_hosts": ["kvm2", "kvm3"],
    }


def test_a_run_counts_what_the_roles_changed_and_what_still_drifts():
    assert run_summary([
        # the sysctl and the file put right; nothing pending
        run("fixed", report("fixed", KERNEL_APPLIED, SWAP_OFF, FILE_GONE),
            report("fixed", KERNEL_APPLIED, SWAP_OK, FILE_OK), reboot_required=False),
        # nothing to do
        run("same", report("same", KERNEL_APPLIED, SWAP_OK), report("same", KERNEL_APPLIED, SWAP_OK),
            reboot_required=False),
        # a kernel argument written: the kernel rows still show the start (drifted), the
        # reboot role says a reboot is pending; the sysctl stayed drifted (a kernel reverting it)
        run("kernel", report("kernel", KERNEL_MISSING, BOOT_DRIFT, SWAP_OFF),
            report("kernel", KERNEL_MISSING, BOOT_DRIFT, SWAP_OFF), reboot_required=True),
    ]) == {
        "kvmops_hosts": 3,
        "kvmops_hosts_changed": 2, "kvmops_changed_hosts": ["fixed", "kernel"],
        "kvmops_reboots_pending": 1, "kvmops_reboot_pending_hosts": ["kernel"],
        "kvmops_drift_count": 1, "kvmops_drifted_hosts": ["kernel"],
    }


def test_without_the_reboot_role_a_reboot_is_pending_from_the_start_rows():
    summary = run_summary([
        run("pending", report("pending", KERNEL_PENDING), report("pending", KERNEL_PENDING)),
        run("written", report("written", KERNEL_MISSING), report("written", KERNEL_MISSING)),
        run("clean", report("clean", KERNEL_APPLIED), report("clean", KERNEL_APPLIED)),
    ])
    assert summary["kvmops_reboot_pending_hosts"] == ["pending", "written"]
    assert summary["kvmops_changed_hosts"] == ["written"]


def test_the_reboot_role_has_the_last_word_after_a_reboot():
    # rebooted in this run: the start rows say pending, the role's check after the reboot says done
    summary = run_summary([run("kvm1", report("kvm1", KERNEL_PENDING), report("kvm1", KERNEL_PENDING),
                               reboot_required=False, rebooted=True)])
    assert summary["kvmops_reboots_pending"] == 0
    assert summary["kvmops_changed_hosts"] == ["kvm1"]  # a reboot is a change


def test_check_mode_counts_what_a_run_would_change():
    summary = run_summary([
        run("kvm1", report("kvm1", KERNEL_MISSING, SWAP_OFF), report("kvm1", KERNEL_MISSING, SWAP_OFF),
            reboot_required=False, check_mode=True),
        run("kvm2", report("kvm2", KERNEL_APPLIED, SWAP_OK), report("kvm2", KERNEL_APPLIED, SWAP_OK),
            reboot_required=False, check_mode=True),
    ])
    assert summary == {
        "kvmops_hosts": 2,
        "kvmops_hosts_changed": 1, "kvmops_changed_hosts": ["kvm1"],
        "kvmops_reboots_pending": 1, "kvmops_reboot_pending_hosts": ["kvm1"],
        "kvmops_drift_count": 2, "kvmops_drifted_hosts": ["kvm1"],
    }


def test_rows_only_after_the_roles_are_not_a_change():
    # a section planned after the first read (the plan role's) has rows only after
    before = report("kvm1", SWAP_OK)
    after = report("kvm1", SWAP_OK, FILE_OK)
    assert run_summary([run("kvm1", before, after, reboot_required=False)])["kvmops_hosts_changed"] == 0


def test_an_empty_fleet():
    assert run_summary([]) == {
        "kvmops_hosts": 0, "kvmops_hosts_changed": 0, "kvmops_changed_hosts": [], "kvmops_reboots_pending": 0,
        "kvmops_reboot_pending_hosts": [], "kvmops_drift_count": 0, "kvmops_drifted_hosts": []}


@pytest.mark.parametrize("items, message", [
    ({"host": "x"}, "expects a list, one audit report or run record per host"),
    (["kvm1"], "each item must be an audit report or a run record, got 'kvm1'"),
    ([{"host": "kvm1"}], "host kvm1's report must be an audit report"),
    ([run("kvm1", {"host": "kvm1"}, report("kvm1"))], "kvm1: before must be an audit report"),
    ([run("kvm1", report("kvm1"), None)], "kvm1: after must be an audit report"),
])
def test_bad_input_names_what_is_wrong(items, message):
    with pytest.raises(AnsibleFilterError, match="^kvmops.hypervisor.run_summary: " + message):
        run_summary(items)


def record(host, after, changed, reboot_required=None, check_mode=False, rebooted=False):
    """site.yml's run record since the state is read once, after the roles."""
    return {"host": host, "after": after, "changed": changed, "reboot_required": reboot_required,
            "rebooted": rebooted, "check_mode": check_mode}


def test_a_record_read_after_the_roles_counts_the_tasks_changes_and_what_still_drifts():
    assert run_summary([
        record("fixed", report("fixed", KERNEL_APPLIED, SWAP_OK, FILE_OK), True, reboot_required=False),
        record("same", report("same", KERNEL_APPLIED, SWAP_OK), False, reboot_required=False),
        # a kernel argument written (the kernel rows show the start: drifted), the sysctl
        # still drifted after the run (a kernel reverting it)
        record("kernel", report("kernel", KERNEL_MISSING, BOOT_DRIFT, SWAP_OFF), False, reboot_required=True),
    ]) == {
        "kvmops_hosts": 3,
        "kvmops_hosts_changed": 2, "kvmops_changed_hosts": ["fixed", "kernel"],
        "kvmops_reboots_pending": 1, "kvmops_reboot_pending_hosts": ["kernel"],
        "kvmops_drift_count": 1, "kvmops_drifted_hosts": ["kernel"],
    }


def test_a_record_in_check_mode_counts_what_drifts_now_whatever_the_tasks_said():
    summary = run_summary([
        record("kvm1", report("kvm1", KERNEL_MISSING, SWAP_OFF), True, reboot_required=False, check_mode=True),
        record("kvm2", report("kvm2", KERNEL_APPLIED, SWAP_OK), False, reboot_required=False, check_mode=True),
    ])
    assert summary["kvmops_changed_hosts"] == ["kvm1"]
    assert summary["kvmops_reboot_pending_hosts"] == ["kvm1"]
    assert summary["kvmops_drift_count"] == 2


def test_a_record_rebooted_is_changed_and_the_reboot_role_has_the_last_word():
    summary = run_summary([record("kvm1", report("kvm1", KERNEL_PENDING), False, reboot_required=False,
                                  rebooted=True)])
    assert summary["kvmops_changed_hosts"] == ["kvm1"] and summary["kvmops_reboots_pending"] == 0


@pytest.mark.parametrize("changed", [None, "yes", 1])
def test_a_record_without_a_boolean_changed_is_refused(changed):
    with pytest.raises(AnsibleFilterError, match="kvm1: changed must be true or false"):
        run_summary([record("kvm1", report("kvm1"), changed)])


def test_a_record_in_image_mode_reads_no_state_and_counts_the_tasks_changes():
    summary = run_summary([
        dict(record("img1", None, True), image_mode=True),
        dict(record("img2", None, False, reboot_required=True), image_mode=True),
    ])
    assert summary["kvmops_changed_hosts"] == ["img1"]
    # the image's next boot differs from the running kernel (the reboot role's word)
    assert summary["kvmops_reboot_pending_hosts"] == ["img2"]
    assert summary["kvmops_drift_count"] == 0


def test_a_record_without_its_state_outside_image_mode_is_refused():
    with pytest.raises(AnsibleFilterError, match="kvm1: after must be an audit report"):
        run_summary([record("kvm1", None, False)])

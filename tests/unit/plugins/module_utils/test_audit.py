import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.report import (
    AuditError,
    audit_report,
    audit_table,
)


def facts(cmdline, pending, isolated=(), pages=None):
    pages = pages or {}
    return {
        "kernel": {"cmdline": cmdline, "pending_cmdline": pending,
                   "isolated": list(isolated), "nohz_full": []},
        "numa": {"nodes": [
            {"id": 0, "cpus": [0, 1], "hugepages": {"2048": {"total": pages.get(0, 0), "free": 0}}},
            {"id": 1, "cpus": [2, 3], "hugepages": {"2048": {"total": pages.get(1, 0), "free": 0}}},
        ]},
    }


PLAN = {
    "kernel_args": {
        "numa_pinning": [["isolcpus", "domain,managed_irq,1,3"], ["irqaffinity", "0,2"]],
        "hugepages": [["hugepagesz", "2M"], ["hugepages", "0:16,1:16"]],
    },
    "hugepages": {"2048": {"0": 16, "1": 16}},
    "warnings": ["w"],
}
BOOT = ["BOOT_IMAGE=/vmlinuz", "root=UUID=x", "ro"]
ARGS = ["isolcpus=domain,managed_irq,1,3", "irqaffinity=0,2", "hugepagesz=2M", "hugepages=0:16,1:16"]


def statuses(report, area):
    return [row["status"] for row in report["rows"] if row["area"] == area]


def test_fresh_host_reports_drift_everywhere():
    report = audit_report(facts(BOOT, BOOT), PLAN)
    assert report["drifted"] and not report["reboot_pending"]
    assert statuses(report, "kernel cmdline") == ["drifted"] * 4
    assert statuses(report, "cpu isolation") == ["drifted"]
    assert statuses(report, "huge pages") == ["drifted", "drifted"]


def test_written_but_not_rebooted_is_pending():
    report = audit_report(facts(BOOT, BOOT + ARGS), PLAN)
    assert statuses(report, "kernel cmdline") == ["pending-reboot"] * 4
    assert statuses(report, "cpu isolation") == ["pending-reboot"]
    assert statuses(report, "huge pages") == ["pending-reboot"] * 2
    assert report["reboot_pending"] and not report["drifted"]


def test_after_reboot_all_applied():
    report = audit_report(facts(BOOT + ARGS, BOOT + ARGS, isolated=[1, 3], pages={0: 16, 1: 16}), PLAN)
    assert report["summary"] == {"applied": 7, "pending-reboot": 0, "drifted": 0}


def test_fewer_pages_than_planned_is_drift_with_numbers():
    report = audit_report(facts(BOOT + ARGS, BOOT + ARGS, isolated=[1, 3], pages={0: 16, 1: 9}), PLAN)
    row = [r for r in report["rows"] if r["item"] == "node 1 2048 kB"][0]
    assert (row["expected"], row["actual"], row["status"]) == ("16", "9", "drifted")


def test_isolation_differs_from_plan():
    report = audit_report(facts(BOOT + ARGS, BOOT + ARGS, isolated=[3], pages={0: 16, 1: 16}), PLAN)
    row = [r for r in report["rows"] if r["area"] == "cpu isolation"][0]
    assert (row["expected"], row["actual"], row["status"]) == ("1,3", "3", "drifted")


def test_unreadable_boot_config_says_so():
    report = audit_report(facts(BOOT, None), PLAN)
    assert report["rows"][0]["actual"] == "absent (boot config unreadable)"


def test_init_args_after_separator_do_not_count():
    report = audit_report(facts(BOOT + ["--", "hugepagesz=2M"], BOOT), PLAN)
    row = [r for r in report["rows"] if r["item"] == "hugepages: hugepagesz=2M"][0]
    assert row["status"] == "drifted"


def test_sysctl_rows():
    sysctl = {"profile": {"net.core.somaxconn": "4096", "vm.max_map_count": "262144"},
              "live": {"net.core.somaxconn": "4096", "vm.max_map_count": "65530"},
              "differ": ["vm.max_map_count"], "unknown": ["net.x"]}
    report = audit_report(facts(BOOT, BOOT), {"kernel_args": {}}, sysctl)
    rows = dict((r["item"], (r["actual"], r["status"])) for r in report["rows"])
    assert rows == {"net.core.somaxconn": ("4096", "applied"),
                    "vm.max_map_count": ("65530", "drifted"),
                    "net.x": ("unknown key on this kernel", "drifted")}


def test_bad_input_named():
    with pytest.raises(AuditError, match="kvm_host_plan"):
        audit_report({}, None)
    with pytest.raises(AuditError, match="kernel_args.numa_pinning"):
        audit_report(facts(BOOT, BOOT), {"kernel_args": {"numa_pinning": [["bad name", "1"]]}})


def test_table_lines():
    report = audit_report(facts(BOOT, BOOT + ARGS), PLAN, host="hv1")
    lines = audit_table(report)
    assert lines[0].split() == ["STATUS", "AREA", "ITEM", "EXPECTED", "ACTUAL"]
    assert len(lines) == 1 + len(report["rows"]) + 1
    assert lines[-1] == "hv1: 0 applied, 7 pending reboot, 0 drifted"

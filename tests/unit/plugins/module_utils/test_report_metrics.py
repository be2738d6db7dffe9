# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node_exporter textfile: values worked out by hand from small inputs, read back with
an independent parser (tests/unit/prom_text.py) and checked by promtool."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

import pytest
import yaml
from prom_text import parse, series, value

from ansible_collections.kvmops.hypervisor.plugins.module_utils.report import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

# 8 CPUs: 0-1 housekeeping, 2-3 dedicated emulator, 4-5 pinned to guest "db", 6 isolated
# unused, 7 offline.
FACTS = {
    "cpu": {"online": [0, 1, 2, 3, 4, 5, 6], "offline": [7]},
    "numa": {"nodes": [
        {"id": 0, "cpus": [0, 1, 2, 3],
         "hugepages": {"2048": {"total": 512, "free": 0, "surplus": 0}, "1048576": {"total": 0, "free": 0, "surplus": 0}}},
        {"id": 1, "cpus": [4, 5, 6], "hugepages": {"2048": {"total": 100, "free": 40, "surplus": 0}}},
    ]},
    "qemu_processes": [
        {"pid": 10, "seccomp": 2, "security_label": "libvirt-abc (enforce)"},
        {"pid": 11, "seccomp": 0, "security_label": "libvirt-def (enforce)"},
        {"pid": 12, "seccomp": 2, "security_label": "unconfined"},
    ],
    "warnings": ["x", "y"],
}
PLAN = {
    "housekeeping_cpus": [0, 1, 2, 3],
    "emulator_cpus": [2, 3],
    "isolated_cpus": [4, 5, 6],
    "hugepage_pool": {"2048": {"0": 512, "1": 512}},
    "guests": [{"name": "db", "vcpupin": {"0": 4, "1": 5}}],
}
REPORT = {
    "rows": [
        {"section": "numa_pinning", "area": "kernel cmdline", "item": "numa_pinning: nohz_full=4-6", "status": "applied"},
        {"section": "numa_pinning", "area": "sysctl", "item": "kernel.numa_balancing", "status": "drifted"},
        {"section": "hugepages", "area": "kernel cmdline", "item": 'hugepages: x="a\\b"', "status": "pending-reboot"},
        {"section": "hugepages", "area": "line", "item": "/etc/libvirt/qemu.conf hugetlbfs_mount", "status": "applied"},
    ],
    "facts_warnings": ["x", "y"],
    "plan_warnings": [],
}


def build(**overrides):
    args = dict(report=REPORT, facts=FACTS, plan=PLAN,
                runs=metrics.run_history(None, "audit", True, 1700000000))
    args.update(overrides)
    return metrics.build(**args)


def test_values_by_hand():
    parsed = parse(build())
    assert not parsed["timestamps"]
    assert set(parsed["types"].values()) == {"gauge"}
    assert set(parsed["helps"]) == set(parsed["types"])
    assert value(parsed, "kvmops_info", version=metrics.VERSION) == 1
    assert value(parsed, "kvmops_last_run_timestamp_seconds", playbook="audit") == 1700000000
    assert value(parsed, "kvmops_last_run_success", playbook="audit") == 1
    assert value(parsed, "kvmops_last_success_timestamp_seconds", playbook="audit") == 1700000000
    assert value(parsed, "kvmops_drift_items") == 1
    assert value(parsed, "kvmops_reboot_pending") == 1
    assert dict((labels["role"], val) for labels, val in series(parsed, "kvmops_cpus")) == {
        "housekeeping": 2, "emulator": 2, "guest": 2, "isolated": 1, "offline": 1, "unplanned": 0}
    assert value(parsed, "kvmops_plan_item_applied", section="hugepages", area="kernel cmdline",
                 item='hugepages: x="a\\b"') == 0
    assert value(parsed, "kvmops_plan_item_applied", section="numa_pinning", area="kernel cmdline",
                 item="numa_pinning: nohz_full=4-6") == 1
    assert len(series(parsed, "kvmops_plan_item_applied")) == 4
    assert value(parsed, "kvmops_plan_items", section="numa_pinning", status="drifted") == 1
    assert value(parsed, "kvmops_plan_items", section="hugepages", status="pending-reboot") == 1
    assert value(parsed, "kvmops_plan_items", section="hugepages", status="drifted") == 0
    assert value(parsed, "kvmops_warnings", source="facts") == 2
    assert value(parsed, "kvmops_warnings", source="plan") == 0
    assert value(parsed, "kvmops_hugepages_planned", node="1", size_bytes="2097152") == 512
    assert value(parsed, "kvmops_hugepages_allocated", node="0", size_bytes="2097152") == 512
    assert value(parsed, "kvmops_hugepages_free", node="0", size_bytes="2097152") == 0
    assert value(parsed, "kvmops_hugepages_allocated", node="1", size_bytes="2097152") == 100
    assert value(parsed, "kvmops_hugepages_free", node="0", size_bytes="1073741824") == 0
    assert value(parsed, "kvmops_qemu_unconfined") == 2


def test_names_follow_prometheus_practice():
    parsed = parse(build())
    for name in parsed["types"]:
        assert name.startswith("kvmops_")
        # gauges only: no counter suffixes; nothing node_exporter exports under our prefix
        assert not name.endswith(("_total", "_count", "_sum", "_bucket"))
        assert name == name.lower()


def test_parts_left_out_without_their_input():
    parsed = parse(metrics.build())
    assert [name for name, dummy in parsed["samples"]] == ["kvmops_info"]
    parsed = parse(build(report=None, facts={"cpu": {"online": [0, 1]}}, plan=None))
    assert "kvmops_drift_items" not in parsed["types"]
    assert "kvmops_qemu_unconfined" not in parsed["types"]  # no qemu_processes part gathered
    assert dict((labels["role"], val) for labels, val in series(parsed, "kvmops_cpus"))["unplanned"] == 2


def test_repeated_item_is_applied_only_if_every_row_is():
    report = {"rows": [{"section": "s", "area": "a", "item": "i", "status": "applied"},
                       {"section": "s", "area": "a", "item": "i", "status": "drifted"}]}
    parsed = parse(build(report=report))
    assert series(parsed, "kvmops_plan_item_applied") == [({"section": "s", "area": "a", "item": "i"}, 0)]


def test_run_history_keeps_other_playbooks_and_the_last_success():
    first = build(runs=metrics.run_history(None, "site", True, 1000))
    second = build(runs=metrics.run_history(first, "audit", True, 2000))
    third = parse(build(runs=metrics.run_history(second, "site", False, 3000)))
    assert value(third, "kvmops_last_run_timestamp_seconds", playbook="site") == 3000
    assert value(third, "kvmops_last_run_success", playbook="site") == 0
    assert value(third, "kvmops_last_success_timestamp_seconds", playbook="site") == 1000
    assert value(third, "kvmops_last_run_timestamp_seconds", playbook="audit") == 2000
    assert value(third, "kvmops_last_success_timestamp_seconds", playbook="audit") == 2000
    never = parse(build(runs=metrics.run_history(None, "site", False, 5)))
    assert ("kvmops_last_success_timestamp_seconds", frozenset({("playbook", "site")})) not in never["samples"]


def test_garbage_in_the_previous_file_is_ignored():
    runs = metrics.run_history('kvmops_last_run_success{playbook="site"} nope\nrandom\n', "audit", True, 7)
    assert runs == {"audit": {"kvmops_last_run_timestamp_seconds": 7, "kvmops_last_run_success": 1,
                              "kvmops_last_success_timestamp_seconds": 7}}


def test_without_run_times_ignores_only_the_timestamps():
    one = build(runs=metrics.run_history(None, "audit", True, 1))
    two = build(runs=metrics.run_history(None, "audit", True, 2))
    assert one != two
    assert metrics.without_run_times(one) == metrics.without_run_times(two)
    assert metrics.without_run_times(one) != metrics.without_run_times(build(report=None))


def test_version_matches_galaxy_yml():
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        assert yaml.safe_load(handle)["version"] == metrics.VERSION


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing (tools/deps.sh installs prometheus)")
def test_promtool_check_metrics():
    text = build(runs=metrics.run_history(build(runs=metrics.run_history(None, "site", True, 1)), "audit", False, 9))
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


def test_a_guest_pending_restart_is_counted_not_refused():
    """seccomp_sandbox's audit rows for running guests that keep the old sandbox until
    restarted (status pending-restart): the lab's audit failed on them before."""
    report = {"rows": [{"section": "seccomp_sandbox", "area": "domain", "item": "probe sandbox",
                        "status": "pending-restart"},
                       {"section": "seccomp_sandbox", "area": "line", "item": "qemu.conf seccomp_sandbox",
                        "status": "applied"}]}
    parsed = parse(build(report=report))
    assert value(parsed, "kvmops_plan_items", section="seccomp_sandbox", status="pending-restart") == 1
    assert value(parsed, "kvmops_plan_items", section="seccomp_sandbox", status="applied") == 1
    assert value(parsed, "kvmops_drift_items") == 0
    applied = dict((labels["item"], val) for labels, val in series(parsed, "kvmops_plan_item_applied"))
    assert applied == {"probe sandbox": 0, "qemu.conf seccomp_sandbox": 1}

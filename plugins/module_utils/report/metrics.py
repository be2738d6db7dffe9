# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node_exporter textfile of a host: Prometheus text exposition format, gauges only,
no sample timestamps (node_exporter refuses a textfile with them). Pure functions; the
kvmops.hypervisor.prometheus_textfile module writes the text atomically on the host.

Nothing here repeats what node_exporter already exports: the CPU counts are the plan's
roles (not node_cpu_isolated), the huge pages are per node and per size (node_exporter's
meminfo shows the default size only, meminfo_numa is off by default), and the audit and
run metrics exist nowhere else."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit import report as _audit
from ansible_collections.kvmops.hypervisor.plugins.module_utils.report.roles import ROLES, role_counts

# The collection's version (galaxy.yml; tests/unit checks they agree) for kvmops_info.
VERSION = "0.2.0"
DEFAULT_FILENAME = "kvmops.prom"
# Every status of an audit row (audit/report.py): applied, pending-reboot, drifted,
# pending-restart (a running guest that starts under the new qemu.conf only when restarted)
# and conflict (an item tuned's active profile wins at its next start).
STATUSES = _audit.STATUSES
# Run history kept across writes: another playbook's lines, and this playbook's last
# success when this run failed.
RUN_FAMILIES = ("kvmops_last_run_timestamp_seconds", "kvmops_last_run_success",
                "kvmops_last_success_timestamp_seconds")

HELP = {
    "kvmops_info": "kvmops.hypervisor collection that wrote this file (always 1).",
    "kvmops_last_run_timestamp_seconds": "Unix time the playbook last wrote this file.",
    "kvmops_last_run_success": "1 if the playbook's last run on this host completed, else 0.",
    "kvmops_last_success_timestamp_seconds": "Unix time of the playbook's last completed run on this host.",
    "kvmops_plan_item_applied": "1 if the plan item is applied on the running host, 0 if it waits for a reboot or drifted.",
    "kvmops_plan_items": "Audit rows per plan section and status (applied, pending-reboot, drifted, pending-restart, conflict).",
    "kvmops_drift_items": "Plan items that drifted (neither running nor in the next boot's configuration).",
    "kvmops_reboot_pending": "1 if plan items wait for a reboot (kernel command line in the boot configuration only).",
    "kvmops_warnings": "Warnings of the facts and of the plan at the last audit.",
    "kvmops_cpus": "CPUs per plan role (housekeeping, emulator, guest, isolated, offline, unplanned); each CPU counted once.",
    "kvmops_hugepages_planned": "Huge pages the plan wants per NUMA node and page size.",
    "kvmops_hugepages_allocated": "Huge pages allocated per NUMA node and page size at the last audit (nr_hugepages).",
    "kvmops_hugepages_free": "Free huge pages per NUMA node and page size at the last audit.",
    "kvmops_qemu_unconfined": "QEMU processes without a seccomp filter or with an unconfined security label.",
}
ORDER = ("kvmops_info", "kvmops_last_run_timestamp_seconds", "kvmops_last_run_success",
         "kvmops_last_success_timestamp_seconds", "kvmops_drift_items", "kvmops_reboot_pending",
         "kvmops_plan_items", "kvmops_plan_item_applied", "kvmops_warnings", "kvmops_cpus",
         "kvmops_hugepages_planned", "kvmops_hugepages_allocated", "kvmops_hugepages_free",
         "kvmops_qemu_unconfined")


class MetricsError(ValueError):
    """Input in a shape the metrics cannot be built from."""


def escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "%d" % value
    return repr(float(value))


def render(samples):
    """{family: [(labels as ((name, value), ...), value)]} -> exposition text, families in
    ORDER, samples sorted by labels, duplicates refused."""
    out = []
    for family in ORDER:
        entries = samples.get(family) or []
        if not entries:
            continue
        out.append("# HELP %s %s" % (family, HELP[family]))
        out.append("# TYPE %s gauge" % family)
        seen = set()
        for labels, value in sorted(entries, key=lambda entry: [str(part) for part in entry[0]]):
            if labels in seen:
                raise MetricsError("%s: two samples with labels %r" % (family, labels))
            seen.add(labels)
            text = ",".join('%s="%s"' % (name, escape_label(val)) for name, val in labels)
            out.append("%s%s %s" % (family, "{%s}" % text if text else "", format_value(value)))
    unknown = set(samples) - set(ORDER)
    if unknown:
        raise MetricsError("unknown metric families: %s" % ", ".join(sorted(unknown)))
    return "\n".join(out) + "\n" if out else ""


_SAMPLE = re.compile(r'^(kvmops_[a-z_]+)\{playbook="((?:[^"\\]|\\.)*)"\}\s+(\S+)\s*$')


def _unescape(value):
    return re.sub(r"\\(.)", lambda match: "\n" if match.group(1) == "n" else match.group(1), value)


def previous_runs(text):
    """The run history in an earlier textfile: {playbook: {family: value}}. Lines it cannot
    read are skipped (an earlier file is a hint, never a reason to fail)."""
    runs = {}
    for line in (text or "").splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or match.group(1) not in RUN_FAMILIES:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        runs.setdefault(_unescape(match.group(2)), {})[match.group(1)] = value
    return runs


def run_history(previous_text, playbook, success, now):
    """{playbook: {family: value}} after this run: the other playbooks' lines as they were,
    this playbook's run time and outcome, and its last success (now, or the earlier one)."""
    runs = previous_runs(previous_text)
    mine = runs.get(playbook, {})
    last_success = now if success else mine.get("kvmops_last_success_timestamp_seconds")
    mine = {"kvmops_last_run_timestamp_seconds": now, "kvmops_last_run_success": 1 if success else 0}
    if last_success is not None:
        mine["kvmops_last_success_timestamp_seconds"] = last_success
    runs[playbook] = mine
    return runs


def _audit_samples(report, samples):
    rows = report.get("rows") or []
    applied = {}
    per_section = {}
    for row in rows:
        status = row.get("status")
        if status not in STATUSES:
            raise MetricsError("audit row with status %r" % (status,))
        section = str(row.get("section") or "")
        key = (("section", section), ("area", str(row.get("area") or "")), ("item", str(row.get("item") or "")))
        # the same item twice (a repeated kernel argument): applied only if every row is
        applied[key] = applied.get(key, True) and status == "applied"
        per_section.setdefault(section, dict((name, 0) for name in STATUSES))[status] += 1
    samples["kvmops_plan_item_applied"] = [(key, 1 if ok else 0) for key, ok in applied.items()]
    samples["kvmops_plan_items"] = [((("section", section), ("status", status)), count)
                                    for section, counts in per_section.items()
                                    for status, count in counts.items()]
    drifted = sum(1 for row in rows if row.get("status") == "drifted")
    pending = any(row.get("status") == "pending-reboot" for row in rows)
    samples["kvmops_drift_items"] = [((), drifted)]
    samples["kvmops_reboot_pending"] = [((), 1 if pending else 0)]
    samples["kvmops_warnings"] = [((("source", "facts"),), len(report.get("facts_warnings") or [])),
                                  ((("source", "plan"),), len(report.get("plan_warnings") or []))]


def _hugepage_samples(facts, plan, samples):
    for size_kb, by_node in sorted(((plan or {}).get("hugepage_pool") or {}).items()):
        for node, pages in sorted((by_node or {}).items()):
            samples.setdefault("kvmops_hugepages_planned", []).append(
                ((("node", str(node)), ("size_bytes", str(int(size_kb) * 1024))), int(pages)))
    for node in ((facts or {}).get("numa") or {}).get("nodes") or []:
        for size_kb, counts in sorted((node.get("hugepages") or {}).items()):
            labels = (("node", str(node.get("id"))), ("size_bytes", str(int(size_kb) * 1024)))
            for family, key in (("kvmops_hugepages_allocated", "total"), ("kvmops_hugepages_free", "free")):
                if (counts or {}).get(key) is not None:
                    samples.setdefault(family, []).append((labels, int(counts[key])))


def unconfined_qemu(facts):
    """QEMU processes with no seccomp filter (mode 0) or an unconfined security label;
    None when the facts have no qemu_processes part."""
    processes = (facts or {}).get("qemu_processes")
    if processes is None:
        return None
    count = 0
    for process in processes:
        label = str(process.get("security_label") or "")
        if process.get("seccomp") == 0 or label.startswith("unconfined"):
            count += 1
    return count


def build(report=None, facts=None, plan=None, runs=None, version=VERSION):
    """The textfile's text. ``report``: audit_report's result; ``facts``: kvm_host;
    ``plan``: kvm_host_plan; ``runs``: run_history's result. Any may be None (its metrics
    are left out)."""
    samples = {"kvmops_info": [((("version", version),), 1)]}
    for playbook, families in sorted((runs or {}).items()):
        for family, value in families.items():
            samples.setdefault(family, []).append(((("playbook", playbook),), value))
    if report:
        _audit_samples(report, samples)
    if facts and (facts.get("cpu") or {}).get("online") is not None:
        counts = role_counts(facts, plan)
        samples["kvmops_cpus"] = [((("role", role),), counts[role]) for role in ROLES]
    _hugepage_samples(facts, plan, samples)
    unconfined = unconfined_qemu(facts)
    if unconfined is not None:
        samples["kvmops_qemu_unconfined"] = [((), unconfined)]
    return render(samples)


def without_run_times(text):
    """The text without the lines that change on every run (the run timestamps): two files
    equal by this differ only in when they were written."""
    return "\n".join(line for line in (text or "").splitlines()
                     if not line.startswith(("kvmops_last_run_timestamp_seconds",
                                             "kvmops_last_success_timestamp_seconds")))

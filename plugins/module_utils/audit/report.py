# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare a host's facts with its plan: what is applied, what waits for a reboot,
what drifted. Pure functions; playbooks/audit.yml calls them through the
kvmops.hypervisor.audit_report and audit_table filters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.args import normalize_args
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    kernel_part,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
)

APPLIED = "applied"
PENDING = "pending-reboot"
DRIFTED = "drifted"
STATUSES = (APPLIED, PENDING, DRIFTED)


class AuditError(ValueError):
    """Facts or plan in a shape the audit cannot read."""


def _row(area, item, expected, actual, status, note=""):
    return {"area": area, "item": item, "expected": expected, "actual": actual,
            "status": status, "note": note}


def _kernel_rows(facts, plan):
    kernel = facts.get("kernel") or {}
    running = kernel_part(kernel.get("cmdline") or [])
    pending = kernel.get("pending_cmdline")
    pending = kernel_part(pending) if pending is not None else None
    rows = []
    for owner in sorted((plan.get("kernel_args") or {})):
        try:
            tokens = normalize_args(plan["kernel_args"][owner],
                                    label="kvm_host_plan.kernel_args.%s" % owner)
        except CmdlineError as exc:
            raise AuditError(str(exc))
        for token in tokens:
            if token in running:
                status, actual = APPLIED, "running"
            elif pending is not None and token in pending:
                status, actual = PENDING, "next boot"
            else:
                status = DRIFTED
                actual = "absent" if pending is not None else "absent (boot config unreadable)"
            rows.append(_row("kernel cmdline", "%s: %s" % (owner, token), token, actual, status))
    return rows


def _isolation_rows(facts, plan, kernel_rows):
    """The kernel's own view of isolation (sysfs) against the planned arguments."""
    kernel = facts.get("kernel") or {}
    rows = []
    tokens = {}
    try:
        for token in normalize_args((plan.get("kernel_args") or {}).get("numa_pinning") or []):
            name, _sep, value = token.partition("=")
            tokens[name] = value
    except CmdlineError as exc:
        raise AuditError(str(exc))
    for name, sysfs in (("isolcpus", "isolated"), ("nohz_full", "nohz_full")):
        if name not in tokens:
            continue
        # isolcpus may carry flags before the list: isolcpus=domain,managed_irq,2-7
        words = [word for word in tokens[name].split(",")
                 if word and (word[0].isdigit() or word[0] == "N")]
        try:
            expected = parse_cpulist(",".join(words))
        except CpulistError as exc:
            raise AuditError("kvm_host_plan.kernel_args.numa_pinning %s: %s" % (name, exc))
        actual = sorted(kernel.get(sysfs) or [])
        token_pending = any(row["status"] == PENDING and row["expected"].startswith(name + "=")
                            for row in kernel_rows)
        if actual == expected:
            status = APPLIED
        elif token_pending:
            status = PENDING
        else:
            status = DRIFTED
        rows.append(_row("cpu isolation", "/sys/devices/system/cpu/%s" % sysfs,
                         format_cpulist(expected), format_cpulist(actual), status))
    return rows


def _hugepage_rows(facts, plan, kernel_rows):
    nodes = dict((str(node.get("id")), node) for node in (facts.get("numa") or {}).get("nodes") or [])
    boot_pending = any(row["status"] == PENDING and row["item"].startswith("hugepages:")
                       for row in kernel_rows)
    rows = []
    for size in sorted((plan.get("hugepages") or {}), key=int):
        for node_id in sorted(plan["hugepages"][size], key=int):
            expected = int(plan["hugepages"][size][node_id])
            node = nodes.get(str(node_id))
            pages = ((node or {}).get("hugepages") or {}).get(str(size)) or {}
            actual = pages.get("total")
            if actual is None:
                actual_text = "node absent" if node is None else "size not supported"
                status = DRIFTED
            else:
                actual_text = str(actual)
                if int(actual) == expected:
                    status = APPLIED
                elif boot_pending:
                    status = PENDING
                else:
                    status = DRIFTED
            rows.append(_row("huge pages", "node %s %s kB" % (node_id, size),
                             str(expected), actual_text, status))
    return rows


def _sysctl_rows(sysctl):
    """Rows from a kvmops.hypervisor.sysctl_check result (profile, live, differ, unknown, readonly)."""
    sysctl = sysctl or {}
    rows = []
    profile = sysctl.get("profile") or {}
    live = sysctl.get("live") or {}
    differ = set(sysctl.get("differ") or [])
    for key in sorted(profile):
        actual = live.get(key)
        status = DRIFTED if key in differ else APPLIED
        rows.append(_row("sysctl", key, str(profile[key]), "" if actual is None else str(actual), status))
    for field, label in (("unknown", "unknown key on this kernel"), ("readonly", "read-only here")):
        for key in sorted(sysctl.get(field) or []):
            if key not in profile:
                rows.append(_row("sysctl", key, "(in profile)", label, DRIFTED))
    return rows


def audit_rows(facts, plan, sysctl=None):
    """Rows comparing facts (``kvm_host``) and plan (``kvm_host_plan``).

    ``sysctl`` is the result of kvmops.hypervisor.sysctl_check (``profile``, ``live``,
    ``differ``, ``unknown``), or None.
    """
    if not isinstance(facts, dict):
        raise AuditError("kvm_host must be a mapping (run kvmops.hypervisor.kvm_host_facts)")
    if not isinstance(plan, dict):
        raise AuditError("kvm_host_plan must be a mapping (run kvmops.hypervisor.host_plan)")
    kernel_rows = _kernel_rows(facts, plan)
    rows = kernel_rows + _isolation_rows(facts, plan, kernel_rows) + _hugepage_rows(facts, plan, kernel_rows)
    rows += _sysctl_rows(sysctl)
    return rows


def audit_report(facts, plan, sysctl=None, host=None):
    rows = audit_rows(facts, plan, sysctl)
    summary = dict((status, 0) for status in STATUSES)
    for row in rows:
        summary[row["status"]] += 1
    return {
        "host": host,
        "summary": summary,
        "drifted": summary[DRIFTED] > 0,
        "reboot_pending": summary[PENDING] > 0,
        "rows": rows,
        "plan_warnings": list(plan.get("warnings") or []),
        "facts_warnings": list(facts.get("warnings") or []),
    }


def audit_table(report):
    """A fixed-width text table of a report, one line per row, for the play output."""
    headers = ("STATUS", "AREA", "ITEM", "EXPECTED", "ACTUAL")
    lines = [(row["status"], row["area"], row["item"], row["expected"], row["actual"])
             for row in report.get("rows") or []]
    widths = [max([len(headers[i])] + [len(str(line[i])) for line in lines])
              for i in range(len(headers))]
    out = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
           for line in [headers] + lines]
    summary = report.get("summary") or {}
    out.append("%s: %d applied, %d pending reboot, %d drifted" % (
        report.get("host") or "host", summary.get(APPLIED, 0), summary.get(PENDING, 0),
        summary.get(DRIFTED, 0)))
    return out

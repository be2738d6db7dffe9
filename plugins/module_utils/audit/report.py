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
    same_cpumask,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sandbox import OPT_OUT, config_applied, judge

APPLIED = "applied"
PENDING = "pending-reboot"
DRIFTED = "drifted"
# a running guest that keeps its old settings until it is restarted (seccomp_sandbox)
PENDING_RESTART = "pending-restart"
# an item tuned's active profile sets too and wins at its next start (the tuned section,
# kvmops_tuned_mode detect); a drift it predicted gets this status too, not drifted
CONFLICT = "conflict"
STATUSES = (APPLIED, PENDING, DRIFTED, PENDING_RESTART, CONFLICT)


class AuditError(ValueError):
    """Facts or plan in a shape the audit cannot read."""


def _row(area, item, expected, actual, status, note=""):
    return {"area": area, "item": item, "expected": expected, "actual": actual,
            "status": status, "note": note}


def _kernel_rows(facts, owner, section):
    kernel = facts.get("kernel") or {}
    running = kernel_part(kernel.get("cmdline") or [])
    pending = kernel.get("pending_cmdline")
    pending = kernel_part(pending) if pending is not None else None
    rows = []
    try:
        tokens = normalize_args(section.get("kernel_args") or [], label="kvm_host_plan.%s.kernel_args" % owner)
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


def _same(expected, actual):
    """Values as the kernel shows them: words compared with white space folded, CPU lists
    as sets (``2-3`` equals ``2,3``)."""
    if actual is None:
        return False
    expected = " ".join(str(expected).split())
    actual = " ".join(str(actual).split())
    if expected == actual or same_cpumask(expected, actual):
        return True
    try:
        return parse_cpulist(expected) == parse_cpulist(actual)
    except CpulistError:
        return False


def _shown(value):
    return "(absent)" if value is None else str(value)


def _value_rows(area, wanted, seen, pending_reboot=False, inactive=None):
    rows = []
    for item in sorted(wanted):
        actual = seen.get(item)
        if actual is None and item in (inactive or {}):
            # in the drop-in, but its kernel module is not loaded: no such key to drift
            rows.append(_row(area, item, str(wanted[item]), "(%s not loaded: no key)" % inactive[item], APPLIED))
            continue
        if _same(wanted[item], actual):
            status = APPLIED
        elif pending_reboot:
            status = PENDING
        else:
            status = DRIFTED
        rows.append(_row(area, item, str(wanted[item]), _shown(actual), status))
    return rows


def _file_rows(section, seen):
    rows = []
    for path in sorted(section.get("files") or {}):
        wanted = section["files"][path]
        actual = seen.get("files", {}).get(path)
        status = APPLIED if wanted == actual else DRIFTED
        expected = "(absent)" if wanted is None else "%d lines" % len(wanted.splitlines())
        if actual is None:
            shown = "(absent)"
        else:
            shown = "as planned" if wanted == actual else "%d lines, differs" % len(actual.splitlines())
        rows.append(_row("file", path, expected, shown, status))
    for path in sorted(section.get("lines") or {}):
        found = seen.get("lines", {}).get(path)
        if found is None:
            continue  # the file is missing: its package is not installed, nothing to apply
        for key in sorted(section["lines"][path]):
            wanted = section["lines"][path][key]
            actual = found.get(key)
            if wanted is False:
                # released: no line of ours may remain (the administrator's own may)
                status = APPLIED if actual is None else DRIFTED
                rows.append(_row("line", "%s %s" % (path, key), "(none of ours)", _shown(actual), status))
                continue
            status = APPLIED if wanted == actual else DRIFTED
            rows.append(_row("line", "%s %s" % (path, key), _shown(wanted), _shown(actual), status))
    return rows


_SIZE_KB = {"K": 1, "M": 1024, "G": 1024 * 1024}


def _page_kb(opts):
    """The pagesize= of mount options in kB: the kernel shows 1G pages as pagesize=1024M
    (hugetlbfs_show_options), fstab says pagesize=1G."""
    for option in (opts or "").split(","):
        name, _sep, value = option.partition("=")
        if name == "pagesize" and value:
            unit = value[-1].upper()
            number = value[:-1] if unit in _SIZE_KB else value
            try:
                return int(number) * _SIZE_KB.get(unit, 1) if unit in _SIZE_KB else int(number) // 1024
            except ValueError:
                return None
    return None


def _mount_rows(section, seen):
    rows = []
    for item in section.get("mounts") or []:
        path = item["path"]
        for where, label in (("fstab", "fstab"), ("mounts", "mounted")):
            entry = seen.get(where, {}).get(path)
            ok = bool(entry) and entry.get("fstype") == item.get("fstype") and \
                _page_kb(entry.get("opts")) == _page_kb(item.get("opts"))
            actual = "(absent)" if not entry else "%s %s" % (entry.get("fstype"), entry.get("opts"))
            rows.append(_row("mount", "%s (%s)" % (path, label), "%s %s" % (item.get("fstype"), item.get("opts")),
                             actual, APPLIED if ok else DRIFTED))
    return rows


def _guest_rows(section, seen):
    rows = []
    for guest in section.get("guests") or []:
        name = guest.get("name")
        found = seen.get("guests", {}).get(name)
        expected = {
            "vcpupin": " ".join("%s:%s" % (vcpu, cpu) for vcpu, cpu in
                                sorted((int(v), c) for v, c in (guest.get("vcpupin") or {}).items())),
            "emulatorpin": format_cpulist(guest.get("emulatorpin") or []),
            "memory_nodes": format_cpulist([int(node) for node in guest.get("memory_mb_by_node") or {}]),
        }
        for key in ("vcpupin", "emulatorpin", "memory_nodes"):
            actual = None if found is None else found.get(key)
            ok = actual is not None and (actual == expected[key] or (key != "vcpupin" and _same(expected[key], actual)))
            rows.append(_row("guest", "%s %s" % (name, key), expected[key],
                             "(domain not defined)" if found is None else (actual or "(none)"),
                             APPLIED if ok else DRIFTED))
    return rows


def _pool_text(kind, dataset, active, autostart):
    state = {True: "active", False: "inactive", None: "state unknown"}[active]
    return "%s %s, %s, %s" % (kind or "(unknown type)", dataset or "(no source)", state,
                              "autostart" if autostart else "no autostart")


def _storage_pool_rows(section, seen):
    """One row per planned libvirt storage pool (zfs_storage): type and source dataset as
    planned, active, autostart as planned."""
    rows = []
    for pool in section.get("libvirt_pools") or []:
        name = pool.get("name")
        wanted_auto = bool(pool.get("autostart", True))
        expected = _pool_text("zfs", pool.get("dataset"), True, wanted_auto)
        found = seen.get("libvirt_pools", {}).get(name)
        if found is None:
            rows.append(_row("libvirt pool", name, expected, "(not defined)", DRIFTED))
            continue
        actual = _pool_text(found.get("type"), found.get("source"), found.get("active"), found.get("autostart"))
        # the running state is compared only when libvirt's files show it (observe.py)
        same = actual == expected or (found.get("active") is None and actual == _pool_text(
            "zfs", pool.get("dataset"), None, wanted_auto))
        note = "" if found.get("active") is not None else "running state not in libvirt's files; virsh pool-info shows it"
        rows.append(_row("libvirt pool", name, expected, actual, APPLIED if same else DRIFTED, note))
    return rows


def _domain_rows(section, seen):
    """One row per running QEMU (seccomp_sandbox): sandboxed and confined, or why not."""
    expect = section.get("expect")
    if not isinstance(expect, dict) or "qemu_processes" not in seen:
        return []
    applied = config_applied(seen.get("qemu_conf"), section.get("qemu_conf"))
    rows = []
    for process in seen.get("qemu_processes") or []:
        verdict = judge(process, expect, applied)
        wanted = ("-sandbox %s, Seccomp 2 + NoNewPrivs 1 on every thread" % expect.get("sandbox_arg")
                  if expect.get("seccomp") != 0 else "-sandbox off")
        if expect.get("driver"):
            wanted += ", %s label" % expect["driver"]
        counts = process.get("seccomp_threads") or {}
        actual = "-sandbox %s, Seccomp %s, label %s" % (
            process.get("sandbox") or "(none)",
            " ".join("%s:%d" % (mode, count) for mode, count in sorted(counts.items())) or "(unknown)",
            verdict["label"] or "(none)")
        status = {OPT_OUT: APPLIED}.get(verdict["status"], verdict["status"])
        note = verdict["reason"] if verdict["status"] != OPT_OUT else "opt-out: " + verdict["reason"]
        rows.append(_row("domain", "%s sandbox" % verdict["name"], wanted, actual, status, note))
    return rows


def _validate_rows(section, seen):
    """One row per FAIL/WARN of virt-host-validate qemu; expected ones applied, with why."""
    result = seen.get("host_validate")
    if not isinstance(section.get("host_validate"), dict) or not isinstance(result, dict):
        return []
    if not result.get("present"):
        return [_row("virt-host-validate", "qemu", "installed", "(not installed)", DRIFTED,
                     "virt-host-validate is in libvirt's client tools (libvirt-clients on Debian)")]
    rows = []
    for item in result.get("problems") or []:
        actual = "%s (%s)" % (item["result"], item.get("hint")) if item.get("hint") else item["result"]
        rows.append(_row("virt-host-validate", item["check"], "PASS" if not item["expected"] else "expected",
                         actual, APPLIED if item["expected"] else DRIFTED,
                         ("expected: %s" % item["reason"]) if item["expected"] else "unexpected"))
    return rows


def _tuned_rows(section):
    """One row per conflict of the tuned section: status conflict when tuned wins at its next
    start (or it cannot be told), applied when the plan's value stays."""
    if not isinstance(section.get("tuned"), dict) or not isinstance(section.get("conflicts"), list):
        return []
    rows = []
    for item in section["conflicts"]:
        winner = item.get("winner")
        status = CONFLICT if winner in ("tuned", "unknown") else APPLIED
        verdict = "same value" if winner == "same" else "%s wins at tuned's next start" % winner
        rows.append(_row("tuned", "%s %s %s" % (item.get("section"), item.get("area"), item.get("item")),
                         _shown(item.get("ours")), "%s (%s)" % (_shown(item.get("tuned")), item.get("file")),
                         status, "%s: %s" % (verdict, item.get("reason"))))
    return rows


def _predicted(rows, plan):
    """Drifted rows whose value tuned's profile was predicted to write (the tuned section's
    conflicts) become conflict rows: after a tuned restart the audit shows no drift it did
    not predict."""
    predictions = {}
    for name in section_names(plan):
        for item in plan[name].get("conflicts") or [] if isinstance(plan[name].get("tuned"), dict) else []:
            predicted = item.get("predicted")
            if item.get("winner") == "tuned" and isinstance(predicted, dict):
                predictions[(predicted.get("section"), predicted.get("area"), predicted.get("item"))] = (
                    predicted, item)
    for row in rows:
        found = predictions.get((row.get("section"), row["area"], row["item"]))
        if found is None or row["status"] != DRIFTED:
            continue
        predicted, item = found
        value = predicted.get("value")
        if row["area"] != "kernel cmdline" and not (row["actual"] == value or _same(value, row["actual"])):
            continue
        row["status"] = CONFLICT
        row["note"] = "predicted: tuned's %s (%s) writes %s at its start" % (
            item.get("plugin"), item.get("file"), predicted.get("value"))
    return rows


def section_names(plan):
    """The plan's sections: its mapping values that have the generic section keys."""
    return sorted(name for name, value in plan.items()
                  if isinstance(value, dict) and "kernel_args" in value and "sysctl" in value)


def audit_rows(facts, plan, observed=None):
    """Rows comparing the plan's sections with the facts (kernel command line) and with
    what kvmops.hypervisor.section_state read (``observed``), one per item."""
    if not isinstance(facts, dict):
        raise AuditError("kvm_host must be a mapping (run kvmops.hypervisor.kvm_host_facts)")
    if not isinstance(plan, dict):
        raise AuditError("kvm_host_plan must be a mapping (run kvmops.hypervisor.host_plan)")
    observed = observed or {}
    rows = []
    for name in section_names(plan):
        section = plan[name]
        seen = observed.get(name) or {}
        first = len(rows)
        kernel_rows = _kernel_rows(facts, name, section)
        pending = any(row["status"] == PENDING for row in kernel_rows)
        rows += kernel_rows
        rows += _value_rows("boot state", section.get("boot_sysfs") or {}, seen.get("boot_sysfs") or {}, pending)
        if seen:
            rows += _value_rows("sysctl", (section.get("sysctl") or {}).get("values") or {}, seen.get("sysctl") or {},
                                inactive=seen.get("sysctl_inactive"))
            rows += _value_rows("sysfs", section.get("sysfs") or {}, seen.get("sysfs") or {})
            rows += _file_rows(section, seen)
            rows += _mount_rows(section, seen)
            rows += _guest_rows(section, seen)
            rows += _storage_pool_rows(section, seen)
            rows += _domain_rows(section, seen)
            rows += _validate_rows(section, seen)
        rows += _tuned_rows(section)
        for row in rows[first:]:
            row["section"] = name
    return _predicted(rows, plan)


def audit_report(facts, plan, observed=None, host=None):
    rows = audit_rows(facts, plan, observed)
    summary = dict((status, 0) for status in STATUSES)
    for row in rows:
        summary[row["status"]] += 1
    return {
        "host": host,
        "summary": summary,
        "drifted": summary[DRIFTED] > 0,
        "reboot_pending": summary[PENDING] > 0,
        "restart_pending": summary[PENDING_RESTART] > 0,
        "conflicts": summary[CONFLICT] > 0,
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
    out.append("%s: %d applied, %d pending reboot, %d drifted%s%s" % (
        report.get("host") or "host", summary.get(APPLIED, 0), summary.get(PENDING, 0),
        summary.get(DRIFTED, 0),
        ", %d pending restart" % summary[PENDING_RESTART] if summary.get(PENDING_RESTART) else "",
        ", %d conflict(s) with tuned" % summary[CONFLICT] if summary.get(CONFLICT) else ""))
    return out

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The summary of a run over a fleet, for set_stats (AWX job artifacts, which a workflow's
next nodes get as extra variables): hosts changed, reboots pending, drifted items.

Two inputs, one per host:

- an audit report (audit_report; playbooks/audit.yml): the facts and the state were read
  now, every row counts; an audit changes no host.
- a run record (playbooks/site.yml): ``{host, after, changed, reboot_required, rebooted,
  check_mode}``: the audit report of the host after the roles (the state read once, at the
  end; the facts at the start), whether a task of the roles reported a change, the reboot
  role's ``kvmops_reboot_required`` after the run (None when the role did not run: tags)
  and whether that role rebooted the host. In check mode nothing was written, so the
  state read after is the state before the run. After a run in image mode
  (``image_mode``) nothing is read (``after`` None): the running state is the build
  machine's, so no item counts as drifted; a reboot is pending when the reboot role says
  the image's next boot differs from the running kernel.
- the run record of earlier versions, ``{host, before, after, ...}`` (the state read
  before the roles too; ``changed`` from the difference), still read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.report import DRIFTED, PENDING

# Rows read from the kernel facts, gathered once at the start of a run: after the roles
# they still show the start (kernel arguments written since are pending, not drifted).
KERNEL_AREAS = ("kernel cmdline", "boot state")
KEYS = ("kvmops_hosts", "kvmops_hosts_changed", "kvmops_changed_hosts", "kvmops_reboots_pending",
        "kvmops_reboot_pending_hosts", "kvmops_drift_count", "kvmops_drifted_hosts")


class SummaryError(ValueError):
    """Input in a shape the summary cannot read."""


def _rows(report, what):
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise SummaryError("%s must be an audit report (kvmops.hypervisor.audit_report)" % what)
    return report["rows"]


def _key(row):
    return (row.get("section"), row["area"], row["item"])


def _count(rows, status, kernel=True):
    return sum(1 for row in rows if row["status"] == status and (kernel or row["area"] not in KERNEL_AREAS))


def host_outcome(item):
    """(host, changed, reboot pending, drifted items) of one host."""
    if not isinstance(item, dict):
        raise SummaryError("each item must be an audit report or a run record, got %r" % (item,))
    if "before" not in item and "after" not in item:  # an audit report
        rows = _rows(item, "host %s's report" % item.get("host"))
        return item.get("host"), False, _count(rows, PENDING) > 0, _count(rows, DRIFTED)
    host = item.get("host")
    if "before" not in item:
        return _outcome(item, host)
    before = _rows(item["before"], "%s: before" % host)
    kernel_drifted = any(row["status"] == DRIFTED and row["area"] in KERNEL_AREAS for row in before)
    reboot_required = item.get("reboot_required")
    if item.get("check_mode"):
        # nothing was written: what the run would change is what drifts now
        changed = _count(before, DRIFTED) > 0
        reboot = bool(reboot_required) or kernel_drifted or _count(before, PENDING) > 0
        return host, changed, reboot, _count(before, DRIFTED)
    after = _rows(item["after"], "%s: after" % host)
    then = dict((_key(row), (row["status"], row["actual"])) for row in before if row["area"] not in KERNEL_AREAS)
    now = dict((_key(row), (row["status"], row["actual"])) for row in after if row["area"] not in KERNEL_AREAS)
    # a kernel argument missing at the start was written by kernel_cmdline (else it failed)
    changed = kernel_drifted or bool(item.get("rebooted")) or any(then[key] != now[key] for key in then if key in now)
    if reboot_required is None:
        reboot = kernel_drifted or _count(before, PENDING) > 0
    else:
        reboot = bool(reboot_required)
    return host, changed, reboot, _count(after, DRIFTED, kernel=False)


def _outcome(item, host):
    """(host, changed, reboot pending, drifted items) of a run record without ``before``."""
    changed = item.get("changed")
    if not isinstance(changed, bool):
        raise SummaryError("%s: changed must be true or false (did a role task report a change), got %r"
                           % (host, changed))
    if item.get("image_mode") and item.get("after") is None:
        return host, changed or bool(item.get("rebooted")), bool(item.get("reboot_required")), 0
    after = _rows(item["after"], "%s: after" % host)
    # kernel rows come from the facts gathered at the start: what drifted then is written now
    kernel_drifted = any(row["status"] == DRIFTED and row["area"] in KERNEL_AREAS for row in after)
    reboot_required = item.get("reboot_required")
    if item.get("check_mode"):
        # nothing was written: what the run would change is what drifts now
        reboot = bool(reboot_required) or kernel_drifted or _count(after, PENDING) > 0
        return host, _count(after, DRIFTED) > 0, reboot, _count(after, DRIFTED)
    if reboot_required is None:
        reboot = kernel_drifted or _count(after, PENDING) > 0
    else:
        reboot = bool(reboot_required)
    return host, changed or kernel_drifted or bool(item.get("rebooted")), reboot, _count(after, DRIFTED, kernel=False)


def run_summary(items):
    """``items``: one audit report or run record per host -> the set_stats data (KEYS).
    Numbers and lists, so that set_stats' aggregate adds the batches of a serial run up."""
    if not isinstance(items, list):
        raise SummaryError("expects a list, one audit report or run record per host")
    outcomes = [host_outcome(item) for item in items]
    changed = [host for host, was_changed, _reboot, _drift in outcomes if was_changed]
    reboot = [host for host, _changed, pending, _drift in outcomes if pending]
    drifted = [host for host, _changed, _reboot, drift in outcomes if drift]
    return {
        "kvmops_hosts": len(outcomes),
        "kvmops_hosts_changed": len(changed),
        "kvmops_changed_hosts": changed,
        "kvmops_reboots_pending": len(reboot),
        "kvmops_reboot_pending_hosts": reboot,
        "kvmops_drift_count": sum(drift for _host, _changed, _reboot, drift in outcomes),
        "kvmops_drifted_hosts": drifted,
    }

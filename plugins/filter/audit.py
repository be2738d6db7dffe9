# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters kvmops.hypervisor.audit_report, kvmops.hypervisor.audit_table and
kvmops.hypervisor.run_summary."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.report import (
    AuditError,
    audit_report as _audit_report,
    audit_table as _audit_table,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.summary import (
    SummaryError,
    run_summary as _run_summary,
)


def audit_report(facts, plan, observed=None, host=None):
    """kvm_host facts + kvm_host_plan (+ kvmops.hypervisor.section_state's observed) -> audit report."""
    try:
        return _audit_report(facts, plan, observed=observed, host=host)
    except AuditError as exc:
        raise AnsibleFilterError("kvmops.hypervisor.audit_report: %s" % exc)


def audit_table(report):
    """Audit report -> list of fixed-width text lines."""
    if not isinstance(report, dict):
        raise AnsibleFilterError("kvmops.hypervisor.audit_table expects a report from audit_report")
    return _audit_table(report)


def run_summary(items):
    """One audit report or run record per host -> set_stats data (hosts changed, reboots, drift)."""
    try:
        return _run_summary(items)
    except SummaryError as exc:
        raise AnsibleFilterError("kvmops.hypervisor.run_summary: %s" % exc)


class FilterModule(object):
    """Audit filters."""

    def filters(self):
        return {"audit_report": audit_report, "audit_table": audit_table, "run_summary": run_summary}

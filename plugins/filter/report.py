# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters kvmops.hypervisor.report_html and kvmops.hypervisor.topology_svg."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.plugin_utils.report_html import report_html as _report_html
from ansible_collections.kvmops.hypervisor.plugins.module_utils.report.svg import topology_svg as _topology_svg


def report_html(pages, title="kvmops.hypervisor audit"):
    """[{host, report, facts, plan}] -> one self-contained HTML document."""
    if not isinstance(pages, (list, tuple)) or not all(isinstance(page, dict) for page in pages):
        raise AnsibleFilterError("kvmops.hypervisor.report_html expects a list of {host, report, facts, plan}")
    return _report_html(pages, title=title)


def topology_svg(facts, plan=None, host=None):
    """kvm_host facts (+ kvm_host_plan) -> the SVG picture of one host."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError("kvmops.hypervisor.topology_svg expects the kvm_host facts")
    return _topology_svg(facts, plan or {}, host)


class FilterModule(object):
    """Report filters."""

    def filters(self):
        return {"report_html": report_html, "topology_svg": topology_svg}

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters kvmops.hypervisor.cpulist and kvmops.hypervisor.cpulist_parse."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
)


def cpulist(cpus):
    """List of CPU ids -> kernel cpulist string with ranges merged."""
    if isinstance(cpus, str):
        raise AnsibleFilterError(
            "kvmops.hypervisor.cpulist expects a list of CPU ids, got the string %r "
            "(use cpulist_parse to read a cpulist string)" % (cpus,))
    try:
        return format_cpulist(cpus)
    except (CpulistError, TypeError) as exc:
        raise AnsibleFilterError("kvmops.hypervisor.cpulist: %s" % exc)


def cpulist_parse(text, nr_cpus=None):
    """Kernel cpulist string -> sorted list of CPU ids."""
    try:
        return parse_cpulist(text, nr_cpus=nr_cpus)
    except (CpulistError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("kvmops.hypervisor.cpulist_parse: %s" % exc)


class FilterModule(object):
    """CPU list filters."""

    def filters(self):
        return {
            "cpulist": cpulist,
            "cpulist_parse": cpulist_parse,
        }

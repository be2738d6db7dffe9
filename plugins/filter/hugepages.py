# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter kvmops.hypervisor.hugepage_mounts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.hugepages import (
    HugepagesError,
    mounts,
)


def hugepage_mounts(pages, prefix="/dev/hugepages", default_size_kb=None):
    """Planned pages per size and node -> one hugetlbfs mount per planned size."""
    try:
        return mounts(pages, prefix=prefix, default_size_kb=default_size_kb)
    except (HugepagesError, TypeError) as exc:
        raise AnsibleFilterError("kvmops.hypervisor.hugepage_mounts: %s" % exc)


class FilterModule(object):
    """Huge page filters."""

    def filters(self):
        return {"hugepage_mounts": hugepage_mounts}

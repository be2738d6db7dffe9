# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One plan section per applying role.

Each section module has ``ROLE`` (the role that applies it), ``OPTIONS`` (an argument
spec of that role's options, without the role-name prefix) and ``build(context,
options)``, which returns the section: everything the role writes, in the generic shape
of :func:`section` (audited item by item by ``audit/report.py``) plus what only that role
uses. Adding a role means adding its module here and to ``SECTIONS``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError, validate_section_options
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections import (
    hugepages,
    iommu,
    numa_pinning,
    nvme_queues,
    seccomp_sandbox,
    sriov_vhost,
    sysctl_net,
    zfs_storage,
)

SECTIONS = {
    "numa_pinning": numa_pinning,
    "hugepages": hugepages,
    "sysctl_net": sysctl_net,
    "iommu": iommu,
    "zfs_storage": zfs_storage,
    "nvme_queues": nvme_queues,
    "seccomp_sandbox": seccomp_sandbox,
    "sriov_vhost": sriov_vhost,
}


def build_sections(context, requested):
    """``requested``: section name -> that role's options (None or {} for the defaults)."""
    result = {}
    for name in sorted(requested or {}):
        module = SECTIONS.get(name)
        if module is None:
            raise PlanError("sections", "unknown section %r (known: %s)" % (name, ", ".join(sorted(SECTIONS))))
        options = validate_section_options(name, module.OPTIONS, requested[name])
        result[name] = module.build(context, options)
    return result

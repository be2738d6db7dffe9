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
    tuned,
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
    "tuned": tuned,
}


def build_sections(context, requested, existing=None):
    """``requested``: section name -> that role's options (None or {} for the defaults).

    A section module with ``AFTER_SECTIONS`` (tuned) is built last and reads the other
    sections as ``context.sections``: those of ``existing`` (computed earlier in the play)
    and those just built. ``VARIABLE_PREFIX`` replaces the section name in option errors
    when the role's variables are not named after it."""
    result = {}
    names = sorted(requested or {}, key=lambda n: (bool(getattr(SECTIONS.get(n), "AFTER_SECTIONS", False)), n))
    for name in names:
        module = SECTIONS.get(name)
        if module is None:
            raise PlanError("sections", "unknown section %r (known: %s)" % (name, ", ".join(sorted(SECTIONS))))
        options = validate_section_options(getattr(module, "VARIABLE_PREFIX", name), module.OPTIONS, requested[name])
        if getattr(module, "AFTER_SECTIONS", False):
            context.sections = dict((k, v) for k, v in (existing or {}).items() if k in SECTIONS)
            context.sections.update(result)
        result[name] = module.build(context, options)
    return result

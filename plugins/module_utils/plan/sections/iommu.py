# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``iommu``: formerly the IOMMU kernel arguments of the policy, applied by the
plan role (owner ``iommu``). They moved to the ``sriov_vhost`` section (owner
``sriov_vhost``, variables ``sriov_vhost_iommu`` and ``sriov_vhost_iommu_passthrough``,
which fall back to ``kvmops_plan_iommu`` and ``kvmops_plan_iommu_passthrough``). This
section stays, always empty, so the plan role's ``kernel_cmdline`` (owner ``iommu``) takes
its arguments back on hosts that had them and no two owners hold ``intel_iommu``.
``take_back`` says whether the host has anything of the owner ``iommu`` left
(``kvm_host.kernel.kernel_cmdline_owners``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import section

ROLE = "plan"

OPTIONS = {}


def build(context, options):
    if context.policy.get("iommu") or context.policy.get("iommu_passthrough"):
        context.warnings.append(
            "iommu: kvmops_plan_iommu/kvmops_plan_iommu_passthrough are applied by the sriov_vhost role now "
            "(owner sriov_vhost; set sriov_vhost_iommu / sriov_vhost_iommu_passthrough instead): the plan role "
            "no longer writes IOMMU arguments")
    owners = ((context.facts or {}).get("kernel") or {}).get("kernel_cmdline_owners")
    # Decided here from the facts, so a converged host runs no kernel_cmdline for an owner
    # it has nothing of: the plan role applies the section only when the host holds
    # arguments (a drop-in or record) of the owner iommu, or the facts cannot tell.
    return section(take_back=not isinstance(owners, list) or "iommu" in owners)

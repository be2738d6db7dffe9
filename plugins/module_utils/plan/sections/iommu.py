# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``iommu``: the IOMMU kernel arguments of the policy (kvmops_plan_iommu,
kvmops_plan_iommu_passthrough). Applied by the plan role until the SR-IOV/vhost role,
which needs them, owns them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.kernel_args import iommu_args
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import section

ROLE = "plan"

OPTIONS = {}


def build(context, options):
    return section(kernel_args=iommu_args(context.topo, context.policy, context.warnings))

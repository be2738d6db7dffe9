#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: virt_host_validate
short_description: Run libvirt's virt-host-validate for QEMU and classify its FAILs and WARNs
version_added: 0.3.0
description:
  - Runs C(virt-host-validate qemu) (read-only; its exit status is 1 when a check fails, which
    is not an error here) and parses every check line.
  - Each FAIL and WARN is classified as expected, with the reason (no hardware
    virtualisation or no C(/dev/kvm) on a TCG host, no IOMMU, no confidential-guest
    support, or listed in O(expected)), or unexpected.
  - Each unexpected FAIL or WARN is also a task warning.
  - Changes nothing; runs in check mode too. Without the command (libvirt's client tools not
    installed) RV(present) is false and nothing else is reported.
author:
  - kvmops maintainers (@kvmops)
options:
  tcg:
    description: The host has no hardware virtualisation (the seccomp_sandbox section's C(host_validate.tcg)).
    type: bool
    default: false
  iommu:
    description: The host has an IOMMU; V(false) expects the IOMMU warnings, V(null) when unknown.
    type: bool
  expected:
    description: Further checks (a substring of the check text) whose FAIL or WARN is expected.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description: Reads only, in check mode as in a normal run.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
"""

EXAMPLES = r"""
- name: virt-host-validate, with the TCG lab's expected failures
  kvmops.hypervisor.virt_host_validate:
    tcg: "{{ kvm_host_plan['seccomp_sandbox']['host_validate']['tcg'] }}"
    iommu: "{{ kvm_host_plan['seccomp_sandbox']['host_validate']['iommu'] }}"
    expected: "{{ kvm_host_plan['seccomp_sandbox']['host_validate']['expected'] }}"
  register: validate
"""

RETURN = r"""
present:
  description: Whether virt-host-validate is installed.
  returned: always
  type: bool
checks:
  description: Every check line, C({component, check, result, hint}).
  returned: always
  type: list
  elements: dict
problems:
  description: The FAILs and WARNs with C(expected) (bool) and C(reason).
  returned: always
  type: list
  elements: dict
unexpected:
  description: The number of FAILs and WARNs not expected on this host.
  returned: always
  type: int
summary:
  description: Result word to number of checks (C(PASS), C(WARN), C(FAIL), C(NOTE)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.host_validate import run_validate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tcg=dict(type="bool", default=False),
            iommu=dict(type="bool"),
            expected=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = run_validate(module, params["tcg"], params["iommu"], params["expected"])
    if not result["present"]:
        module.warn("virt-host-validate is not installed (libvirt's client tools): nothing checked")
    for item in result["problems"]:
        if not item["expected"]:
            hint = item.get("hint") or "no hint"
            module.warn("virt-host-validate: %s %s: %s (%s)" % (item["component"], item["check"], item["result"], hint))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

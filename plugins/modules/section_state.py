#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: section_state
short_description: Read what a host holds for every item of the plan's sections (read-only, for the audit)
version_added: 0.2.0
description:
  - For each section of C(kvm_host_plan) given, reads the running value of every sysctl,
    every sysfs attribute (the selected word of a choice list like C(always [madvise] never)),
    the text of every file the section owns, the C(KEY=) lines of the files it edits, and
    its mounts (C(/proc/self/mounts) and C(/etc/fstab)), the pinning of its guests (their
    libvirt definition) and its libvirt storage pools (C(libvirt_pools), read from the
    definition in C(/etc/libvirt/storage), the autostart link and the state file of a
    running pool in C(/run/libvirt/storage)).
  - For a section with C(expect) (C(seccomp_sandbox)) also the running QEMU processes and
    C(qemu.conf) as libvirt reads it, and, for one with C(host_validate), the result of
    C(virt-host-validate qemu) (the only command this module runs; not under a test O(root)).
  - Changes nothing; a missing file or attribute is reported as V(null).
  - C(playbooks/audit.yml) hands the result to the C(kvmops.hypervisor.audit_report) filter,
    which compares it with the plan item by item.
extends_documentation_fragment:
  - kvmops.hypervisor.root
author:
  - kvmops maintainers (@kvmops)
options:
  sections:
    description: Section name to section, as in C(kvm_host_plan) (e.g. its C(numa_pinning) key).
    type: dict
    required: true
attributes:
  check_mode:
    description: Reads only, in check mode as in a normal run.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
"""

EXAMPLES = r"""
- name: What the host holds for the plan
  kvmops.hypervisor.section_state:
    sections: "{{ kvm_host_plan | dict2items | selectattr('value', 'mapping') | items2dict }}"
  register: observed
"""

RETURN = r"""
observed:
  description: Section name to C({sysctl, sysfs, boot_sysfs, files, lines, mounts, fstab, guests, libvirt_pools}), item to what
    the host holds.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.host_validate import run_validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.observe import observe
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader


def main():
    module = AnsibleModule(
        argument_spec=dict(sections=dict(type="dict", required=True), root=dict(type="path", default="/")),
        supports_check_mode=True,
    )
    observed = observe(Reader(module.params["root"]), module.params["sections"])
    # virt-host-validate is a command: only on the host itself, never under a test root
    for name, section in sorted(module.params["sections"].items()):
        wanted = section.get("host_validate") if isinstance(section, dict) else None
        if isinstance(wanted, dict) and module.params["root"] == "/" and name in observed:
            observed[name]["host_validate"] = run_validate(module, bool(wanted.get("tcg")), wanted.get("iommu"),
                                                           wanted.get("expected") or [])
    module.exit_json(changed=False, observed=observed)


if __name__ == "__main__":
    main()

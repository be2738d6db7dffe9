#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sysctl_dropin
short_description: Write a checked sysctl profile as one drop-in, apply it and verify it
version_added: 0.1.0
description:
  - Merges the profile like M(kvmops.hypervisor.sysctl_check), loads the kernel modules its
    keys need (C(br_netfilter) for C(net.bridge.*)), checks every key against the running
    kernel, writes the drop-in O(path) and one C(kvmops-MODULE.conf) per kernel module in
    O(modules_load_dir), applies with C(sysctl -e --system) (every drop-in, in the order
    boot applies them) and verifies that each key of the profile now runs with its value.
  - Nothing is written before every check passed. It fails on bad input (the message names
    the variable, see O(labels)), on keys the kernel does not know or cannot set here
    (unless O(ignore_unknown)), and on keys that a file read after O(path) sets to another
    value (that file would win at boot and on every C(sysctl --system)).
  - When the kernel rejects a value, the previous files and the previous running values of
    the profile's keys are put back, kernel modules loaded by this run are unloaded, and
    the module fails naming each key with what the kernel said.
  - Applies when a file changed or when a running value differs from the profile (drift,
    also reported as a warning). C(changed) follows the files and the running values.
  - An empty profile (nothing left after O(removals) and O(ignore_unknown)) is no drop-in;
    the file at O(path) is removed when it exists, nothing is applied and the module
    succeeds. This is how a role whose plan has no sysctls removes the drop-in it wrote before.
  - Any role can use it with its own drop-in (O(path)) and its own O(labels); a profile
    whose keys need no kernel module writes no C(modules-load.d) file and loads nothing.
  - Every file is written atomically (temporary file, fsync, rename), mode C(0644), owned
    by root.
  - One module run, so a converged host costs one task; the C(kvmops.hypervisor.sysctl_net)
    role is this module.
author:
  - kvmops maintainers (@kvmops)
extends_documentation_fragment:
  - kvmops.hypervisor.sysctl_profile
options:
  modules_load_dir:
    description:
      - Directory of the C(modules-load.d) files that load the kernel modules the profile's
        keys need at boot (systemd-modules-load runs before systemd-sysctl).
    type: path
    default: /etc/modules-load.d
  load_modules:
    description:
      - Load the kernel modules the profile's keys need (C(modprobe)) and write their
        C(kvmops-MODULE.conf) in O(modules_load_dir).
      - V(false) loads nothing and writes no C(modules-load.d) file; keys of a module that
        is not active stay in the drop-in unchecked (reported in RV(unchecked)); at boot
        and on C(sysctl --system) they are skipped while the module is not loaded
        (systemd-sysctl and C(sysctl -e) ignore a missing key). The
        C(kvmops.hypervisor.sysctl_net) role passes V(false), so it never loads
        C(br_netfilter).
    type: bool
    default: true
    version_added: 0.3.0
  apply:
    description:
      - Load the kernel modules (see O(load_modules)), apply the drop-ins to the running kernel and verify.
      - V(false) writes the files only and touches no running state (an image or a chroot);
        keys are still checked against C(/proc/sys) under O(root) when it exists.
      - V(true) needs O(root=/).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Predicts the files that would change (with O(ignore_unknown) keys left out), the
      running values that would change and the kernel modules that would be loaded.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: One diff per file, and one of the running values that differ from the profile.
notes:
  - In check mode, keys of a kernel module that is not loaded yet cannot be checked; they are
    reported in RV(unchecked) and checked by the real run after loading the module.
  - Kernel modules no longer needed keep their C(kvmops-MODULE.conf); remove it by hand.
  - Removing the drop-in of an empty profile leaves the running values as they are until
    the next boot.
seealso:
  - module: kvmops.hypervisor.sysctl_check
  - module: ansible.posix.sysctl
"""

EXAMPLES = r"""
- name: Network sysctls of a hypervisor, one drop-in, applied and verified
  kvmops.hypervisor.sysctl_dropin:
    settings:
      net.core.somaxconn: 4096
      net.ipv4.tcp_rmem: [4096, 131072, 33554432]
      net.bridge.bridge-nf-call-iptables: 0
    ip_forward: auto
    libvirt_networks: "{{ kvm_host.libvirt.networks | default([]) }}"
    path: /etc/sysctl.d/90-kvmops-net.conf
    header: "Managed by Ansible"

- name: Another role's drop-in, whose keys need no kernel module
  kvmops.hypervisor.sysctl_dropin:
    settings:
      kernel.numa_balancing: 0
    ignore_unknown: true
    path: /etc/sysctl.d/90-kvmops-numa.conf
    header: "Managed by Ansible (kvmops.hypervisor.numa_pinning)"

- name: No sysctls in the plan any more, so no drop-in (removes the file written before)
  kvmops.hypervisor.sysctl_dropin:
    settings: {}
    path: /etc/sysctl.d/90-kvmops-numa.conf

- name: Write the files into an image only
  kvmops.hypervisor.sysctl_dropin:
    settings:
      net.core.somaxconn: 4096
    apply: false
"""

RETURN = r"""
profile:
  description: The merged profile, canonical key to the value string written to the drop-in.
  returned: always
  type: dict
  sample: {"net.ipv4.ip_forward": "1", "net.core.somaxconn": "4096"}
entries:
  description: The profile as a list, with the variable each key came from and its documentation.
  returned: always
  type: list
  elements: dict
content:
  description: Text of the drop-in file, empty for an empty profile (no drop-in).
  returned: always
  type: str
files:
  description:
    - Every file the profile manages, path to whether it was (or in check mode would be) written.
    - For an empty profile, O(path) only, and whether it was (or would be) removed.
  returned: always
  type: dict
  sample: {"/etc/modules-load.d/kvmops-br_netfilter.conf": false, "/etc/sysctl.d/90-kvmops-net.conf": true}
differ:
  description: Keys whose running value differed from the profile before this run (the ones set, or that would be).
  returned: always
  type: list
  elements: str
live:
  description: Running value of each key after this run (before it in check mode).
  returned: always
  type: dict
applied:
  description: Whether C(sysctl --system) ran (or in check mode would run).
  returned: always
  type: bool
modules:
  description: Kernel modules the profile's keys need.
  returned: always
  type: list
  elements: str
modules_loaded:
  description: Kernel modules this run loaded (or in check mode would load).
  returned: always
  type: list
  elements: str
unknown:
  description: Keys with no C(/proc/sys) entry, left out (with O(ignore_unknown)).
  returned: always
  type: list
  elements: str
readonly:
  description: Keys that cannot be set here, left out (with O(ignore_unknown)).
  returned: always
  type: list
  elements: str
unchecked:
  description: Keys not checked because their kernel module is not active (check mode, or O(apply=false)).
  returned: always
  type: dict
shadowed:
  description: Keys a file read after O(path) sets again to the same value, key to that file.
  returned: always
  type: dict
checked:
  description: Whether C(/proc/sys) exists under O(root), that is whether keys were checked at all.
  returned: always
  type: bool
ip_forward:
  description: The decided C(net.ipv4.ip_forward) and why, when O(ip_forward) is set.
  returned: when O(ip_forward) is set
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.steps import (
    StepError,
    sysctl_dropin,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import profile_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile_argument_spec(),
            modules_load_dir=dict(type="path", default="/etc/modules-load.d"),
            load_modules=dict(type="bool", default=True),
            apply=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    try:
        result = sysctl_dropin(module, module.params)
    except StepError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    for warning in result.pop("warnings"):
        module.warn(warning)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sysctl_check
short_description: Merge a sysctl profile and check it against the running kernel
version_added: 0.1.0
description:
  - Merges a baseline mapping of sysctl keys with overrides and removals (and, optionally,
    C(net.ipv4.ip_forward) decided from the host's libvirt networks), normalises the values
    and checks every key against C(/proc/sys) under O(root).
  - Returns the keys the running kernel does not know, the live value of every known key,
    the keys whose live value differs from the profile, the kernel modules the profile
    needs (C(br_netfilter) for C(net.bridge.*)) and whether they are active, keys that a
    later file in the C(sysctl --system) order sets again, and the drop-in file text.
  - Read-only; it never changes a file or a kernel setting, in check mode or not. The
    C(kvmops.hypervisor.sysctl_net) role uses it before writing its drop-in and to verify
    the result; C(playbooks/audit.yml) uses it to report drift.
  - Fails, before anything is written, on a bad key or value (naming the variable that
    holds it, see O(labels)) and on keys unknown to the kernel unless O(ignore_unknown).
author:
  - kvmops maintainers (@kvmops)
extends_documentation_fragment:
  - kvmops.hypervisor.sysctl_profile
options:
  fail_on_differ:
    description:
      - Fail when a key's running value is not the profile's (verification after applying);
        the message lists each key with its running and wanted value and the file that sets
        it again, if any.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Read-only; it does the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Keys of a kernel module that is not active yet (C(net.bridge.*) before C(br_netfilter)
    is loaded) are returned in RV(unchecked), not in RV(unknown); load the module and call
    the module again to check them.
  - When O(root) has no C(/proc/sys) (a chroot without C(/proc)), nothing can be checked;
    RV(checked) is false and a warning says so.
seealso:
  - module: ansible.posix.sysctl
"""

EXAMPLES = r"""
- name: Check the profile against the running kernel
  kvmops.hypervisor.sysctl_check:
    settings:
      net.core.somaxconn: 4096
      net.ipv4.tcp_rmem: [4096, 131072, 33554432]
    removals:
      - vm.max_map_count
    ip_forward: auto
    libvirt_networks: "{{ kvm_host.libvirt.networks | default([]) }}"
  register: net_profile

- name: Report drift only (audit)
  kvmops.hypervisor.sysctl_check:
    settings: "{{ sysctl_net_baseline }}"
    ignore_unknown: true
  register: drift

- name: Show keys whose running value differs
  ansible.builtin.debug:
    var: drift.differ
"""

RETURN = r"""
profile:
  description: The merged profile, canonical key to the value string written to the drop-in (unknown keys left out).
  returned: always
  type: dict
  sample: {"net.ipv4.ip_forward": "1", "net.core.somaxconn": "4096"}
entries:
  description: The profile as a list, with the variable each key came from and its documentation.
  returned: always
  type: list
  elements: dict
  sample: [{"key": "net.core.somaxconn", "value": "4096", "origin": "settings",
            "doc": "Documentation/admin-guide/sysctl/net.rst", "source": "listen() backlog"}]
content:
  description: Text of the drop-in file for RV(profile), each key with a comment naming its source.
  returned: always
  type: str
unknown:
  description: Keys with no C(/proc/sys) entry on this kernel (left out of RV(profile)).
  returned: always
  type: list
  elements: str
readonly:
  description:
    - Keys whose C(/proc/sys) entry cannot be written here (left out of RV(profile)), like
      C(net.core.rmem_max) in a network namespace other than the initial one.
  returned: always
  type: list
  elements: str
unchecked:
  description: Keys not checked because their kernel module is not active, key to module.
  returned: always
  type: dict
  sample: {"net.bridge.bridge-nf-call-iptables": "br_netfilter"}
modules:
  description: Kernel modules the profile's keys need.
  returned: always
  type: list
  elements: str
  sample: ["br_netfilter"]
modules_missing:
  description: Those of RV(modules) that are not active (neither loaded nor built in).
  returned: always
  type: list
  elements: str
live:
  description: Running value of each known key (whitespace collapsed), null when unreadable.
  returned: always
  type: dict
  sample: {"net.core.somaxconn": "4096"}
differ:
  description: Keys of RV(profile) whose running value is not the profile's value.
  returned: always
  type: list
  elements: str
shadowed:
  description: Keys of RV(profile) that a file read after O(path) sets again, key to that file.
  returned: always
  type: dict
  sample: {"net.core.somaxconn": "/etc/sysctl.d/99-local.conf"}
checked:
  description: Whether C(/proc/sys) exists under O(root), that is whether keys were checked at all.
  returned: always
  type: bool
ip_forward:
  description: The decided C(net.ipv4.ip_forward) and why, when O(ip_forward) is set.
  returned: when O(ip_forward) is set
  type: dict
  sample: {"value": true, "reason": "ip_forward=auto: libvirt network(s) route guest traffic: default (nat)"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    prepare,
    profile_argument_spec,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_conf import (
    entries,
    render,
    shadowed,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_proc import (
    check,
    unchecked_warnings,
)


def describe_differ(result):
    """``key is 'live', want 'value' (set again in FILE)`` for each differing key."""
    parts = []
    for key in result["differ"]:
        text = "%s is %r, want %r" % (key, result["live"].get(key), result["profile"].get(key))
        if key in result["shadowed"]:
            text += " (set again in %s)" % result["shadowed"][key]
        parts.append(text)
    return "; ".join(parts)


def run(params):
    """Pure run: params -> (result, warnings); raises SysctlError on bad input or unknown keys."""
    profile, origins, sources, labels, result, warnings = prepare(params)
    result["changed"] = False
    reader = Reader(params.get("root") or "/")
    state = check(reader, profile, origins, labels, params.get("ignore_unknown"), warnings)
    warnings.extend(unchecked_warnings(state))
    result.update(state)
    result["profile"] = dict(profile)
    result["entries"] = entries(profile, origins, sources)
    result["content"] = render(profile, sources, params.get("header") or None)
    result["shadowed"] = shadowed(reader, params.get("path") or "/etc/sysctl.d/90-kvmops-net.conf", list(profile))
    for key, where in sorted(result["shadowed"].items()):
        warnings.append("%s is set again in %s, which sysctl --system and boot apply later" % (key, where))
    warnings.extend(reader.warnings)
    if params.get("fail_on_differ") and result["differ"]:
        raise SysctlError("running values differ from the profile: %s" % describe_differ(result))
    return result, warnings


def main():
    module = AnsibleModule(
        argument_spec=dict(profile_argument_spec(), fail_on_differ=dict(type="bool", default=False)),
        supports_check_mode=True,
    )
    try:
        result, warnings = run(module.params)
    except SysctlError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

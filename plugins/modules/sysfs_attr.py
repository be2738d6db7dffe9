#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sysfs_attr
short_description: Set sysfs and /proc/sys attributes of the running kernel, compare first
version_added: 0.1.0
description:
  - Reads every attribute, compares it with the wanted value and writes only those that
    differ; reads back after writing and fails when the kernel did not take the value.
  - Understands choice lists such as C(always [madvise] never)
    (C(/sys/kernel/mm/transparent_hugepage/enabled)); the bracketed word is the current
    value, and a wanted value that is not among the words is refused before anything is
    written.
  - Understands boolean module parameters shown as C(Y)/C(N) (for example
    C(/sys/module/zswap/parameters/enabled)); V(true), V(1), V(Y) all mean C(Y).
  - Every attribute is validated before the first write, so a bad request changes nothing.
  - Changes only the running kernel. For persistence use a C(tmpfiles.d) or C(sysctl.d)
    drop-in or a kernel argument.
extends_documentation_fragment:
  - kvmops.hypervisor.root
author:
  - kvmops maintainers (@kvmops)
options:
  attributes:
    description:
      - Mapping of absolute path (below C(/sys) or C(/proc/sys)) to the wanted value.
      - A null value leaves that attribute alone, so callers can pass optional settings
        without building the mapping conditionally.
    type: dict
    required: true
  missing:
    description:
      - What to do when an attribute does not exist (the kernel lacks the feature).
    type: str
    choices: [fail, warn, ignore]
    default: fail
attributes:
  check_mode:
    description: Can run in check mode and predict the change without modifying the target.
    support: full
    details: Nothing is written; the result predicts the values.
  diff_mode:
    description: Returns what changed (or would change in check mode) in diff mode.
    support: full
    details: The values before and after, one line per attribute or pool.
  platform:
    description: Target operating systems.
    support: N/A
    platforms: posix
"""

EXAMPLES = r"""
- name: Transparent huge pages only where asked for, KSM stopped
  kvmops.hypervisor.sysfs_attr:
    attributes:
      /sys/kernel/mm/transparent_hugepage/enabled: madvise
      /sys/kernel/mm/ksm/run: 0

- name: zswap settings, when the kernel has zswap
  kvmops.hypervisor.sysfs_attr:
    attributes:
      /sys/module/zswap/parameters/enabled: true
      /sys/module/zswap/parameters/compressor: lz4
      /sys/module/zswap/parameters/max_pool_percent: 20
    missing: warn
"""

RETURN = r"""
attributes:
  description: Per path, the wanted value, the value before and after, and whether it is missing.
  returned: always
  type: dict
  sample:
    /sys/kernel/mm/transparent_hugepage/enabled:
      wanted: madvise
      before: always
      after: madvise
      missing: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysfs_attr import (
    SysfsAttrError,
    apply,
    render,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            attributes=dict(type="dict", required=True),
            missing=dict(type="str", default="fail", choices=["fail", "warn", "ignore"]),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    try:
        report = apply(
            module.params["attributes"],
            root=module.params["root"],
            check_mode=module.check_mode,
            missing=module.params["missing"],
        )
    except SysfsAttrError as exc:
        module.fail_json(msg="attributes: %s" % exc)

    for warning in report["warnings"]:
        module.warn(warning)
    result = dict(changed=report["changed"], attributes=report["attributes"])
    if module._diff:
        result["diff"] = dict(
            before_header="sysfs (before)",
            after_header="sysfs (after)",
            before=render(report["attributes"], "before"),
            after=render(report["attributes"], "after"),
        )
    if report["errors"]:
        module.fail_json(msg="; ".join(report["errors"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

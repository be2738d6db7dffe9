#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: qemu_conf_lines
short_description: Set key = value lines in libvirt's qemu.conf, checked as libvirt reads them before writing
version_added: 0.3.0
description:
  - "Sets, removes or releases C(key = value) lines in C(/etc/libvirt/qemu.conf) like
    M(kvmops.hypervisor.config_files) (each line under the marker
    C(# Managed by kvmops.hypervisor: key); the rest of the file stays as it is), then reads
    the whole new text back with libvirt's configuration grammar (virConf) before writing."
  - Refused, with nothing written, when the new text does not parse, when a setting of the
    file has a value of a type the QEMU driver refuses (the daemon would not start; the
    key/type table is libvirt's C(src/qemu/qemu.conf.in)), or when a line does not read back
    as written (a multi-line list of the administrator's own under the same key, for example).
  - A missing file is left missing (libvirt is not installed), with a warning, and reported in RV(missing).
  - Check mode writes nothing and reports the same change and diff.
extends_documentation_fragment:
  - kvmops.hypervisor.root
author:
  - kvmops maintainers (@kvmops)
options:
  path:
    description: The file.
    type: path
    default: /etc/libvirt/qemu.conf
  lines:
    description:
      - Key to the whole line (C(key = value)), V(null) (no line may set the key) or V(false)
        (remove only the line kvmops wrote; the administrator's own stays).
    type: dict
    required: true
attributes:
  check_mode:
    description: Writes nothing; reports the same change and diff.
    support: full
  diff_mode:
    description: The file before and after.
    support: full
"""

EXAMPLES = r"""
- name: qemu.conf lines of the seccomp_sandbox section
  kvmops.hypervisor.qemu_conf_lines:
    path: /etc/libvirt/qemu.conf
    lines: "{{ kvm_host_plan['seccomp_sandbox']['lines']['/etc/libvirt/qemu.conf'] }}"
"""

RETURN = r"""
settings:
  description: Every setting of the new text as libvirt reads it (key to value).
  returned: when the file exists
  type: dict
missing:
  description: True when the file does not exist (nothing written).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.steps import (
    StepError,
    qemu_conf_lines,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/libvirt/qemu.conf"),
            lines=dict(type="dict", required=True),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    try:
        result = qemu_conf_lines(module, module.params["path"], module.params["lines"], module.params["root"])
    except StepError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    for warning in result.pop("warnings"):
        module.warn(warning)
    diffs = result.pop("diff")
    if diffs:
        result["diff"] = diffs[0]
    module.exit_json(**result)


if __name__ == "__main__":
    main()

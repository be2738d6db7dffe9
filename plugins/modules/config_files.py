#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: config_files
short_description: Write the files a role owns and the KEY= lines it owns in other files, from its plan section
version_added: 0.2.0
description:
  - One call per role. Every file of O(files) is written whole (or removed), every line of
    O(lines) set (or removed), through the collection's one atomic writer (a temporary file
    in the same directory, fsync, rename), so a reader sees the old file or the new one.
  - Compares first; writes only what differs (text, mode 0644, root ownership).
  - A file of O(lines) that does not exist is left missing (the package that owns it is not
    installed) and reported in RV(missing_files).
  - Check mode writes nothing and reports the same changes and diffs.
extends_documentation_fragment:
  - kvmops.hypervisor.root
author:
  - kvmops maintainers (@kvmops)
options:
  files:
    description:
      - Path to the whole text of a file the caller owns; V(null) removes the file.
    type: dict
    default: {}
  lines:
    description:
      - "Path to a dict of KEY to line, for C(KEY=) lines in a file others own. The line must
        set KEY (C(KEY=value), C(key = value)); V(null) removes every line that sets KEY;
        V(false) removes only a line that kvmops wrote (the one under its marker comment) and
        leaves the administrator's own line."
      - The first line that sets KEY is replaced in place and later ones removed; a new line
        goes after the package's commented example C(#KEY=), else at the end.
      - "A line written here has the marker comment C(# Managed by kvmops.hypervisor: KEY)
        right above it."
    type: dict
    default: {}
attributes:
  check_mode:
    description: Writes nothing; reports the same changes and diffs.
    support: full
  diff_mode:
    description: One diff per file written or removed.
    support: full
"""

EXAMPLES = r"""
- name: Files and lines of the numa_pinning section
  kvmops.hypervisor.config_files:
    files: "{{ kvm_host_plan['numa_pinning']['files'] }}"
    lines: "{{ kvm_host_plan['numa_pinning']['lines'] }}"
"""

RETURN = r"""
changed_files:
  description: Paths written or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
missing_files:
  description: Files of O(lines) that do not exist and were left missing (not C(skipped), Ansible's own key).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.steps import (
    StepError,
    config_files,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="dict", default={}),
            lines=dict(type="dict", default={}),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    try:
        result = config_files(module, module.params["files"], module.params["lines"], module.params["root"])
    except StepError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    result.pop("warnings")
    module.exit_json(**result)


if __name__ == "__main__":
    main()

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

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.config_files import (
    ConfigError,
    check_lines,
    edit_lines,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common import files as fileio
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader


def wanted_texts(params):
    """path -> new text (None: absent) for every file that changes; skipped paths."""
    check_lines(params["lines"])
    root = params["root"]
    wanted = {}
    skipped = []
    for path, text in sorted(params["files"].items()):
        if not os.path.isabs(path):
            raise ConfigError("files: %r is not an absolute path" % path)
        if text is not None and not isinstance(text, str):
            raise ConfigError("files[%s] must be text or null" % path)
        wanted[path] = text
    for path, keys in sorted(params["lines"].items()):
        if not os.path.isabs(path):
            raise ConfigError("lines: %r is not an absolute path" % path)
        if path in wanted:
            raise ConfigError("lines: %s is also in files" % path)
        state = fileio.FileState(Reader(root).path(path))
        if not state.exists:
            if any(line is not None for line in keys.values()):
                skipped.append(path)
            continue
        wanted[path] = edit_lines(state.text, keys)
    return wanted, skipped


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
        wanted, skipped = wanted_texts(module.params)
    except ConfigError as exc:
        module.fail_json(msg=str(exc))
    root = module.params["root"]
    changed_files = []
    diffs = []
    for path, text in sorted(wanted.items()):
        full = Reader(root).path(path)
        state = fileio.FileState(full)
        # A file of lines keeps its mode (libvirt's qemu.conf is 0600); owned files are 0644.
        mode = state.mode if (path in module.params["lines"] and state.mode is not None) else fileio.DEFAULT_MODE
        if text is None:
            if not os.path.lexists(full):
                continue
        elif not fileio.needs_write(full, text, mode):
            continue
        changed_files.append(path)
        diffs.append(fileio.diff(full, text, label=path))
        if module.check_mode:
            continue
        try:
            if text is None:
                fileio.remove(full)
            else:
                fileio.write_text(full, text, mode=mode)
        except (IOError, OSError) as exc:
            module.fail_json(msg="%s: %s (files written before it: %s)" % (path, exc, ", ".join(changed_files[:-1]) or "none"),
                             changed_files=changed_files[:-1])
    module.exit_json(changed=bool(changed_files), changed_files=changed_files, missing_files=skipped, diff=diffs)


if __name__ == "__main__":
    main()

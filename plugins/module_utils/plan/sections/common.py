# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The generic shape of a plan section: what every role writes, item by item.

- ``kernel_args``: ordered ``[name, value]`` pairs, applied by kernel_cmdline with the
  section's name as owner (value None: a flag).
- ``sysctl``: ``{path, values: {key: value}, sources: {key: reason}, origins: {key:
  variable}, header}``, one drop-in per role through sysctl_dropin (no values: the
  drop-in is removed; origins name the variable in its error messages).
- ``files``: ``{path: text}`` for files the role owns whole (None: must be absent).
- ``lines``: ``{path: {KEY: line}}`` for ``KEY=`` lines in files others own (None: no
  such line); a missing file is left missing.
- ``sysfs``: ``{path: value}`` runtime attributes set now on a live host.
- ``boot_sysfs``: ``{path: value}`` kernel state that follows the section's kernel
  arguments (audited, pending while a reboot is).
- ``mounts``: ``[{path, src, fstype, opts}]``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

GENERIC_KEYS = ("kernel_args", "sysctl", "files", "lines", "sysfs", "boot_sysfs", "mounts")


def section(**fields):
    """A section with every generic key present (empty when not given)."""
    result = {
        "kernel_args": [],
        "sysctl": {"path": None, "values": {}, "sources": {}, "origins": {}, "header": ""},
        "files": {},
        "lines": {},
        "sysfs": {},
        "boot_sysfs": {},
        "mounts": [],
    }
    result.update(fields)
    return result


def managed_header(role, text):
    """The comment block above every file a role owns (no comment markers)."""
    return ("Managed by Ansible (kvmops.hypervisor.%s); local changes are overwritten.\n\n%s"
            % (role, text)).rstrip("\n")


def comment(text):
    """``text`` as ``# ``-comment lines."""
    return "".join(("# %s" % line).rstrip() + "\n" for line in text.split("\n"))

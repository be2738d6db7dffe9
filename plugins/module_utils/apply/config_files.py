# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files a role owns whole and ``KEY=`` lines in files others own: the new text, pure.

``edit_lines(text, lines)``: ``lines`` maps a key to the whole line that must hold it
(``KEY=value``, ``key = value``) or None (no line may set it). The first line setting a
key is replaced in place, later ones removed; a key with no line yet goes right after the
package's commented example (``#KEY=``, as Debian's /etc/default/irqbalance and libvirt's
qemu.conf carry them), else at the end. Comments and every other line stay as they are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


class ConfigError(ValueError):
    """A request this module cannot carry out; the message names the option."""


def key_pattern(key):
    return re.compile(r"^\s*%s\s*=" % re.escape(key))


def example_pattern(key):
    return re.compile(r"^\s*#\s*%s\s*=" % re.escape(key))


def check_lines(lines, label="lines"):
    if not isinstance(lines, dict):
        raise ConfigError("%s must be a dict of path to {KEY: line}, got %s" % (label, type(lines).__name__))
    for path, keys in lines.items():
        if not isinstance(keys, dict):
            raise ConfigError("%s[%s] must be a dict of KEY to line or null" % (label, path))
        for key, line in keys.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
                raise ConfigError("%s[%s]: %r is not a variable name" % (label, path, key))
            if line is not None and (not isinstance(line, str) or "\n" in line
                                     or not key_pattern(key).match(line)):
                raise ConfigError("%s[%s][%s]: %r must be one line that sets %s" % (label, path, key, line, key))


def edit_lines(text, lines):
    """``text`` with ``lines`` applied (see the module docstring)."""
    rows = text.split("\n")
    trailing = rows and rows[-1] == ""
    if trailing:
        rows.pop()
    for key in sorted(lines):
        wanted = lines[key]
        pattern = key_pattern(key)
        out = []
        placed = False
        for row in rows:
            if pattern.match(row):
                if wanted is not None and not placed:
                    out.append(wanted)
                    placed = True
                continue
            out.append(row)
        if wanted is not None and not placed:
            examples = [i for i, row in enumerate(out) if example_pattern(key).match(row)]
            if examples:
                out.insert(examples[-1] + 1, wanted)
            else:
                out.append(wanted)
        rows = out
    return "\n".join(rows) + ("\n" if rows else "")


def current_values(text, keys):
    """KEY -> the last line that sets it (None when none does)."""
    found = dict((key, None) for key in keys)
    for row in (text or "").split("\n"):
        for key in keys:
            if key_pattern(key).match(row):
                found[key] = row.strip()
    return found

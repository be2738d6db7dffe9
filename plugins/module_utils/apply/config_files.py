# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files a role owns whole and ``KEY=`` lines in files others own: the new text, pure.

``edit_lines(text, lines)``: ``lines`` maps a key to

- the whole line that must hold it (``KEY=value``, ``key = value``): the first line
  setting the key is replaced in place, later ones removed; a key with no line yet goes
  right after the package's commented example (``#KEY=``, as Debian's
  /etc/default/irqbalance and libvirt's qemu.conf carry them), else at the end. The line
  is written with the marker comment ``# Managed by kvmops.hypervisor: KEY`` right above
  it, so that a later run knows the line is ours;
- None: no line may set the key (every one is removed, with its marker);
- False (release): the line is removed only when the marker says kvmops wrote it; a line
  the administrator wrote (no marker) stays. This is how a role takes back what it set
  when the plan no longer asks for it, without deleting the operator's own settings.

Comments and every other line stay as they are.
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


MARKER = "# Managed by kvmops.hypervisor: %s"


def marker(key):
    return MARKER % key


def check_lines(lines, label="lines"):
    if not isinstance(lines, dict):
        raise ConfigError("%s must be a dict of path to {KEY: line}, got %s" % (label, type(lines).__name__))
    for path, keys in lines.items():
        if not isinstance(keys, dict):
            raise ConfigError("%s[%s] must be a dict of KEY to line, null or false" % (label, path))
        for key, line in keys.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
                raise ConfigError("%s[%s]: %r is not a variable name" % (label, path, key))
            if line is None or line is False:
                continue
            if not isinstance(line, str) or "\n" in line or not key_pattern(key).match(line):
                raise ConfigError("%s[%s][%s]: %r must be one line that sets %s, null or false"
                                  % (label, path, key, line, key))


def _is_marker(row, key):
    return row.strip() == marker(key)


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
        owned = False  # the previous row is our marker for this key
        for row in rows:
            if _is_marker(row, key):
                owned = True
                continue  # markers are written again with the line they belong to
            if pattern.match(row):
                if isinstance(wanted, str) and not placed:
                    out.extend([marker(key), wanted])
                    placed = True
                elif wanted is False and not owned:
                    out.append(row)  # the administrator's line: not ours to remove
                owned = False
                continue
            owned = False
            out.append(row)
        if isinstance(wanted, str) and not placed:
            examples = [i for i, row in enumerate(out) if example_pattern(key).match(row)]
            if examples:
                out[examples[-1] + 1:examples[-1] + 1] = [marker(key), wanted]
            else:
                out.extend([marker(key), wanted])
        rows = out
    return "\n".join(rows) + ("\n" if rows else "")


def current_values(text, keys, owned_only=()):
    """KEY -> the last line that sets it (None when none does); for the keys of
    ``owned_only``, only a line under kvmops' marker counts."""
    found = dict((key, None) for key in keys)
    previous = None
    for row in (text or "").split("\n"):
        for key in keys:
            if key_pattern(key).match(row) and (key not in owned_only or _is_marker(previous or "", key)):
                found[key] = row.strip()
        previous = row
    return found

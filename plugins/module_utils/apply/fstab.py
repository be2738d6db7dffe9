# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lines of /etc/fstab, edited exactly as ``ansible.posix.mount`` edits them with
``state: present`` or ``mounted`` on Linux (ansible.posix 2.1.0, plugins/modules/mount.py,
``_set_mount_save_old``), so a host converged by one sees no change from the other.

Its rules, one entry at a time:

- a new line is ``src path fstype opts dump passno`` and a newline, fields separated by one
  space, each escaped as it escapes them (``\\`` ``\\134``, space ``\\040``, ``&`` ``\\046``);
  ``dump`` and ``passno`` default to ``0``;
- lines are read as ``readlines`` reads them; blank lines, comments (first non-blank
  character ``#``) and lines that do not have 4 to 6 fields (the part before any ``#``) are
  kept as they are;
- a line whose second field is the entry's mount point matches. It is already right when its
  fields ``src``, ``fstype``, ``opts``, ``dump`` and ``passno`` equal the entry's (the fields
  are compared, not the spacing, so a hand-aligned line stays untouched). A line without the
  optional 5th or 6th field never is: ansible.posix fills them with the integer 0, which
  never equals the string ``'0'``, so it rewrites such a line with both fields, and so do we;
- EVERY matching line is made right, not only the first: once a field of one differed
  (ansible.posix's ``changed`` flag, kept across the lines of one entry), that line and every
  later line of the same mount point are rewritten in the format above, the fields that
  differed replaced and the others kept; an inline comment on a rewritten line is lost, as
  there. Duplicates stay duplicates (both right): the choice of ansible.posix, kept so the
  two writers agree byte for byte;
- no matching line: the new line is appended at the end;
- when something changed, every line read without a final newline (only the last can be)
  gets one; when nothing changed the file is not written at all.

ansible.posix also skips, for a ``swap`` line whose mount point is ``none``, a line with
another ``src``; our entries have absolute mount points, never ``none``, so that rule
cannot apply and is not copied.

What differs is how the file is written: here atomically (plugins/module_utils/common/files.py),
keeping its mode and owner; there in place, ``open(path, 'w')``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

FSTAB = "/etc/fstab"

# ansible.posix.mount: new_line = '%(src)s %(name)s %(fstype)s %(opts)s %(dump)s %(passno)s\n'
LINE = "%(src)s %(name)s %(fstype)s %(opts)s %(dump)s %(passno)s\n"
FIELDS = ("src", "name", "fstype", "opts", "dump", "passno")
COMPARED = ("src", "fstype", "opts", "dump", "passno")

# The options of one entry (the step's argument spec); defaults as ansible.posix.mount's.
ENTRY_SPEC = dict(
    path=dict(type="str", required=True),
    src=dict(type="str", required=True),
    fstype=dict(type="str", required=True),
    opts=dict(type="str", default="defaults"),
    dump=dict(type="str", default="0"),
    passno=dict(type="str", default="0"),
)


class FstabError(Exception):
    pass


def escape(value):
    """A field as ansible.posix.mount's _escape_fstab writes it (backslash first)."""
    return value.replace("\\", "\\134").replace(" ", "\\040").replace("&", "\\046")


def read_lines(text):
    """``text`` split as ``file.readlines()`` splits it: after each newline, and only there."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def check_entry(entry):
    """An entry (every key of ENTRY_SPEC given): an absolute mount point, no field empty or
    holding a newline, a tab or a ``#`` (ansible.posix would write such a line as it is, and
    then never find it again: it reads fields before the first ``#``)."""
    for key in ("path", "src", "fstype", "opts", "dump", "passno"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise FstabError("%s: %s must be a non-empty string, got %r" % (entry.get("path"), key, value))
        if any(char in value for char in "\n\t\r#"):
            raise FstabError("%s: %s holds a newline, a tab or a #: %r" % (entry.get("path"), key, value))
    if not entry["path"].startswith("/"):
        raise FstabError("%r is not an absolute mount point" % entry["path"])


def set_entry(text, entry):
    """(new text, changed) for one entry (path, src, fstype, opts, dump, passno) on ``text``
    (the file's text, "" when absent), as ansible.posix.mount with state present."""
    want = dict((key, escape(entry[key])) for key in ("src", "fstype", "opts", "dump", "passno"))
    want["name"] = escape(entry["path"])
    written = []
    exists = changed = False
    for line in read_lines(text):
        if not line.endswith("\n"):
            line += "\n"
        if not line.strip() or line.strip().startswith("#"):
            written.append(line)
            continue
        fields = line.split("#")[0].split()
        if len(fields) not in (4, 5, 6):
            written.append(line)
            continue
        found = dict(zip(FIELDS, fields))
        if found["name"] != want["name"]:
            written.append(line)
            continue
        exists = True
        for key in COMPARED:
            # a missing dump or passno (None here, the integer 0 there) never equals "0"
            if found.get(key) != want[key]:
                found[key] = want[key]
                changed = True
        written.append(LINE % found if changed else line)
    if not exists:
        written.append(LINE % want)
        changed = True
    return ("".join(written) if changed else text), changed


def fstab_text(text, entries):
    """(new text, mount points whose line was added or made right) for ``entries`` applied in
    order on ``text`` (None: no file), as one ansible.posix.mount task per entry."""
    text = text or ""
    changed_paths = []
    for entry in entries:
        text, changed = set_entry(text, entry)
        if changed:
            changed_paths.append(entry["path"])
    return text, changed_paths

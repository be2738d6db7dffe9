# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one file writer of the collection: every module that writes a configuration file
goes through :func:`write_text` (or :func:`remove`), so every file is written the same way.

``write_text`` compares first (text, mode, owner), and only when something differs writes
a temporary file in the same directory, fsyncs it, sets mode and owner, renames it over
the target and fsyncs the directory: a reader (a boot, ``sysctl --system``, GRUB) sees
the old file or the new one, never a truncated one, even after a power cut. Check mode
is the same call with ``check=True``: the comparison and the diff, no write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

DEFAULT_MODE = 0o644


class FileState(object):
    """What is on disk at ``path``: text (None when absent), mode and owner."""

    def __init__(self, path):
        self.path = path
        self.text = None
        self.mode = None
        self.owner = None
        try:
            with open(path) as handle:
                self.text = handle.read()
            info = os.stat(path)
            self.mode = info.st_mode & 0o7777
            self.owner = (info.st_uid, info.st_gid)
        except (IOError, OSError, UnicodeDecodeError):
            self.text = None

    @property
    def exists(self):
        return self.text is not None


def _want_owner():
    """Files are owned by root:root when we run as root; otherwise whoever we are."""
    return (0, 0) if os.geteuid() == 0 else None


def needs_write(path, text, mode=DEFAULT_MODE, owner=None):
    """Whether ``path`` differs from ``text`` / ``mode`` / ``owner`` ((uid, gid); None: root
    ownership when root)."""
    state = FileState(path)
    owner = owner or _want_owner()
    return (state.text != text or state.mode != mode
            or (owner is not None and state.owner != owner))


def diff(path, text, label=None):
    """An Ansible diff dict for replacing ``path`` by ``text`` (None: removing it)."""
    state = FileState(path)
    label = label or path
    return {"before": state.text or "", "after": text or "",
            "before_header": label if state.exists else "%s (absent)" % label,
            "after_header": label if text is not None else "%s (absent)" % label}


def fsync_dir(directory):
    """fsync a directory, so a rename or unlink in it survives a power cut (best effort)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def write_text(path, text, mode=DEFAULT_MODE, check=False, owner=None):
    """Make ``path`` hold ``text`` with ``mode`` and ``owner`` ((uid, gid); None: root:root
    when root, to keep a file's owner pass the one it has); True when it changed.

    With ``check=True`` nothing is written; the return value says whether it would be.
    Missing parent directories are created (0755). Any failure leaves the old file intact
    and no temporary file behind; the exception (OSError) propagates to the caller.
    """
    if not needs_write(path, text, mode, owner):
        return False
    if check:
        return True
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    handle, tmp = tempfile.mkstemp(prefix=".kvmops-", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        owner = owner or _want_owner()
        if owner is not None:
            os.chown(tmp, owner[0], owner[1])
        os.rename(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
    return True


def remove(path, check=False):
    """Remove ``path``; True when it existed."""
    if not os.path.lexists(path):
        return False
    if not check:
        os.unlink(path)
        fsync_dir(os.path.dirname(path) or ".")
    return True

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that reads /sys, /proc and /etc files for this collection.

Every read is relative to a ``root`` (``/`` on a host, a fixture tree in tests) and
never raises: a missing, unreadable or undecodable file gives ``None`` (or the default)
and, when the caller cares, an entry in ``warnings``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


class Reader(object):
    """Reads files under ``root``; collects warnings instead of raising."""

    def __init__(self, root="/"):
        self.root = root or "/"
        self.warnings = []

    def path(self, relpath):
        """Absolute path of ``relpath`` (``/sys/...`` or ``sys/...``) under the root."""
        return os.path.join(self.root, relpath.lstrip("/"))

    def warn(self, message):
        if message not in self.warnings:
            self.warnings.append(message)

    def text(self, relpath, default=None, warn_missing=False):
        """Stripped file contents, or ``default`` when the file cannot be read."""
        full = self.path(relpath)
        try:
            with open(full, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            if warn_missing or getattr(exc, "errno", None) not in (2, 20):
                self.warn("cannot read %s: %s" % (relpath, getattr(exc, "strerror", exc)))
            return default
        try:
            return data.decode("utf-8", "replace").strip()
        except Exception:  # pylint: disable=broad-except
            self.warn("cannot decode %s" % relpath)
            return default

    def lines(self, relpath, default=None, warn_missing=False):
        """Non-empty lines of a file, or ``default``."""
        content = self.text(relpath, None, warn_missing)
        if content is None:
            return default
        return [line for line in content.splitlines() if line.strip()]

    def integer(self, relpath, default=None, warn_missing=False):
        """A file holding one integer (first word), or ``default`` with a warning if malformed."""
        content = self.text(relpath, None, warn_missing)
        if content is None:
            return default
        word = content.split()[0] if content.split() else ""
        try:
            return int(word)
        except ValueError:
            self.warn("malformed integer in %s: %r" % (relpath, content[:40]))
            return default

    def listdir(self, relpath):
        """Sorted entries of a directory, [] when it is missing or unreadable."""
        try:
            return sorted(os.listdir(self.path(relpath)))
        except (IOError, OSError):
            return []

    def exists(self, relpath):
        return os.path.exists(self.path(relpath))

    def isdir(self, relpath):
        return os.path.isdir(self.path(relpath))

    def realpath(self, relpath):
        """Target of a symlink relative to root (``/sys/...``), or None."""
        full = self.path(relpath)
        if not os.path.lexists(full):
            return None
        resolved = os.path.realpath(full)
        root = os.path.realpath(self.root)
        if resolved.startswith(root.rstrip("/") + "/") or root == "/":
            return "/" + os.path.relpath(resolved, root).lstrip("./") if root != "/" else resolved
        return resolved

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that reads /sys, /proc and /etc files for this collection.

Every read is relative to a ``root`` (``/`` on a host, a fixture tree in tests) and
never raises: a missing, unreadable or undecodable file gives ``None`` (or the default)
and, when the caller cares, an entry in ``warnings``.

Paths given to the methods are host paths (``/sys/...``); symbolic links are resolved
as if ``root`` were ``/`` (a chroot), so an absolute link inside a fixture tree stays
inside the tree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import posixpath

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    parse_cpulist,
    parse_cpumask,
)

# A missing file is the normal way for sysfs to say "not supported here".
_QUIET_ERRNOS = (errno.ENOENT, errno.ENOTDIR)
_MAX_LINKS = 40  # like the kernel's MAXSYMLINKS


class Reader(object):
    """Reads files under ``root``; collects warnings instead of raising."""

    def __init__(self, root="/"):
        self.root = root or "/"
        self.warnings = []
        self._prefix = self.root.rstrip("/") + "/"

    def path(self, relpath):
        """Absolute path of ``relpath`` (``/sys/...`` or ``sys/...``) under the root."""
        return self._prefix + relpath.lstrip("/")

    def warn(self, message):
        if message not in self.warnings:
            self.warnings.append(message)

    def data(self, relpath, default=None, warn_missing=False, quiet=False):
        """Raw bytes of a file, or ``default`` when the file cannot be read.

        ``quiet`` suppresses every warning (for racy reads such as /proc/PID files).
        """
        try:
            with open(self.path(relpath), "rb") as handle:
                return handle.read()
        except (IOError, OSError) as exc:
            code = getattr(exc, "errno", None)
            if not quiet and (warn_missing or code not in _QUIET_ERRNOS):
                self.warn("cannot read %s: %s" % (relpath, getattr(exc, "strerror", None) or exc))
            return default
        except Exception as exc:  # pylint: disable=broad-except
            if not quiet:
                self.warn("cannot read %s: %s" % (relpath, exc))
            return default

    def text(self, relpath, default=None, warn_missing=False, quiet=False):
        """Stripped file contents, or ``default`` when the file cannot be read."""
        data = self.data(relpath, None, warn_missing, quiet)
        if data is None:
            return default
        # undecodable bytes become U+FFFD; the parsers then reject the value
        return data.decode("utf-8", "replace").strip()

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
        words = content.split()
        try:
            return int(words[0])
        except (ValueError, IndexError):
            self.warn("malformed integer in %s: %r" % (relpath, content[:40]))
            return default

    def boolean(self, relpath, default=None, warn_missing=False):
        """A sysfs flag (``Y``/``N``, ``1``/``0``, ``on``/``off``), or ``default``."""
        content = self.text(relpath, None, warn_missing)
        if content is None:
            return default
        word = content.split()[0].lower() if content.split() else ""
        if word in ("y", "yes", "1", "on", "true"):
            return True
        if word in ("n", "no", "0", "off", "false"):
            return False
        self.warn("malformed flag in %s: %r" % (relpath, content[:40]))
        return default

    def selected(self, relpath, default=None, warn_missing=False):
        """The bracketed choice of a sysfs selector (``always [madvise] never``)."""
        content = self.text(relpath, None, warn_missing)
        if content is None:
            return default
        words = content.split()
        for word in words:
            if len(word) > 2 and word.startswith("[") and word.endswith("]"):
                return word[1:-1]
        if len(words) == 1:  # some selectors (io schedulers with one choice) omit brackets
            return words[0]
        self.warn("no selected value in %s: %r" % (relpath, content[:60]))
        return default

    def cpulist(self, relpath, default=None, warn_missing=False):
        """A cpulist file (``0-3,8``) as sorted ints, or ``default`` with a warning."""
        content = self.text(relpath, None, warn_missing)
        if content is None:
            return default
        if content == "(null)":  # nohz_full and friends when the option is off
            return []
        try:
            return parse_cpulist(content)
        except CpulistError as exc:
            self.warn("malformed CPU list in %s: %s" % (relpath, exc))
            return default

    def cpumask(self, relpath, default=None, warn_missing=False):
        """A hex cpumask file (``00000000,0000ff0f``) as sorted ints, or ``default``."""
        content = self.text(relpath, None, warn_missing)
        if content is None:
            return default
        try:
            return parse_cpumask(content)
        except CpulistError as exc:
            self.warn("malformed CPU mask in %s: %s" % (relpath, exc))
            return default

    def cpus(self, dirpath, list_name, mask_name, default=None):
        """CPU set from ``dirpath/list_name`` or, on old kernels, the mask ``dirpath/mask_name``."""
        if list_name:
            found = self.cpulist(posixpath.join(dirpath, list_name))
            if found is not None:
                return found
        if mask_name:
            return self.cpumask(posixpath.join(dirpath, mask_name), default)
        return default

    def listdir(self, relpath):
        """Sorted entries of a directory, [] when it is missing or unreadable."""
        try:
            return sorted(os.listdir(self.path(relpath)))
        except (IOError, OSError):
            return []
        except Exception:  # pylint: disable=broad-except
            return []

    def exists(self, relpath):
        return os.path.exists(self.path(relpath))

    def isdir(self, relpath):
        return os.path.isdir(self.path(relpath))

    def realpath(self, relpath):
        """Canonical host path (``/sys/devices/...``) of ``relpath``, links resolved under
        the root, or None when it (or a link on the way) does not exist or loops."""
        parts = [part for part in relpath.split("/") if part and part != "."]
        resolved = "/"
        links = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                resolved = posixpath.dirname(resolved)
                continue
            candidate = posixpath.join(resolved, part)
            full = self.path(candidate)
            try:
                target = os.readlink(full)
            except (IOError, OSError) as exc:
                if getattr(exc, "errno", None) == errno.EINVAL:  # not a link
                    resolved = candidate
                    continue
                return None  # missing, or not a directory on the way
            links += 1
            if links > _MAX_LINKS:
                self.warn("too many levels of symbolic links in %s" % relpath)
                return None
            if target.startswith("/"):
                resolved = "/"
            parts = [p for p in target.split("/") if p and p != "."] + parts
        if not os.path.lexists(self.path(resolved)):
            return None
        return resolved

    def link_name(self, relpath):
        """Last component of the resolved target of a link (a driver or PCI address)."""
        target = self.realpath(relpath)
        if target is None or target == "/":
            return None
        return posixpath.basename(target)

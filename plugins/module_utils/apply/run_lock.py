# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One kvmops run per host at a time: the host-side lock file and its decisions.

The lock is a JSON file created with O_CREAT|O_EXCL (atomic on every local file system):
{run_id, controller, pid, playbook, user, time}. It lives under /var/lib (not /run), so
it survives the reboot its own run makes. A run holds it from its first role to the end
of site.yml. Another run finds it and fails, naming the holder, or waits; a lock is
stale (taken over, with a warning) when it is older than ``stale_after`` seconds, or
when its holder ran on this same controller and that process is gone (the controller
decides this, in the action plugin: it alone can see its processes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

LOCK_PATH = "/var/lib/kvmops/run.lock"


def read_lock(path):
    """The lock's record (dict), {} when it exists but is not a record, None when absent."""
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def is_stale(record, now, stale_after):
    """Too old to be a live run (or not a record at all: a torn or foreign file)."""
    when = record.get("time")
    if not isinstance(when, (int, float)):
        return True
    return now - when > stale_after


def describe(record):
    return "run %s from %s (pid %s, %s, user %s) since %s" % (
        record.get("run_id", "?"), record.get("controller", "?"), record.get("pid", "?"),
        record.get("playbook", "?"), record.get("user", "?"), record.get("time_text", "?"))


def create(path, record):
    """Create the lock with ``record``; False when it exists already (another run)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        if getattr(exc, "errno", None) == 17:  # EEXIST
            return False
        raise
    try:
        os.write(handle, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
        os.fsync(handle)
    except (IOError, OSError):
        # a full disk: no empty, torn lock left for the next run to find
        os.close(handle)
        os.unlink(path)
        raise
    os.close(handle)
    return True


def acquire(path, record, now, stale_after, break_run_id=None, check=False):
    """Try once. Returns (status, holder): status is ``held`` (this run holds it already),
    ``acquired``, ``would-acquire`` (check mode), ``taken-over`` (a stale lock, or
    ``break_run_id``'s, replaced) or ``busy`` (another live run holds it: holder)."""
    holder = read_lock(path)
    if holder is not None and holder.get("run_id") == record["run_id"]:
        return "held", holder
    if holder is not None:
        stale = is_stale(holder, now, stale_after) or (
            break_run_id is not None and holder.get("run_id") == break_run_id)
        if not stale:
            return "busy", holder
        if check:
            return "would-acquire", holder
        # Take over without racing another run doing the same: move the file aside (one
        # rename wins), and put it back if what was moved is no longer the stale holder.
        moved = "%s.stale.%d" % (path, os.getpid())
        try:
            os.rename(path, moved)
        except OSError:
            return "busy", read_lock(path) or {}
        if (read_lock(moved) or {}).get("run_id") != holder.get("run_id"):
            os.rename(moved, path)
            return "busy", read_lock(path) or {}
        os.unlink(moved)
        if create(path, record):
            return "taken-over", holder
        return "busy", read_lock(path) or {}
    if check:
        return "would-acquire", None
    if create(path, record):
        return "acquired", None
    return "busy", read_lock(path) or {}


def release(path, run_id, check=False):
    """Remove the lock if this run holds it; returns whether it did (would)."""
    holder = read_lock(path)
    if holder is None or holder.get("run_id") != run_id:
        return False
    if not check:
        os.unlink(path)
    return True

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry out a planned Change: write the drop-ins and records, run the backend's
commands, regenerate GRUB's configuration (safely: a checked temporary file renamed over
grub.cfg).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.owners import (
    REMOVED_RECORD,
    removed_keys,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    keys_of,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.files import (
    fsync_dir,
    remove,
    write_text,
)


def _write(reader, relpath, text):
    """Make ``relpath`` under the root hold ``text`` (None: remove it), with the
    collection's one writer (common/files): compared first, then a temporary file in the
    same directory, fsynced, mode 0644 (root:root when root), renamed, directory fsynced."""
    full = reader.path(relpath)
    try:
        if text is None:
            return remove(full)
        return write_text(full, text)
    except (IOError, OSError) as exc:
        # the old file is whole (the writer renames only a complete, fsynced file)
        raise CmdlineError("cannot %s %s: %s; the previous file is unchanged" % (
            "remove" if text is None else "write", relpath, exc.strerror or exc))


def regenerate_commands(grub):
    """The commands regenerate_grub runs, as they are reported when skipped."""
    commands = [[grub["mkconfig"], "-o", grub["cfg"]]]
    if grub.get("check"):
        commands.append([grub["check"], grub["cfg"]])
    return commands


def regenerate_grub(reader, grub, run):
    """grub-mkconfig to a temporary file, grub-script-check it, then rename it over
    grub.cfg; on any failure the old grub.cfg is left as it was."""
    if not grub.get("mkconfig"):
        raise CmdlineError("grub-mkconfig is not installed; cannot regenerate %s" % grub["cfg"])
    target = reader.path(grub["cfg"])
    tmp = target + ".kvmops-new"
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    try:
        rc, out, err = run([grub["mkconfig"], "-o", tmp])
        if rc != 0:
            raise CmdlineError("%s -o %s failed (rc=%s): %s" % (
                grub["mkconfig"], tmp, rc, (err or out).strip()[-2000:]))
        if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
            raise CmdlineError("%s wrote no configuration to %s" % (grub["mkconfig"], tmp))
        if grub.get("check"):
            rc, out, err = run([grub["check"], tmp])
            if rc != 0:
                raise CmdlineError(
                    "%s rejected the new GRUB configuration (rc=%s), %s left unchanged: %s"
                    % (grub["check"], rc, grub["cfg"], (err or out).strip()[-2000:]))
        with open(tmp, "rb") as stream:
            new = stream.read()
            os.fsync(stream.fileno())
        old = None
        if os.path.exists(target):
            with open(target, "rb") as stream:
                old = stream.read()
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.rename(tmp, target)
        fsync_dir(directory)
        return new != old
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def apply_change(reader, change, run, regenerate=True):
    """Write the files, run the commands, regenerate GRUB (when asked and grub-mkconfig is
    installed: without it, as in an image whose boot loader is not installed yet, the
    drop-ins wait for the package's own grub-mkconfig run, with a warning).

    ``run(argv) -> (rc, out, err)`` runs a command. ``run=None`` runs none (a tree under a
    root other than /: the boot loader tools would act on the running system, not on it):
    the files are written, and the commands and the regeneration that would have run are
    appended to ``change.commands_skipped``.

    Returns (regeneration ran, grub.cfg changed)."""
    for relpath in sorted(change.files):
        _write(reader, relpath, change.files[relpath])
    if run is None:
        change.commands_skipped.extend(change.commands)
    else:
        for argv in change.commands:
            rc, out, err = run(argv)
            if rc != 0:
                raise CmdlineError("%s failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()))
    if change.removed:
        keys = removed_keys(reader) | keys_of(change.removed)
        _write(reader, REMOVED_RECORD, "".join("%s\n" % key for key in sorted(keys)))
    if not (change.regenerate and regenerate and change.backend == "grub"):
        return False, False
    if not change.grub.get("mkconfig"):
        reader.warn("grub-mkconfig is not installed: %s was not regenerated; the kvmops "
                    "drop-ins take effect when it is (installing GRUB runs it)" % change.grub["cfg"])
        return False, False
    if run is None:
        change.commands_skipped.extend(regenerate_commands(change.grub))
        return False, False
    return True, regenerate_grub(reader, change.grub, run)

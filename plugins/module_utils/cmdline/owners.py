# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where kvmops remembers which owner added which kernel arguments: one GRUB drop-in
per owner (/etc/default/grub.d/90-kvmops-<owner>.cfg) or one record per owner
(/etc/kvmops/kernel_cmdline/<owner>.args) for grubby and /etc/kernel/cmdline, and the names
removed since this boot (/run/kvmops/kernel_cmdline.removed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.args import (
    check_name,
    check_value,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_shell import (
    GRUB_DROPIN_DIR,
    grub_dropins,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    split_arg,
    split_cmdline,
)

GRUB_DROPIN_PREFIX = "90-kvmops-"
_DROPIN_LINE = re.compile(r'^GRUB_CMDLINE_LINUX="\$GRUB_CMDLINE_LINUX( [^"$`\\]*)?"$')


def grub_dropin_path(owner):
    return "%s/%s%s.cfg" % (GRUB_DROPIN_DIR, GRUB_DROPIN_PREFIX, owner)


def is_kvmops_dropin(path):
    name = path.rsplit("/", 1)[-1]
    return name.startswith(GRUB_DROPIN_PREFIX) and name.endswith(".cfg")


def render_grub_dropin(owner, tokens):
    """The drop-in text: appends ``tokens`` to GRUB_CMDLINE_LINUX.

    Tokens are validated (no quotes, whitespace, $, backslash, backquote), so one
    double-quoted shell word holds them safely.
    """
    for token in tokens:
        name, value = split_arg(token)
        check_name(name, "owner %s" % owner)
        check_value(name, value, "owner %s" % owner)
    return (
        "# Managed by kvmops.hypervisor.kernel_cmdline, owner %s: do not edit, the next\n"
        "# run rewrites it. grub-mkconfig sources it after /etc/default/grub; it appends\n"
        "# this owner's kernel arguments to GRUB_CMDLINE_LINUX.\n"
        'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX %s"\n' % (owner, " ".join(tokens)))


def parse_grub_dropin(text, path):
    """Tokens a kvmops drop-in appends; CmdlineError if it is not one we wrote."""
    tokens = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _DROPIN_LINE.match(line)
        if not match or tokens is not None:
            raise CmdlineError(
                "%s is not in the form kvmops writes (edited by hand?): %r; remove the "
                "file or restore it" % (path, line))
        tokens = split_cmdline(match.group(1) or "")
    return tokens or []


def grub_owners(reader, replace=None):
    """{owner: tokens} of the kvmops GRUB drop-ins (``replace`` as in grub_default_env)."""
    replace = replace or {}
    owners = {}
    paths = set(path for path in grub_dropins(reader) if is_kvmops_dropin(path))
    paths.update(path for path in replace if is_kvmops_dropin(path))
    for path in sorted(paths):
        text = replace[path] if path in replace else reader.text(path)
        if text is None:
            continue
        owner = path.rsplit("/", 1)[-1][len(GRUB_DROPIN_PREFIX):-len(".cfg")]
        owners[owner] = parse_grub_dropin(text, path)
    return owners


# --------------------------------------------------------------------------- records

RECORD_DIR = "/etc/kvmops/kernel_cmdline"
REMOVED_RECORD = "/run/kvmops/kernel_cmdline.removed"


def record_path(owner):
    return "%s/%s.args" % (RECORD_DIR, owner)


def render_record(owner, tokens):
    return ("# kvmops.hypervisor.kernel_cmdline: kernel arguments owned by %s, one per\n"
            "# line (the boot loader has no place to say who added an argument).\n%s"
            % (owner, "".join("%s\n" % token for token in tokens)))


def record_owners(reader):
    owners = {}
    for name in reader.listdir(RECORD_DIR):
        if not name.endswith(".args"):
            continue
        lines = reader.lines("%s/%s" % (RECORD_DIR, name), default=[])
        tokens = [line.strip() for line in lines if not line.startswith("#")]
        owners[name[:-len(".args")]] = tokens
    return owners


def removed_keys(reader):
    """Names kvmops removed from the boot configuration since this boot (/run is tmpfs)."""
    return set(line.strip() for line in reader.lines(REMOVED_RECORD, default=[]))

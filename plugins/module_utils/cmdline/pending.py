# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the next boot gets (read from the boot loader configuration, or predicted
for a regenerated grub.cfg), what the running kernel got, and whether they differ.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.bls import (
    bls_cmdline,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_cfg import (
    grub_cfg_cmdline,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_shell import (
    grub_default_env,
    grub_default_tokens,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.merge import (
    replace_run,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    project,
    split_cmdline,
)

KERNEL_CMDLINE_FILE = "/etc/kernel/cmdline"
# Written by the reboot role (tasks/verify.yml) when a host came back from its reboot
# without the arguments kvmops owns; removed once they are running.
REBOOT_IGNORED_FILE = "/var/lib/kvmops/reboot-ignored.json"


def pending_cmdline(reader):
    """Tokens the next boot's kernel gets, from the boot loader configuration, or None.

    Tried in order: BLS entries (/boot/loader/entries/*.conf ``options``, the saved or
    newest entry), GRUB's generated /boot/grub/grub.cfg or /boot/grub2/grub.cfg (the
    default entry's ``linux`` line, with grubenv's saved/next entry), /etc/kernel/cmdline
    (kernel-install, systemd-boot, unified kernel images) and finally, when grub.cfg is
    unreadable, the effective GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT of
    /etc/default/grub and /etc/default/grub.d/*.cfg (only the arguments GRUB adds: no
    BOOT_IMAGE or root=).  None when none of these is readable.
    """
    tokens = bls_cmdline(reader)
    if tokens is not None:
        return tokens
    for cfg_path, env_path in (("/boot/grub/grub.cfg", "/boot/grub/grubenv"),
                               ("/boot/grub2/grub.cfg", "/boot/grub2/grubenv")):
        tokens = grub_cfg_cmdline(reader, cfg_path, env_path)
        if tokens is not None:
            return tokens
    text = reader.text(KERNEL_CMDLINE_FILE)
    if text is not None:
        return split_cmdline(text)
    env = grub_default_env(reader)
    if env is not None and ("GRUB_CMDLINE_LINUX" in env or "GRUB_CMDLINE_LINUX_DEFAULT" in env):
        return grub_default_tokens(env)
    return None


def running_cmdline(reader):
    """Tokens of /proc/cmdline, or None when unreadable."""
    text = reader.text("/proc/cmdline")
    if text is None:
        return None
    return split_cmdline(text)


def predict_grub_pending(current, defaults_before, defaults_after):
    """The default entry's tokens once grub.cfg is regenerated from the new defaults.

    ``current``: the tokens of today's grub.cfg (None if unreadable: then only the
    defaults are known).  grub-mkconfig (10_linux) writes
    ``linux <kernel> root=... ro ${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}``.
    """
    if current is None:
        return list(defaults_after)
    replaced = replace_run(current, defaults_before, defaults_after)
    if replaced is not None:
        return replaced
    if "ro" in current:
        return current[:current.index("ro") + 1] + list(defaults_after)
    if "rw" in current:
        return current[:current.index("rw") + 1] + list(defaults_after)
    return current[:1] + list(defaults_after)


def reboot_required(pending, running, keys):
    """True when the next boot's and the running kernel's owned arguments differ."""
    if pending is None or running is None or not keys:
        return False
    return project(pending, keys) != project(running, keys)


def reboot_ignored(reader, pending_owned):
    """The reboot role's record of a reboot that came back without ``pending_owned``
    (the same owned arguments still waiting), as a dict, else None. A different set of
    pending arguments is a new attempt: the record no longer applies."""
    text = reader.text(REBOOT_IGNORED_FILE)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("pending_owned"), list):
        reader.warn("%s is not the reboot role's record (JSON with pending_owned); ignored"
                    % REBOOT_IGNORED_FILE)
        return None
    if pending_owned is None or record["pending_owned"] != list(pending_owned):
        return None
    return record

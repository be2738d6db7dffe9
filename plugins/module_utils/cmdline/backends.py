# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backend writes the arguments (GRUB drop-ins, grubby, /etc/kernel/cmdline)
and the host specifics of each: GRUB's paths and tools, grubby's invocations,
kernel-install's starting point.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.bls import (
    bls_entries,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_shell import (
    GRUB_DEFAULTS,
    GRUB_DROPIN_DIR,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.pending import (
    KERNEL_CMDLINE_FILE,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    arg_key,
    split_cmdline,
)

GRUBBY_REPEAT_MSG = (
    "grubby keeps one value per parameter name, so repeated names (%s) would be "
    "collapsed; use backend kernel_cmdline_file or grub for owner %r")


def detect_backend(reader, which):
    """auto: grubby on BLS hosts that have it, GRUB where /etc/default/grub is, else
    /etc/kernel/cmdline where kernel-install is used; CmdlineError when none fits."""
    if bls_entries(reader) and which("grubby"):
        return "grubby"
    if (reader.exists(GRUB_DEFAULTS) or reader.isdir(GRUB_DROPIN_DIR)
            or reader.exists("/boot/grub/grub.cfg") or reader.exists("/boot/grub2/grub.cfg")):
        return "grub"
    if reader.exists("/etc/debian_version") and not reader.exists(KERNEL_CMDLINE_FILE):
        # Debian or Ubuntu whose boot loader is not installed yet (an image being built):
        # GRUB's packages source /etc/default/grub.d when they are
        return "grub"
    if reader.exists(KERNEL_CMDLINE_FILE) or bls_entries(reader):
        return "kernel_cmdline_file"
    raise CmdlineError(
        "cannot tell which boot loader this host uses (no BLS entries with grubby, no "
        "/etc/default/grub, no /etc/kernel/cmdline, not Debian); set backend explicitly")


def grub_paths(reader, which):
    """(grub.cfg, grubenv, grub-mkconfig, grub-script-check) for this host."""
    if reader.exists("/boot/grub2/grub.cfg") and not reader.exists("/boot/grub/grub.cfg"):
        cfg, env = "/boot/grub2/grub.cfg", "/boot/grub2/grubenv"
        names = ("grub2-mkconfig", "grub2-script-check")
    else:
        cfg, env = "/boot/grub/grub.cfg", "/boot/grub/grubenv"
        names = ("grub-mkconfig", "grub-script-check")
    mkconfig = which(names[0]) or which(names[0].replace("grub2", "grub").replace("grub-", "grub2-"))
    check = which(names[1]) or which(names[1].replace("grub2", "grub").replace("grub-", "grub2-"))
    return cfg, env, mkconfig, check


def grubby_commands(grubby, add, remove):
    """The grubby invocations that remove then add tokens on every installed kernel."""
    commands = []
    if remove:
        commands.append([grubby, "--update-kernel=ALL", "--remove-args=%s" % " ".join(remove)])
    if add:
        commands.append([grubby, "--update-kernel=ALL", "--args=%s" % " ".join(add)])
    return commands


def kernel_install_base(reader):
    """Starting point of /etc/kernel/cmdline when it does not exist yet: what
    kernel-install itself falls back to (/usr/lib/kernel/cmdline, then /proc/cmdline
    without BOOT_IMAGE= and initrd=)."""
    text = reader.text("/usr/lib/kernel/cmdline")
    if text is None:
        text = reader.text("/proc/cmdline") or ""
    return [token for token in split_cmdline(text)
            if arg_key(token) not in ("BOOT_IMAGE", "initrd")]

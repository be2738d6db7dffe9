# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The comparison the reboot role makes (kernel_cmdline without an owner): the kernel
arguments kvmops owns in the next boot against the running kernel's, and whether GRUB's
configuration is out of date for them. One computation for the module's result and for
the facts gathered at the start of a run (``kvm_host.kernel.boot``), which lets
playbooks/site.yml leave the reboot role out when nothing about the boot changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.backends import detect_backend
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.change import plan_change
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.pending import (
    reboot_required,
    running_cmdline,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    project,
)


def compare(reader, change, pending):
    """The keys of kernel_cmdline's result that compare the next boot with the running
    kernel, for ``change`` (plan_change's) and ``pending`` (the next boot's tokens: the
    change's prediction, or grub.cfg read back after a regeneration)."""
    running = running_cmdline(reader)
    keys = change.owned_keys
    return dict(
        pending=pending,
        running=running,
        owned_keys=sorted(keys),
        pending_owned=project(pending, keys),
        running_owned=project(running, keys),
        reboot_required=reboot_required(pending, running, keys),
    )


def boot_status(reader, which):
    """``kvm_host.kernel.boot``: what kernel_cmdline without an owner and with backend
    auto would report before it regenerates anything, or None when it cannot tell (no boot
    loader it knows, a boot configuration it refuses: the reboot role's own comparison then
    says why).

    ``{backend, owned_keys, pending_owned, running_owned, reboot_required,
    regenerate_needed}``; regenerate_needed: GRUB's grub.cfg does not give the arguments
    the drop-ins hold (a run wrote them and never reached its regeneration)."""
    try:
        backend = detect_backend(reader, which)
        change = plan_change(reader, backend=backend, which=which)
    except CmdlineError:
        return None
    result = compare(reader, change, change.pending)
    del result["pending"], result["running"]  # in kvm_host.kernel already (pending_cmdline, cmdline)
    result["backend"] = change.backend
    result["regenerate_needed"] = bool(change.backend == "grub" and change.regenerate)
    return result


BACKENDS = ("auto", "grub", "grubby", "kernel_cmdline_file")


def settled(boot, changed=False, image_mode=False, backend="auto"):
    """Whether the reboot role would find nothing to do on a host whose facts, gathered at
    the start of the run, hold ``boot`` (``kvm_host.kernel.boot``): no role changed the boot
    configuration since (``changed``: the plan role's handler ran), the role's backend is
    the one the facts used (auto or the same), grub.cfg gives what the drop-ins hold, and
    the running kernel has the owned arguments of the next boot. In image mode
    (``image_mode``) the running kernel is the build machine's, so only a stale grub.cfg
    counts. False whenever it cannot tell: the role then compares itself."""
    if changed or not isinstance(boot, dict):
        return False
    if backend not in BACKENDS:
        raise ValueError("backend must be one of %s, got %r" % (", ".join(BACKENDS), backend))
    if backend != "auto" and backend != boot.get("backend"):
        return False
    if boot.get("regenerate_needed") is not False:
        return False
    return bool(image_mode) or boot.get("reboot_required") is False

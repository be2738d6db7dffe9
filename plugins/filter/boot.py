# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter kvmops.hypervisor.boot_settled (playbooks/site.yml: whether the reboot role has
anything to do; the decision is cmdline/status.py's settled)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.status import settled


def boot_settled(kvm_host, changed=False, image_mode=False, backend="auto"):
    """``kvm_host`` (the facts) -> True when the reboot role would find nothing to do."""
    if not isinstance(kvm_host, dict):
        raise AnsibleFilterError("kvmops.hypervisor.boot_settled expects the kvm_host facts (a dict), got %r"
                                 % (type(kvm_host).__name__,))
    kernel = kvm_host.get("kernel")
    try:
        return settled(kernel.get("boot") if isinstance(kernel, dict) else None,
                       changed=changed, image_mode=image_mode, backend=backend)
    except ValueError as exc:
        raise AnsibleFilterError("kvmops.hypervisor.boot_settled: %s" % exc)


class FilterModule(object):
    """Boot configuration filters."""

    def filters(self):
        return {"boot_settled": boot_settled}

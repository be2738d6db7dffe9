"""kvmops.hypervisor.boot_settled: its refusals (the decisions over host states are tested
through site.yml's condition, tests/unit/roles/test_reboot_left_out.py)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.filter.boot import boot_settled

BOOT = {"backend": "grub", "reboot_required": False, "regenerate_needed": False}


def test_settled_host():
    assert boot_settled({"kernel": {"boot": BOOT}}) is True


def test_not_the_facts():
    with pytest.raises(AnsibleFilterError, match="expects the kvm_host facts"):
        boot_settled("kvm_host")


def test_unknown_backend_names_the_option():
    with pytest.raises(AnsibleFilterError, match="backend must be one of auto, grub, grubby, kernel_cmdline_file"):
        boot_settled({"kernel": {"boot": BOOT}}, backend="lilo")


@pytest.mark.parametrize("boot", [dict(BOOT, regenerate_needed=None), dict(BOOT, reboot_required=None), {}])
def test_missing_answers_are_not_settled(boot):
    assert boot_settled({"kernel": {"boot": boot}}) is False

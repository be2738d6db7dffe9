"""An in-guest reboot (ansible.builtin.reboot) brings the lab host back through GRUB.

About one TCG boot in six hangs at random (an RCU stall, or QEMU gone): when the in-guest
reboot does not come back, the host is power-cycled on its disks (`lab.sh restart`, what a
BMC reset does), so a random hang does not fail the run; a host that cannot boot still
fails it, since every retry of the restart fails too.
"""

import warnings

import pytest

REBOOT_TIMEOUT = 420


# extra: the converge's own reboot (the reboot role) already came back through GRUB, and
# tests/test_50_roles.py checks that boot's command line; this is a second reboot (~3 min).
@pytest.mark.extra
def test_reboot_through_grub(host, shape, lab):
    boot_id = host.file("/proc/sys/kernel/random/boot_id").content_string.strip()
    grub_cfg = host.file("/boot/grub/grub.cfg").content_string
    try:
        result = host.ansible("ansible.builtin.reboot", "reboot_timeout=%d" % REBOOT_TIMEOUT, check=False)
        assert result.get("rebooted") is True
    except Exception as exc:  # pylint: disable=broad-exception-caught  # AnsibleException or unreachable
        warnings.warn("the in-guest reboot did not come back (%s): power-cycling the lab host" % exc)
        lab("restart")
    assert host.file("/proc/sys/kernel/random/boot_id").content_string.strip() != boot_id
    cmdline = host.file("/proc/cmdline").content_string.split()
    # Booted by GRUB from the disk: the kernel and root= are the ones grub.cfg holds.
    assert cmdline[0].startswith("BOOT_IMAGE=")
    assert cmdline[0].split("=", 1)[1] in grub_cfg
    roots = [token for token in cmdline if token.startswith("root=")]
    assert roots and roots[0].startswith("root=UUID=") and roots[0] in grub_cfg
    nodes = host.check_output("ls -d /sys/devices/system/node/node*").split()
    assert len(nodes) == shape["numa_nodes"]

"""An in-guest reboot (ansible.builtin.reboot) brings the lab host back through GRUB."""


def test_reboot_through_grub(host, shape):
    boot_id = host.file("/proc/sys/kernel/random/boot_id").content_string.strip()
    pending = host.file("/boot/grub/grub.cfg").content_string
    result = host.ansible("ansible.builtin.reboot", "reboot_timeout=900", check=False)
    assert result.get("rebooted") is True
    assert host.file("/proc/sys/kernel/random/boot_id").content_string.strip() != boot_id
    cmdline = host.file("/proc/cmdline").content_string.split()
    # Booted by GRUB from the disk: the kernel line is one that grub.cfg holds.
    assert cmdline[0].startswith("BOOT_IMAGE=")
    assert any(token.startswith("root=UUID=") for token in cmdline)
    assert all(token in pending for token in cmdline if token.startswith("root="))
    nodes = host.check_output("ls -d /sys/devices/system/node/node*").split()
    assert len(nodes) == shape["numa_nodes"]

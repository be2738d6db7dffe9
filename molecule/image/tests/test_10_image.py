"""The converge ran inside the image chroot, in image mode."""


def test_commands_run_inside_the_chroot(host):
    # The chroot's hostname file, not the controller's: the connection reaches the image.
    assert host.file("/etc/hostname").content_string.strip() == "kvmimage"
    assert host.file("/.kvmops-lab-chroot").exists


def test_python3(host):
    assert host.run("/usr/bin/python3 -c 'import sys; print(sys.version_info[0])'").stdout.strip() == "3"


def test_image_mode(host):
    assert host.ansible.get_variables()["kvmops_apply_runtime"] is False

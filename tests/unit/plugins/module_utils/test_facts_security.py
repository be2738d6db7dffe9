# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_host.security from fixture trees: Debian with AppArmor, AppArmor off, SELinux, kdump."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from sysfs_builder import Tree

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.security import gather_security

DEBIAN = {
    "/sys/kernel/security/lsm": "lockdown,capability,landlock,yama,apparmor",
    "/sys/module/apparmor/parameters/enabled": "Y",
    # as Debian's apparmor package loads them (usr.sbin.libvirtd declares profile libvirtd)
    "/sys/kernel/security/apparmor/profiles": ("virt-aa-helper (enforce)\nlibvirtd (enforce)\n"
                                               "libvirtd//qemu_bridge_helper (enforce)\n"),
    "/etc/apparmor.d/libvirt/TEMPLATE.qemu": "",
    "/usr/lib/libvirt/virt-aa-helper": "",
    "/proc/sys/kernel/yama/ptrace_scope": "0",
    "/proc/sys/kernel/kptr_restrict": "0",
    "/proc/sys/net/core/bpf_jit_harden": "0",
    "/proc/sys/kernel/kexec_load_disabled": "0",
    "/proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet",
    "/sys/kernel/kexec_crash_loaded": "0",
    "/sys/kernel/kexec_crash_size": "0",
    "/proc/self/mounts": "/dev/vda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n",
}


def gather(tmp_path, files):
    Tree(tmp_path).files(files)
    reader = Reader(str(tmp_path))
    return gather_security(reader), reader.warnings


def test_debian_with_apparmor(tmp_path):
    facts, warnings = gather(tmp_path, DEBIAN)
    assert facts["lsm"] == ["lockdown", "capability", "landlock", "yama", "apparmor"]
    assert facts["apparmor"] == {"enabled": True, "active": True, "libvirt_profiles": {"libvirtd": "enforce"},
                                 "libvirt_template": True,
                                 # no abstraction file in this tree (test_apparmor_rules.py has them)
                                 "libvirt_qemu_abstraction": {
                                     "path": "/etc/apparmor.d/abstractions/libvirt-qemu", "exists": False,
                                     "node_cpumap": None,
                                     "local": {"path": "/etc/apparmor.d/local/abstractions/libvirt-qemu",
                                               "included": False, "exists": False, "blank": False,
                                               "kvmops": False, "node_cpumap": False}}}
    assert facts["selinux"] == {"enabled": False, "enforcing": None}
    assert facts["yama"] is True
    assert facts["libvirt_security_drivers"] == ["apparmor"]
    assert facts["kdump"] == {"in_use": False, "reasons": []}
    assert facts["sysctl"]["kernel.kptr_restrict"] == "0"
    assert facts["sysctl"]["kernel.yama.ptrace_scope"] == "0"
    assert facts["sysctl"]["kernel.sysrq"] is None  # not in the tree: the kernel lacks it
    assert facts["image_storage"] == {"path": "/var/lib/libvirt/images", "mount": "/", "fstype": "ext4",
                                      "trusted_xattrs": True}
    assert warnings == []


def test_apparmor_disabled_on_the_command_line(tmp_path):
    files = dict(DEBIAN)
    files["/sys/module/apparmor/parameters/enabled"] = "N"
    files["/sys/kernel/security/lsm"] = "lockdown,capability,yama"
    facts, _warnings = gather(tmp_path, files)
    assert (facts["apparmor"]["enabled"], facts["apparmor"]["active"]) == (False, False)
    assert facts["apparmor"]["libvirt_profiles"] == {}
    assert facts["libvirt_security_drivers"] == []


def test_apparmor_absent_and_no_securityfs(tmp_path):
    files = dict((path, text) for path, text in DEBIAN.items()
                 if not path.startswith(("/sys/module/apparmor", "/sys/kernel/security")))
    facts, warnings = gather(tmp_path, files)
    assert facts["lsm"] == []
    assert (facts["apparmor"]["enabled"], facts["apparmor"]["active"]) == (False, False)
    assert facts["apparmor"]["libvirt_profiles"] == {}
    assert facts["libvirt_security_drivers"] == []
    assert warnings == []


def test_apparmor_without_libvirts_helper_is_no_driver(tmp_path):
    files = dict(DEBIAN)
    del files["/usr/lib/libvirt/virt-aa-helper"]
    facts, _warnings = gather(tmp_path, files)
    assert facts["apparmor"]["active"] is True
    assert facts["libvirt_security_drivers"] == []


def test_selinux_enforcing(tmp_path):
    facts, _warnings = gather(tmp_path, {"/sys/fs/selinux/enforce": "1",
                                         "/sys/kernel/security/lsm": "capability,selinux"})
    assert facts["selinux"] == {"enabled": True, "enforcing": True}
    assert facts["libvirt_security_drivers"] == ["selinux"]


def test_kdump_in_use_and_nfs_images(tmp_path):
    files = dict(DEBIAN)
    files["/proc/cmdline"] = "root=/dev/vda1 crashkernel=512M"
    files["/sys/kernel/kexec_crash_loaded"] = "1"
    files["/etc/default/kdump-tools"] = "USE_KDUMP=1"
    files["/proc/self/mounts"] = DEBIAN["/proc/self/mounts"] + "nas:/images /var/lib/libvirt/images nfs4 rw 0 0\n"
    facts, _warnings = gather(tmp_path, files)
    assert facts["kdump"]["in_use"] is True
    assert len(facts["kdump"]["reasons"]) == 3
    assert facts["image_storage"] == {"path": "/var/lib/libvirt/images", "mount": "/var/lib/libvirt/images",
                                      "fstype": "nfs4", "trusted_xattrs": False}


def test_apparmor_active_without_the_apparmor_package_is_no_driver(tmp_path):
    """The lab host: AppArmor in the kernel, libvirt's helper installed, but no profile
    loaded (the apparmor package is absent); libvirtd refused security_driver = "apparmor"
    with "Security driver apparmor not enabled" there."""
    files = dict(DEBIAN)
    files["/sys/kernel/security/apparmor/profiles"] = ""
    del files["/etc/apparmor.d/libvirt/TEMPLATE.qemu"]
    facts, _warnings = gather(tmp_path, files)
    assert facts["apparmor"]["active"] is True and facts["apparmor"]["libvirt_profiles"] == {}
    assert facts["libvirt_security_drivers"] == []


def test_apparmor_needs_the_guest_template_too(tmp_path):
    files = dict(DEBIAN)
    del files["/etc/apparmor.d/libvirt/TEMPLATE.qemu"]
    facts, _warnings = gather(tmp_path, files)
    assert facts["apparmor"]["libvirt_profiles"] == {"libvirtd": "enforce"}
    assert facts["libvirt_security_drivers"] == []


def test_virtqemud_profile_in_complain_mode_counts(tmp_path):
    files = dict(DEBIAN)
    files["/sys/kernel/security/apparmor/profiles"] = "virtqemud (complain)\n"
    facts, _warnings = gather(tmp_path, files)
    assert facts["apparmor"]["libvirt_profiles"] == {"virtqemud": "complain"}
    assert facts["libvirt_security_drivers"] == ["apparmor"]

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``kvm_host.security``: the Linux security modules a libvirt security driver can use,
kdump, the storage under libvirt's image directory, and the running values of the
hypervisor hardening sysctls (files only, no commands).

Sources: /sys/kernel/security/lsm (the active LSMs, Documentation/admin-guide/LSM/index.rst),
/sys/module/apparmor/parameters/enabled and /sys/kernel/security/apparmor (AppArmor built
in and active, Documentation/admin-guide/LSM/apparmor.rst), /sys/fs/selinux/enforce
(selinuxfs), libvirt's AppArmor abstraction for QEMU and its local files (apparmor_rules.py),
/proc/sys/kernel/yama (Yama, Documentation/admin-guide/LSM/Yama.rst),
/sys/kernel/kexec_crash_loaded and kexec_crash_size (Documentation/ABI/testing/sysfs-kernel-kexec-kdump),
the kdump configuration files of Debian (kdump-tools) and RHEL (kdump), /proc/self/mounts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.apparmor_rules import libvirt_qemu_abstraction

# The keys the seccomp_sandbox section writes or refuses to write (its HARDENING table, the
# "not" list); their running values are read here for the plan and the audit.
HARDENING_SYSCTLS = (
    "kernel.kptr_restrict", "kernel.dmesg_restrict", "kernel.unprivileged_bpf_disabled",
    "net.core.bpf_jit_harden", "kernel.perf_event_paranoid", "kernel.yama.ptrace_scope",
    "fs.protected_symlinks", "fs.protected_hardlinks", "fs.protected_fifos", "fs.protected_regular",
    "fs.suid_dumpable", "kernel.randomize_va_space", "kernel.sysrq", "kernel.kexec_load_disabled",
    "vm.unprivileged_userfaultfd", "kernel.modules_disabled", "net.ipv4.ip_forward",
)

# libvirt's AppArmor driver runs this helper to write each domain's profile
# (src/security/virt-aa-helper.c); without it the driver cannot label a guest.
VIRT_AA_HELPERS = ("/usr/lib/libvirt/virt-aa-helper", "/usr/libexec/virt-aa-helper")
# libvirt's AppArmor driver probe (src/security/security_apparmor.c, use_apparmor and
# AppArmorSecurityDriverProbe): the daemon itself must run under a loaded profile (by its
# path or its base name, in /sys/kernel/security/apparmor/profiles) and the guest template
# must exist; otherwise security_driver = "apparmor" stops the daemon at start ("Security
# driver apparmor not enabled"), as on a Debian host without the apparmor package.
APPARMOR_PROFILES = "/sys/kernel/security/apparmor/profiles"
LIBVIRT_DAEMON_PROFILES = ("libvirtd", "/usr/sbin/libvirtd", "virtqemud", "/usr/sbin/virtqemud")
APPARMOR_TEMPLATES = ("/etc/apparmor.d/libvirt/TEMPLATE.qemu",)
# The first line of the local abstraction file when the seccomp_sandbox role wrote it.
APPARMOR_LOCAL_MARKER = "kvmops.hypervisor.seccomp_sandbox"


def libvirt_apparmor_profiles(text):
    """{profile: mode} of the libvirt daemon profiles loaded, from the profiles file's
    ``name (mode)`` lines."""
    found = {}
    for line in (text or "").splitlines():
        name, _sep, mode = line.strip().rpartition(" (")
        if name in LIBVIRT_DAEMON_PROFILES and mode.endswith(")"):
            found[name] = mode[:-1]
    return found


KDUMP_CONFIGS = ("/etc/default/kdump-tools", "/etc/kdump.conf")
IMAGE_DIR = "/var/lib/libvirt/images"
# File systems without trusted.* extended attributes, where libvirt's remember_owner
# (it keeps the original owner in trusted.libvirt.security.* xattrs) cannot work.
NO_TRUSTED_XATTRS = ("nfs", "nfs4", "cifs", "smb3", "9p", "vfat", "exfat", "ceph", "glusterfs")


def _proc_sys(key):
    return "/proc/sys/" + key.replace(".", "/")


def image_storage(reader, directory=IMAGE_DIR):
    """{path, mount, fstype, trusted_xattrs} of the mount holding ``directory``."""
    mount = fstype = None
    for line in reader.lines("/proc/self/mounts", []):
        words = line.split()
        if len(words) < 3:
            continue
        point = words[1].replace("\\040", " ")
        if directory == point or directory.startswith(point.rstrip("/") + "/") or point == "/":
            if mount is None or len(point) > len(mount):
                mount, fstype = point, words[2]
    if mount is None:
        return {"path": directory, "mount": None, "fstype": None, "trusted_xattrs": None}
    trusted = not (fstype in NO_TRUSTED_XATTRS or fstype.startswith("fuse"))
    return {"path": directory, "mount": mount, "fstype": fstype, "trusted_xattrs": trusted}


def kdump(reader, cmdline_tokens=None):
    """{in_use: bool, reasons: [str]}: a crash kernel is loaded or reserved, or kdump is configured."""
    reasons = []
    if reader.integer("/sys/kernel/kexec_crash_loaded") == 1:
        reasons.append("a crash kernel is loaded (/sys/kernel/kexec_crash_loaded)")
    size = reader.integer("/sys/kernel/kexec_crash_size")
    if size:
        reasons.append("crash kernel memory reserved (/sys/kernel/kexec_crash_size %d)" % size)
    if cmdline_tokens is None:
        cmdline_tokens = (reader.text("/proc/cmdline") or "").split()
    if any(token.startswith("crashkernel=") for token in cmdline_tokens):
        reasons.append("crashkernel= on the kernel command line")
    for path in KDUMP_CONFIGS:
        if reader.exists(path):
            reasons.append("%s exists" % path)
    return {"in_use": bool(reasons), "reasons": reasons}


def gather_security(reader):
    """The ``kvm_host.security`` dictionary."""
    lsm_text = reader.text("/sys/kernel/security/lsm")
    lsm = [word for word in (lsm_text or "").split(",") if word]
    apparmor_param = reader.text("/sys/module/apparmor/parameters/enabled")
    apparmor_enabled = apparmor_param is not None and apparmor_param.upper().startswith("Y")
    apparmor_active = apparmor_enabled and reader.isdir("/sys/kernel/security/apparmor")
    if lsm_text is not None:
        apparmor_active = apparmor_active and "apparmor" in lsm
    enforce = reader.integer("/sys/fs/selinux/enforce")
    selinux_enabled = enforce is not None
    drivers = []
    if selinux_enabled:
        drivers.append("selinux")
    daemon_profiles = libvirt_apparmor_profiles(reader.text(APPARMOR_PROFILES, quiet=True)) if apparmor_active else {}
    template = any(reader.exists(path) for path in APPARMOR_TEMPLATES)
    if (apparmor_active and any(reader.exists(path) for path in VIRT_AA_HELPERS) and daemon_profiles
            and template):
        drivers.append("apparmor")
    sysctl = {}
    for key in HARDENING_SYSCTLS:
        text = reader.text(_proc_sys(key), quiet=True)
        sysctl[key] = None if text is None else " ".join(text.split())
    return {
        "lsm": lsm,
        "apparmor": {"enabled": apparmor_enabled, "active": apparmor_active,
                     "libvirt_profiles": daemon_profiles, "libvirt_template": template,
                     "libvirt_qemu_abstraction": libvirt_qemu_abstraction(reader, APPARMOR_LOCAL_MARKER)},
        "selinux": {"enabled": selinux_enabled, "enforcing": None if enforce is None else enforce == 1},
        "yama": reader.isdir("/proc/sys/kernel/yama"),
        "libvirt_security_drivers": drivers,
        "kdump": kdump(reader),
        "sysctl": sysctl,
        "image_storage": image_storage(reader),
    }

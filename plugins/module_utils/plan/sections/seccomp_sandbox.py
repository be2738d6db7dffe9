# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``seccomp_sandbox``: QEMU under libvirt's seccomp sandbox and sVirt
confinement (``key = value`` lines of /etc/libvirt/qemu.conf), the kernel hardening
sysctls of a hypervisor (one drop-in), and the per-domain report of the running QEMU
processes (sandboxed, confined, or why not).

qemu.conf settings and their meaning: libvirt ``src/qemu/qemu.conf.in`` (table and types
in ``plan/qemu_conf.py``). Sysctls: the kernel's Documentation/admin-guide/sysctl/
{kernel,fs,net}.rst and Documentation/admin-guide/LSM/Yama.rst, chosen after KSPP's
recommended settings as kernel-hardening-checker checks them
(kernel_hardening_checker/checks.py, add_sysctl_checks) and dev-sec linux-baseline, minus
what breaks a KVM host:

- ``vm.unprivileged_userfaultfd`` is never written 0 while post-copy live migration is in
  use: QEMU (non-root, no CAP_SYS_PTRACE) needs userfaultfd on the destination
  (libvirt ships a sysctl file setting it to 1 for that reason);
- ``net.ipv4.ip_forward`` is not touched (libvirt NAT/routed networks need 1; the
  sysctl_net role decides it);
- ``kernel.modules_disabled`` is never written: vfio-pci, vhost_net and tun are loaded
  when a guest first needs them;
- ``kernel.kexec_load_disabled`` only while kdump is not in use (kdump-tools loads the
  crash kernel with kexec_load after boot; the setting is one-way until reboot).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    canonical_key,
    normalize_value,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan import qemu_conf as qc
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sandbox import SANDBOX_ON, config_applied, judge
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.apparmor_rules import NODE_CPUMAP_RULE as NUMA_RULE
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import (
    comment,
    managed_header,
    section,
)

ROLE = "seccomp_sandbox"

OPTIONS = dict(
    seccomp=dict(type="raw", default=1),
    security_driver=dict(type="raw", default="auto"),
    default_confined=dict(type="bool", default=True),
    require_confined=dict(type="bool", default=False),
    namespaces=dict(type="list", elements="str", default=["mount"]),
    user=dict(type="str"),
    group=dict(type="str"),
    dynamic_ownership=dict(type="bool", default=True),
    remember_owner=dict(type="raw", default="auto"),
    cgroup_device_acl=dict(type="list", elements="str"),
    max_files=dict(type="raw"),
    max_processes=dict(type="raw"),
    qemu_conf_settings=dict(type="dict", default={}),
    optout_domains=dict(type="list", elements="str", default=[]),
    qemu_conf=dict(type="path", default="/etc/libvirt/qemu.conf"),
    sysctl_path=dict(type="path", default="/etc/sysctl.d/90-kvmops-hardening.conf"),
    sysctl_overrides=dict(type="dict", default={}),
    kexec_load_disabled=dict(type="raw", default="auto"),
    postcopy_migration=dict(type="bool", default=True),
    validate_expected=dict(type="list", elements="str", default=[]),
    apparmor_numa_rule=dict(type="raw", default="auto"),
)


def _var(name):
    return "%s_%s" % (ROLE, name)


# key: (value, reason). The kernel documentation file is rendered before the reason
# (sysctl_conf.doc_for); the reason names the KSPP/dev-sec recommendation it follows.
HARDENING = (
    ("kernel.kptr_restrict", 2,
     "kptr_restrict 2: kernel pointers printed with %pK are zeros for every user, root included "
     "(KSPP: 2; kernel-hardening-checker cut_attack_surface; dev-sec linux-baseline sysctl-kernel)"),
    ("kernel.dmesg_restrict", 1,
     "dmesg_restrict 1: only CAP_SYSLOG reads the kernel log (addresses, device details) "
     "(KSPP: 1; dev-sec linux-baseline)"),
    ("kernel.unprivileged_bpf_disabled", 1,
     "unprivileged_bpf_disabled 1: bpf() only with CAP_BPF/CAP_SYS_ADMIN, and it cannot be set back to 0 "
     "until reboot (2 would allow that) (KSPP: 1)"),
    ("net.core.bpf_jit_harden", 2,
     "bpf_jit_harden 2: constant blinding in the BPF JIT for every user, privileged ones too "
     "(KSPP: 2; present only with CONFIG_BPF_JIT)"),
    ("kernel.perf_event_paranoid", 3,
     "perf_event_paranoid 3: upstream documents -1..2 and treats higher values as 2 (no kernel profiling "
     "for unprivileged users); Debian and Ubuntu kernels carry a patch where 3 denies perf_event_open to "
     "unprivileged users altogether (KSPP: 3, \"with a custom patch\")"),
    ("kernel.yama.ptrace_scope", 2,
     "Yama ptrace_scope 2 (Documentation/admin-guide/LSM/Yama.rst): only CAP_SYS_PTRACE may attach, so a "
     "compromised QEMU user cannot ptrace another process of that user; 3 (KSPP) would forbid attaching "
     "until reboot, gdb on a hung QEMU included; present only with Yama"),
    ("fs.protected_symlinks", 1,
     "protected_symlinks 1: no following of symlinks in sticky world-writable directories owned by another "
     "user (KSPP: 1; dev-sec)"),
    ("fs.protected_hardlinks", 1,
     "protected_hardlinks 1: no hard links to files the user cannot read and write (KSPP: 1; dev-sec)"),
    ("fs.protected_fifos", 1,
     "protected_fifos 1: no O_CREAT open of another user's FIFO in world-writable sticky directories. "
     "KSPP asks 2 (group-writable ones too), but systemd's /usr/lib/sysctl.d/99-protect-links.conf "
     "(Debian 12 and 13) sets 1 and is read after this file, so 2 would not survive a boot; set 2 in "
     "seccomp_sandbox_sysctl_overrides after masking that file"),
    ("fs.protected_regular", 2,
     "protected_regular 2: the same for regular files (KSPP: 2)"),
    ("fs.suid_dumpable", 0,
     "suid_dumpable 0: no core dumps of processes that changed credentials (KSPP: 0; dev-sec)"),
    ("kernel.randomize_va_space", 2,
     "randomize_va_space 2: full ASLR, brk included (KSPP: 2; dev-sec)"),
    ("kernel.sysrq", 176,
     "sysrq 176 = 16 sync + 32 remount read-only + 128 reboot/poweroff (sysrq.rst bitmask): the console keys "
     "that recover a hung hypervisor without the ones that dump memory, kill processes or change the log "
     "level (KSPP and dev-sec: 0; override with 0 where no console access is needed)"),
)
KEXEC_KEY = "kernel.kexec_load_disabled"
KEXEC_SOURCE = ("kexec_load_disabled 1: no kexec_load/kexec_file_load any more, one-way until reboot "
                "(KSPP: 1); written only while kdump is not in use (it loads its crash kernel with kexec "
                "after boot)")
# Keys this role never writes, and why (the "not" list).
REFUSED = {
    "net.ipv4.ip_forward": ("libvirt NAT and routed networks need forwarding; the sysctl_net role decides "
                            "net.ipv4.ip_forward (sysctl_net_ip_forward)"),
    "kernel.modules_disabled": ("vfio-pci, vhost_net and tun are loaded when a guest first needs them; "
                                "modules_disabled 1 would make those guests fail to start until reboot"),
    KEXEC_KEY: "use seccomp_sandbox_kexec_load_disabled (auto leaves it while kdump is in use)",
}
USERFAULTFD_KEY = "vm.unprivileged_userfaultfd"

QEMU_CONF_SOURCES = {
    "seccomp_sandbox": "qemu.conf.in seccomp_sandbox: 1 runs QEMU with -sandbox " + SANDBOX_ON,
    "security_driver": "qemu.conf.in security_driver: the sVirt driver (apparmor, selinux) labelling each guest",
    "security_default_confined": "qemu.conf.in security_default_confined: guests confined unless their XML says not",
    "security_require_confined": "qemu.conf.in security_require_confined: refuse to start unconfined guests",
    "namespaces": "qemu.conf.in namespaces: a private mount namespace (/dev with only the guest's devices)",
    "user": "qemu.conf.in user: the account QEMU runs as",
    "group": "qemu.conf.in group: the group QEMU runs as",
    "dynamic_ownership": "qemu.conf.in dynamic_ownership: libvirt chowns guest files to user/group",
    "remember_owner": ("qemu.conf.in remember_owner: the original owner kept in trusted.* xattrs and restored; "
                       "0 where the image storage has no trusted xattrs (NFS, CIFS, FUSE)"),
    "cgroup_device_acl": "qemu.conf.in cgroup_device_acl: devices every guest may open (replaces the default list)",
    "max_files": "qemu.conf.in max_files: RLIMIT_NOFILE of QEMU",
    "max_processes": "qemu.conf.in max_processes: RLIMIT_NPROC of the QEMU user",
}
# Keys the options above own, and keys other roles own in the same file.
OWNED_ELSEWHERE = {"hugetlbfs_mount": "the hugepages role (hugepages_*)"}
ROOT_NAMES = ("root", "+0", "0")

HEADER_TEXT = """\
Kernel hardening of a KVM hypervisor: KSPP (kernel-hardening-checker) and dev-sec
linux-baseline values that leave guests working. Not here on purpose: kernel.modules_disabled
(vfio-pci, vhost_net, tun load later), net.ipv4.ip_forward (libvirt networks; sysctl_net),
vm.unprivileged_userfaultfd = 0 (post-copy live migration). Each key is preceded by its
kernel documentation file and the reason for the value."""


def _choice(value, variable, words):
    """auto / true / false (booleans also as strings); PlanError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in words:
        word = value.strip().lower()
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(word, word)
    raise PlanError(variable, "must be %s, got %r" % (" or ".join(sorted(set(words) & {"auto", "true", "false"})),
                                                      value))


_BOOL_WORDS = ("auto", "true", "false", "yes", "no", "1", "0")


def _seccomp(value):
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value not in (-1, 0, 1):
        raise PlanError(_var("seccomp"), "must be -1 (libvirt's default: the sandbox when QEMU has it), 0 (off) "
                                         "or 1 (on), got %r" % (value,))
    return value


def _security_driver(value, security, warnings):
    """The security_driver value to write (str or list), or None to leave the key alone."""
    variable = _var("security_driver")
    available = security.get("libvirt_security_drivers") if isinstance(security, dict) else None
    if value == "auto":
        if available is None:
            warnings.append("%s: auto, but kvm_host.security is not known: security_driver left as it is" % variable)
            return None
        if not available:
            apparmor = security.get("apparmor") or {}
            why = ("AppArmor is active but libvirt's daemon runs under no loaded AppArmor profile or its "
                   "TEMPLATE.qemu is missing (is the apparmor package installed?), which libvirt's driver "
                   "needs" if apparmor.get("active") else "no active AppArmor with virt-aa-helper")
            warnings.append("%s: auto: no security driver is usable here (%s, no SELinux): guests run unconfined; "
                            "no security_driver line is written, as libvirt would refuse to start with one"
                            % (variable, why))
            return None
        return available[0]
    drivers = value if isinstance(value, list) else [value]
    if not drivers or not all(isinstance(item, str) and item for item in drivers):
        raise PlanError(variable, "must be auto, none, apparmor, selinux or a list of them, got %r" % (value,))
    if "none" in drivers:
        if len(drivers) > 1:
            raise PlanError(variable, "none must stand alone, not in a list (qemu.conf.in)")
        warnings.append("%s: none: every guest runs unconfined (no sVirt label), because the operator asked" % variable)
        return "none"
    for item in drivers:
        if item == "dac":
            raise PlanError(variable, "dac is always enabled and cannot be listed (qemu.conf.in)")
        if item not in qc.SECURITY_DRIVERS:
            raise PlanError(variable, "unknown security driver %r (libvirt has %s)" % (item, ", ".join(qc.SECURITY_DRIVERS)))
        if available is not None and item not in available:
            raise PlanError(variable, "%s is not available on this host (usable: %s; kvm_host.security)"
                            % (item, ", ".join(available) or "none"))
    return drivers[0] if len(drivers) == 1 else drivers


def _int_or_none(value, variable):
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PlanError(variable, "must be an integer of 0 or more, or null to leave it; got %r" % (value,))
    return value


def _qemu_conf(options, facts, warnings):
    """({key: value or False}, expected driver) of the qemu.conf lines."""
    security = facts.get("security")
    values = {}
    values["seccomp_sandbox"] = _seccomp(options["seccomp"])
    driver = _security_driver(options["security_driver"], security, warnings)
    values["security_driver"] = driver if driver is not None else False
    values["security_default_confined"] = int(options["default_confined"])
    if options["require_confined"]:
        if driver in (None, "none"):
            raise PlanError(_var("require_confined"), "true with no security driver (seccomp_sandbox_security_driver "
                                                      "gives %s): libvirt would refuse to start every guest"
                            % (driver or "none usable"))
        values["security_require_confined"] = 1
    else:
        values["security_require_confined"] = False
    for item in options["namespaces"]:
        if item != "mount":
            raise PlanError(_var("namespaces"), "unknown namespace %r (libvirt supports only mount)" % item)
    values["namespaces"] = list(options["namespaces"])
    for key in ("user", "group"):
        name = options[key]
        if name is None:
            values[key] = False
            continue
        if name.strip() in ROOT_NAMES:
            raise PlanError(_var(key), "%r runs QEMU as root: a guest escape would own the host; use a dedicated "
                                       "account (libvirt-qemu on Debian, qemu on RHEL)" % name)
        values[key] = name
    values["dynamic_ownership"] = int(options["dynamic_ownership"])
    remember = _choice(options["remember_owner"], _var("remember_owner"), _BOOL_WORDS)
    if remember == "auto":
        storage = (security or {}).get("image_storage") if isinstance(security, dict) else None
        trusted = storage.get("trusted_xattrs") if isinstance(storage, dict) else None
        remember = trusted is not False
        if trusted is False:
            warnings.append("%s: auto: %s is on %s (no trusted xattrs): remember_owner = 0"
                            % (_var("remember_owner"), storage.get("path"), storage.get("fstype")))
    values["remember_owner"] = int(remember)
    acl = options["cgroup_device_acl"]
    if acl is None:
        values["cgroup_device_acl"] = False
    else:
        missing = [dev for dev in qc.DEFAULT_DEVICE_ACL if dev not in acl]
        if missing:
            raise PlanError(_var("cgroup_device_acl"), "replaces libvirt's list whole and must keep its defaults; "
                                                       "missing %s" % ", ".join(missing))
        if options["postcopy_migration"] and qc.USERFAULTFD_DEVICE not in acl:
            warnings.append("%s: no %s: post-copy migration through /dev/userfaultfd needs it (libvirt's default "
                            "list has it)" % (_var("cgroup_device_acl"), qc.USERFAULTFD_DEVICE))
        values["cgroup_device_acl"] = list(acl)
    for key in ("max_files", "max_processes"):
        number = _int_or_none(options[key], _var(key))
        values[key] = False if number is None else number
    extra = options["qemu_conf_settings"] or {}
    for key in sorted(extra):
        if key in values:
            raise PlanError(_var("qemu_conf_settings"), "%s has its own variable (%s)" % (key, _option_for(key)))
        if key in OWNED_ELSEWHERE:
            raise PlanError(_var("qemu_conf_settings"), "%s belongs to %s" % (key, OWNED_ELSEWHERE[key]))
        if extra[key] is None:
            values[key] = None
            continue
        try:
            qc.check_value(key, extra[key])
        except qc.QemuConfError as exc:
            raise PlanError(_var("qemu_conf_settings"), str(exc))
        # booleans as 0/1: False in ``values`` means "release our line"
        values[key] = int(extra[key]) if isinstance(extra[key], bool) else extra[key]
    for key, value in values.items():
        if value is not None and value is not False:
            try:
                qc.check_value(key, value)
            except qc.QemuConfError as exc:
                raise PlanError(_option_for(key), str(exc))
    return values, (driver if driver in qc.SECURITY_DRIVERS else (driver[0] if isinstance(driver, list) else None))


def _option_for(key):
    names = {"seccomp_sandbox": "seccomp", "security_default_confined": "default_confined",
             "security_require_confined": "require_confined"}
    return _var(names.get(key, key))


def _existing_conf(libvirt, lines, warnings):
    """Warnings for settings already in qemu.conf that the daemon would refuse, or that
    weaken what this role sets."""
    current = libvirt.get("qemu_conf") if isinstance(libvirt, dict) else None
    if not isinstance(current, dict):
        return

    def bad(key, message):
        if key in lines and lines[key] not in (False, None):
            return  # ours replaces it
        warnings.append("seccomp_sandbox: /etc/libvirt/qemu.conf already has a value libvirt refuses: %s" % message)
    qc.check_settings(current, bad)
    for key in ("user", "group"):
        if lines.get(key) is False and str(current.get(key, "")).strip() in ROOT_NAMES:
            warnings.append("seccomp_sandbox: qemu.conf sets %s = %r: QEMU runs as root; set %s"
                            % (key, current.get(key), _var(key)))


def _hardening(options, facts, warnings):
    """(values, sources, origins, kexec reason)."""
    security = facts.get("security") if isinstance(facts.get("security"), dict) else None
    running = (security or {}).get("sysctl") or {}
    values, sources, origins = {}, {}, {}
    for key, value, reason in HARDENING:
        if security is not None and key in running and running[key] is None:
            warnings.append("seccomp_sandbox: %s left out: the running kernel has no such key" % key)
            continue
        if key == "kernel.yama.ptrace_scope" and security is not None and security.get("yama") is False:
            warnings.append("seccomp_sandbox: kernel.yama.ptrace_scope left out: Yama is not active")
            continue
        values[key] = str(value)
        sources[key] = reason
        origins[key] = _var("sysctl_overrides")
    kexec = _choice(options["kexec_load_disabled"], _var("kexec_load_disabled"), _BOOL_WORDS)
    kdump = (security or {}).get("kdump") or {}
    if kexec == "auto":
        if security is None:
            kexec_reason = "auto: kdump state unknown (no kvm_host.security): left out"
        elif kdump.get("in_use"):
            kexec_reason = "auto: kdump is in use (%s): left out" % "; ".join(kdump.get("reasons") or [])
        elif running.get(KEXEC_KEY, "") is None:
            kexec_reason = "auto: the running kernel has no kexec (no kernel.kexec_load_disabled): left out"
        else:
            kexec_reason = "auto: kdump is not in use: written 1"
            kexec = True
    else:
        kexec_reason = "%s: %s" % (_var("kexec_load_disabled"), kexec)
        if kexec and kdump.get("in_use"):
            warnings.append("%s: true while kdump is in use (%s): the crash kernel cannot be loaded again after "
                            "this boot" % (_var("kexec_load_disabled"), "; ".join(kdump.get("reasons") or [])))
    if kexec is True:
        values[KEXEC_KEY] = "1"
        sources[KEXEC_KEY] = KEXEC_SOURCE
        origins[KEXEC_KEY] = _var("kexec_load_disabled")
    elif kexec is False and running.get(KEXEC_KEY) == "1":
        warnings.append("%s: false, but kexec loading is already disabled until reboot" % _var("kexec_load_disabled"))

    variable = _var("sysctl_overrides")
    for raw_key in sorted(options["sysctl_overrides"] or {}):
        try:
            key = canonical_key(raw_key, variable)
        except SysctlError as exc:
            raise PlanError(variable, str(exc).split(": ", 1)[-1])
        value = options["sysctl_overrides"][raw_key]
        if key in REFUSED:
            raise PlanError(variable, "%s is not this role's: %s" % (key, REFUSED[key]))
        if value is None:
            values.pop(key, None)
            continue
        try:
            text = normalize_value(value, "%s[%s]" % (variable, key))
        except SysctlError as exc:
            raise PlanError(variable, str(exc).split(": ", 1)[-1] if str(exc).startswith(variable) else str(exc))
        if key == USERFAULTFD_KEY and text == "0" and options["postcopy_migration"]:
            raise PlanError(variable, "vm.unprivileged_userfaultfd = 0 breaks post-copy live migration (QEMU needs "
                                      "userfaultfd; libvirt ships a sysctl file setting it to 1); set "
                                      "seccomp_sandbox_postcopy_migration: false if post-copy is never used")
        values[key] = text
        sources[key] = "%s (set by %s)" % (sources.get(key, key.rsplit(".", 1)[-1]), variable)
        origins[key] = variable
    return values, sources, origins, kexec_reason


NUMA_RULE_TEXT = """\
Site additions to libvirt's AppArmor abstraction for QEMU (abstractions/libvirt-qemu
includes this file; each guest's profile is built from it when the guest starts).

QEMU 7.2 and later read the NUMA nodes' cpumap files (libnuma) for the preallocation
thread context of a guest bound to a node (numatune, huge pages). libvirt's own abstraction
allows it since its upstream rule "Access to libnuma" (src/security/apparmor/libvirt-qemu);
the one installed here does not (Debian 12, libvirt 9.0), and such a guest does not start:
apparmor="DENIED" name="/sys/devices/system/node/nodeN/cpumap". Needed until libvirt's
abstraction has the rule; then this file is given back empty."""


def _apparmor_local(options, security, driver, warnings):
    """({path: text} for the files step, note): the local abstraction file with the NUMA
    cpumap rule while libvirt's abstraction lacks it and guests are confined by AppArmor;
    given back empty (as the package creates it) when kvmops wrote it and it is no longer
    needed; never a file an administrator wrote."""
    variable = _var("apparmor_numa_rule")
    choice = _choice(options["apparmor_numa_rule"], variable, _BOOL_WORDS)
    apparmor = (security or {}).get("apparmor") if isinstance(security, dict) else None
    abstraction = (apparmor or {}).get("libvirt_qemu_abstraction") if isinstance(apparmor, dict) else None
    if not isinstance(abstraction, dict):
        if choice is True:
            raise PlanError(variable, "true, but kvm_host.security does not say what libvirt's AppArmor "
                                      "abstraction allows (facts of this collection are needed)")
        return {}, "unknown: no kvm_host.security.apparmor.libvirt_qemu_abstraction"
    local = abstraction.get("local") if isinstance(abstraction.get("local"), dict) else {}
    path = local.get("path")
    ours = bool(local.get("kvmops"))
    if choice is False:
        wanted, why = False, "%s: false" % variable
    elif abstraction.get("node_cpumap") is not False:
        wanted = False
        why = ("libvirt's abstraction allows it" if abstraction.get("node_cpumap")
               else "no libvirt AppArmor abstraction for QEMU here")
        if choice is True and abstraction.get("node_cpumap") is None:
            raise PlanError(variable, "true, but %s does not exist (is libvirt-daemon-system installed?)"
                            % abstraction.get("path"))
    elif choice == "auto" and driver != "apparmor":
        wanted, why = False, "auto: guests are not confined by AppArmor (security_driver %s)" % (driver or "none")
    else:
        wanted, why = True, "libvirt's abstraction lacks it"
    if not wanted:
        if ours:
            return {path: ""}, "not needed (%s): %s given back empty" % (why, path)
        return {}, "not needed (%s)" % why
    if local.get("node_cpumap") and not ours:
        return {}, "%s already has it (the administrator's)" % path
    if not local.get("included"):
        message = ("%s: libvirt's abstraction %s lacks the NUMA cpumap rule and includes no %s: add "
                   "'%s' to it, or a guest bound to a NUMA node does not start"
                   % (variable, abstraction.get("path"), path, NUMA_RULE))
        if choice is True:
            raise PlanError(variable, message.split(": ", 1)[1])
        warnings.append(message)
        return {}, "missing, not written (no local include)"
    if local.get("exists") and not (ours or local.get("blank")):
        message = ("%s: %s has rules of its own and lacks the NUMA cpumap rule: add '%s' to it, or a "
                   "guest bound to a NUMA node does not start" % (variable, path, NUMA_RULE))
        if choice is True:
            raise PlanError(variable, message.split(": ", 1)[1])
        warnings.append(message)
        return {}, "missing, not written (the file is the administrator's)"
    text = comment(managed_header(ROLE, NUMA_RULE_TEXT)) + NUMA_RULE + "\n"
    return {path: text}, "written to %s: %s" % (path, why)


def _breaker_warnings(processes, seccomp, optouts, warnings):
    for proc in processes:
        name = proc.get("name") or "pid %s" % proc.get("pid")
        if seccomp == 0 or name in optouts:
            continue
        if proc.get("bridge_helper"):
            warnings.append("seccomp_sandbox: domain %s uses a QEMU bridge helper (-netdev bridge/helper=): "
                            "spawn=deny breaks it at its next start; list it in %s or use a libvirt "
                            "<interface type='bridge'>" % (name, _var("optout_domains")))
        if proc.get("thread_context"):
            warnings.append("seccomp_sandbox: domain %s uses -object thread-context (CPU affinity): "
                            "resourcecontrol=deny breaks it at its next start; list it in %s"
                            % (name, _var("optout_domains")))


def build(context, options):
    facts = context.facts if isinstance(context.facts, dict) else {}
    warnings = []
    lines, driver = _qemu_conf(options, facts, warnings)
    rendered = {}
    for key in sorted(lines):
        value = lines[key]
        rendered[key] = value if value is None or value is False else qc.render_line(key, value)
    _existing_conf(facts.get("libvirt"), lines, warnings)
    values, sources, origins, kexec_reason = _hardening(options, facts, warnings)
    apparmor_files, apparmor_note = _apparmor_local(options, facts.get("security"), driver, warnings)

    planned = dict((key, qc.normalise(value)) for key, value in lines.items()
                   if value is not None and value is not False)
    expect = {"seccomp": lines["seccomp_sandbox"], "driver": driver,
              "sandbox_arg": "off" if lines["seccomp_sandbox"] == 0 else SANDBOX_ON,
              "optouts": sorted(set(options["optout_domains"]))}
    processes = [proc for proc in (facts.get("qemu_processes") or []) if isinstance(proc, dict)]
    _breaker_warnings(processes, lines["seccomp_sandbox"], expect["optouts"], warnings)
    libvirt = facts.get("libvirt") if isinstance(facts.get("libvirt"), dict) else {}
    applied = config_applied(libvirt.get("qemu_conf"), planned)
    domains = [judge(proc, expect, applied) for proc in processes]

    cpu = facts.get("cpu") if isinstance(facts.get("cpu"), dict) else {}
    flags = cpu.get("flags") or {}
    kvm = ((facts.get("kernel") or {}).get("kvm") or {}) if isinstance(facts.get("kernel"), dict) else {}
    iommu = facts.get("iommu") if isinstance(facts.get("iommu"), dict) else None
    context.warnings.extend(warnings)
    return section(
        lines={options["qemu_conf"]: rendered},
        # the same lines for qemu_conf_lines (one file; the role passes path and lines as they are)
        qemu_conf_lines={"path": options["qemu_conf"], "lines": rendered},
        sysctl={"path": options["sysctl_path"], "values": values, "sources": sources, "origins": origins,
                "header": managed_header(ROLE, HEADER_TEXT)},
        qemu_conf=planned,
        qemu_conf_sources=dict((key, QEMU_CONF_SOURCES.get(key, "qemu.conf.in %s (%s)" % (key, _var("qemu_conf_settings"))))
                               for key in planned),
        expect=expect,
        kexec=kexec_reason,
        files=apparmor_files,
        apparmor_numa_rule=apparmor_note,
        domains=domains,
        host_validate={
            "tcg": not (flags.get("vmx") or flags.get("svm")) or kvm.get("loaded") is False,
            "iommu": None if iommu is None else bool(iommu.get("units")),
            "expected": list(options["validate_expected"]),
        },
    )

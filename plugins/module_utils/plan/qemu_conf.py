# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's /etc/libvirt/qemu.conf: the keys it knows, their types, and the text of one
``key = value`` line, checked before anything is written.

The table is read from libvirt's ``src/qemu/qemu.conf.in`` (the file every package
installs as qemu.conf; each setting is there as a commented example) and the getter
``src/qemu/qemu_conf.c`` uses for it: ``virConfGetValueBool`` takes only the integers 0
and 1, ``virConfGetValueInt``/``UInt`` an integer, ``virConfGetValueString`` a string,
``virConfGetValueStringList`` a list of strings (a single string too where the file says
so: ``security_driver``, ``hugetlbfs_mount``), and ``max_core`` the string
``"unlimited"`` or an integer. A value of the wrong type makes the daemon refuse to start
(virQEMUDriverConfigLoadFile fails), hence the check here. Keys of newer libvirt releases
(``rdp_*``, ``auto_shutdown_*``, ``shared_filesystems``) are in the table too: an older
daemon ignores a key it does not know.

libvirt 9.x and 11.x have no qemu.conf.d directory, so the settings are ``key = value``
lines of qemu.conf itself (``apply/config_files.py``, one marker per key).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

BOOL = "bool"
INT = "int"
STR = "str"
LIST = "list"
STR_OR_LIST = "str_or_list"
STR_OR_INT = "str_or_int"

_BOOLS = (
    "default_tls_x509_verify", "vnc_auto_unix_socket", "vnc_tls", "vnc_tls_x509_verify", "vnc_sasl",
    "vnc_allow_host_audio", "spice_tls", "spice_auto_unix_socket", "spice_sasl", "chardev_tls",
    "chardev_tls_x509_verify", "vxhs_tls", "nbd_tls", "migrate_tls_x509_verify", "migrate_tls_force",
    "backup_tls_x509_verify", "nographics_allow_host_audio", "security_default_confined",
    "security_require_confined", "dynamic_ownership", "remember_owner", "auto_dump_bypass_cache",
    "auto_start_bypass_cache", "auto_save_bypass_cache", "auto_shutdown_restore", "set_process_name",
    "dump_guest_core", "mac_filter", "relaxed_acs_check", "log_timestamp", "virtiofsd_debug",
    "storage_use_nbdkit",
)
_INTS = (
    "remote_display_port_min", "remote_display_port_max", "remote_websocket_port_min",
    "remote_websocket_port_max", "max_processes", "max_files", "max_threads_per_process", "max_queued",
    "keepalive_interval", "keepalive_count", "seccomp_sandbox", "migration_port_min", "migration_port_max",
    "gluster_debug_level", "auto_start_delay", "auto_shutdown_wait",
)
_STRS = (
    "default_tls_x509_cert_dir", "default_tls_x509_secret_uuid", "default_tls_priority", "vnc_listen",
    "vnc_tls_x509_cert_dir", "vnc_tls_x509_secret_uuid", "vnc_tls_priority", "vnc_password", "vnc_sasl_dir",
    "spice_listen", "spice_tls_x509_cert_dir", "spice_password", "spice_sasl_dir", "rdp_listen",
    "rdp_tls_x509_cert_dir", "rdp_username", "rdp_password", "chardev_tls_x509_cert_dir",
    "chardev_tls_x509_secret_uuid", "chardev_tls_priority", "vxhs_tls_x509_cert_dir",
    "vxhs_tls_x509_secret_uuid", "nbd_tls_x509_cert_dir", "nbd_tls_x509_secret_uuid", "nbd_tls_priority",
    "migrate_tls_x509_cert_dir", "migrate_tls_x509_secret_uuid", "migrate_tls_priority",
    "backup_tls_x509_cert_dir", "backup_tls_x509_secret_uuid", "backup_tls_priority", "user", "group",
    "save_image_format", "dump_image_format", "snapshot_image_format", "auto_dump_path",
    "auto_shutdown_try_save", "auto_shutdown_try_shutdown", "auto_shutdown_poweroff", "bridge_helper",
    "lock_manager", "migration_address", "migration_host", "stdio_handler", "memory_backing_dir", "pr_helper",
    "slirp_helper", "qemu_rdp", "dbus_daemon", "swtpm_user", "swtpm_group", "deprecation_behavior",
    "sched_core", "default_cpu_deprecated_features",
)
_LISTS = ("cgroup_controllers", "cgroup_device_acl", "nvram", "namespaces", "capability_filters",
          "shared_filesystems")

KEYS = {}
KEYS.update((key, BOOL) for key in _BOOLS)
KEYS.update((key, INT) for key in _INTS)
KEYS.update((key, STR) for key in _STRS)
KEYS.update((key, LIST) for key in _LISTS)
KEYS.update({"security_driver": STR_OR_LIST, "hugetlbfs_mount": STR_OR_LIST, "max_core": STR_OR_INT})

# Ranges qemu.conf.in or qemu_conf.c state for a key.
RANGES = {
    # qemu_conf.c: cfg->seccompSandbox = -1 (use the sandbox when QEMU has it), 0 off, 1 on
    # (qemu_command.c qemuBuildSeccompSandboxCommandLine); virQEMUDriverConfigLoadFile
    # refuses anything else.
    "seccomp_sandbox": (-1, 1),
    "remote_display_port_min": (5900, 65535),
    "remote_display_port_max": (5900, 65535),
    "remote_websocket_port_min": (5700, 65535),
    "remote_websocket_port_max": (5700, 65535),
    "migration_port_min": (1, 65535),
    "migration_port_max": (1, 65535),
    "max_processes": (0, None),
    "max_files": (0, None),
    "max_threads_per_process": (0, None),
}

# qemu.conf.in: "The DAC security driver is always enabled; as a result, the value of
# security_driver cannot contain "dac". The value "none" is a special value;
# security_driver can be set to that value in isolation, but it cannot appear in a list".
SECURITY_DRIVERS = ("selinux", "apparmor")

# qemu_cgroup.c defaultDeviceACL, the list qemu.conf.in shows for cgroup_device_acl: a list
# given here replaces it whole, so it must keep these.
DEFAULT_DEVICE_ACL = ("/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx",
                      "/dev/kvm")
USERFAULTFD_DEVICE = "/dev/userfaultfd"


class QemuConfError(ValueError):
    """A key or value libvirt would not take; the message names the key."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_value(key, value):
    """Raise QemuConfError unless ``value`` is what qemu_conf.c reads for ``key``."""
    kind = KEYS.get(key)
    if kind is None:
        raise QemuConfError("%s: not a qemu.conf setting (libvirt src/qemu/qemu.conf.in knows %d keys)"
                            % (key, len(KEYS)))
    if kind == BOOL:
        if value is True or value is False or (_is_int(value) and value in (0, 1)):
            return
        raise QemuConfError("%s: must be 0 or 1 (or true/false), got %r" % (key, value))
    if kind == INT:
        if not _is_int(value):
            raise QemuConfError("%s: must be an integer, got %r" % (key, value))
        low, high = RANGES.get(key, (None, None))
        if (low is not None and value < low) or (high is not None and value > high):
            raise QemuConfError("%s: must be from %s to %s, got %d"
                                % (key, low, "any" if high is None else high, value))
        return
    if kind in (STR, STR_OR_LIST, STR_OR_INT) and isinstance(value, str):
        if "\n" in value or "\r" in value:
            raise QemuConfError("%s: must be one line, got %r" % (key, value))
        if kind == STR_OR_INT and value != "unlimited":
            raise QemuConfError("%s: must be an integer (bytes) or \"unlimited\", got %r" % (key, value))
        return
    if kind == STR_OR_INT and _is_int(value) and value >= 0:
        return
    if kind in (LIST, STR_OR_LIST) and isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, str) or "\n" in item:
                raise QemuConfError("%s: must be a list of strings, got the item %r" % (key, item))
        return
    wanted = {STR: "a string", LIST: "a list of strings", STR_OR_LIST: "a string or a list of strings",
              STR_OR_INT: "an integer or \"unlimited\""}[kind]
    raise QemuConfError("%s: must be %s, got %r" % (key, wanted, value))


def _quote(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def render_value(key, value):
    """The right-hand side of ``key = ...`` as virConfParse reads it (checked first)."""
    check_value(key, value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if _is_int(value):
        return str(value)
    if isinstance(value, str):
        return _quote(value)
    return "[ %s ]" % ", ".join(_quote(item) for item in value) if value else "[ ]"


def render_line(key, value):
    return "%s = %s" % (key, render_value(key, value))


def normalise(value):
    """``value`` as the facts' parser (facts/services.parse_libvirt_conf) returns it after
    the line is written: booleans as 0/1 integers, tuples as lists."""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, tuple):
        return list(value)
    return value


def check_settings(settings, on_error):
    """Call ``on_error(key, message)`` for each setting of a parsed qemu.conf (``{key:
    value}``) that the daemon would refuse; unknown keys are not errors (libvirt ignores them)."""
    for key in sorted(settings or {}):
        if key not in KEYS:
            continue
        try:
            check_value(key, settings[key])
        except QemuConfError as exc:
            on_error(key, str(exc))


def check_text(text, parse, lines):
    """Problems (strings) of a qemu.conf text about to be written: ``parse(text, on_error)``
    is the facts' virConf reader; every known setting must have a value the daemon takes,
    and each ``lines`` key we write must read back as written."""
    problems = []
    settings = parse(text, lambda message: problems.append("cannot parse: %s" % message))
    check_settings(settings, lambda _key, message: problems.append(message))
    for key, line in sorted((lines or {}).items()):
        if not isinstance(line, str):
            continue
        wanted = parse(line)
        if key not in wanted or settings.get(key) != wanted[key]:
            problems.append("%s: reads back as %r, not %r" % (key, settings.get(key), wanted.get(key)))
    return problems

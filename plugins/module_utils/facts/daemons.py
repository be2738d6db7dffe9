# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about the daemons the memory and libvirt tuning must know of: is a unit
installed, enabled, masked, is its process running, and which libvirt daemon serves QEMU.

Read from files only (no systemctl, so it works under a fixture root and in a chroot):

- installed: a unit file in /etc/systemd/system, /usr/lib/systemd/system or
  /lib/systemd/system (systemd.unit(5), "Unit File Load Path");
- masked: /etc/systemd/system/<unit> is a link to /dev/null (systemctl(1), mask);
- enabled: a link named <unit> in /etc/systemd/system/*.wants or *.requires, which is what
  ``systemctl enable`` creates from the unit's [Install] section (systemd.unit(5));
- running: a process whose /proc/PID/comm is the daemon's name (proc(5): comm is the
  executable's basename, for a script such as ksmtuned the script's), or the daemon's
  pid file in /run naming a live process (libvirtd and virtqemud write
  /run/libvirtd.pid and /run/virtqemud.pid, libvirt's ``--pid-file`` default); for a
  socket unit, its socket file in /run/libvirt (libvirtd.socket: libvirt-sock,
  virtqemud.socket: virtqemud-sock; libvirt docs, daemons.html, "Socket activation").

The units: ksmtuned.service (Debian package ksmtuned, RHEL package qemu-kvm-common; it turns
KSM on when memory runs low), ksm.service (RHEL: writes /sys/kernel/mm/ksm/run=1 when it
starts, per /etc/sysconfig/ksm), libvirtd (the monolithic daemon) and virtqemud (the
modular QEMU driver daemon; libvirt docs, daemons.html), each with its socket unit.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
ADMIN_DIR = "/etc/systemd/system"

# unit -> how its running state is seen: ("comm", name), ("pid", pid file, name),
# ("socket", path) or None (a oneshot unit has no process).
UNITS = {
    "ksmtuned.service": (("comm", "ksmtuned"),),
    "ksm.service": (),
    "libvirtd.service": (("pid", "/run/libvirtd.pid", "libvirtd"), ("comm", "libvirtd")),
    "libvirtd.socket": (("socket", "/run/libvirt/libvirt-sock"),),
    "virtqemud.service": (("pid", "/run/virtqemud.pid", "virtqemud"), ("comm", "virtqemud")),
    "virtqemud.socket": (("socket", "/run/libvirt/virtqemud-sock"),),
}

# The libvirt daemons that can serve the QEMU driver, the modular one first: when both
# run, virtqemud owns qemu:///system (libvirt docs, daemons.html, "Switching to modular daemons").
LIBVIRT_DAEMONS = ("virtqemud", "libvirtd")


def _link_target(reader, relpath):
    """The target text of a symbolic link under the root, or None."""
    try:
        return os.readlink(reader.path(relpath))
    except (IOError, OSError, ValueError):
        return None


def _process_names(reader):
    """The comm of every process under /proc (racy reads are quiet)."""
    names = set()
    for pid in reader.listdir("/proc"):
        if pid.isdigit():
            comm = reader.text("/proc/%s/comm" % pid, quiet=True)
            if comm:
                names.add(comm)
    return names


def _pid_file_alive(reader, path, name):
    """The pid file names a process that exists (and has the daemon's comm when readable)."""
    text = reader.text(path, quiet=True)
    if not text or not text.split()[0].isdigit():
        return False
    pid = text.split()[0]
    if not reader.isdir("/proc/%s" % pid):
        return False
    comm = reader.text("/proc/%s/comm" % pid, quiet=True)
    return comm is None or comm == name


def _enabled(reader, unit):
    for entry in reader.listdir(ADMIN_DIR):
        if entry.endswith((".wants", ".requires")) and unit in reader.listdir("%s/%s" % (ADMIN_DIR, entry)):
            return True
    return False


def gather_units(reader, processes=None):
    """``{unit: {present, enabled, masked, running}}`` for the units in UNITS."""
    if processes is None:
        processes = _process_names(reader)
    units = {}
    for unit, probes in sorted(UNITS.items()):
        masked = _link_target(reader, "%s/%s" % (ADMIN_DIR, unit)) == "/dev/null"
        installed = any(os.path.lexists(reader.path("%s/%s" % (folder, unit))) for folder in UNIT_DIRS)
        running = None
        for probe in probes:
            running = bool(running)
            if probe[0] == "comm":
                running = running or probe[1] in processes
            elif probe[0] == "pid":
                running = running or _pid_file_alive(reader, probe[1], probe[2])
            elif probe[0] == "socket":
                running = running or os.path.lexists(reader.path(probe[1]))
        units[unit] = {"present": installed and not masked, "enabled": (not masked) and _enabled(reader, unit),
                       "masked": masked, "running": running}
    return units


def libvirt_daemon(units):
    """(daemon, running): the libvirt daemon serving QEMU and whether its process runs.

    The one whose process runs; else the one enabled (its service or socket: a
    socket-activated daemon starts on the first connection and then reads its
    configuration); else None."""
    for daemon in LIBVIRT_DAEMONS:
        if units["%s.service" % daemon]["running"]:
            return daemon, True
    for daemon in LIBVIRT_DAEMONS:
        if units["%s.service" % daemon]["enabled"] or units["%s.socket" % daemon]["enabled"]:
            return daemon, False
    return None, False


def gather_daemons(reader):
    """The ``kvm_host.daemons`` dictionary."""
    units = gather_units(reader)
    daemon, running = libvirt_daemon(units)
    return {"units": units, "libvirt": daemon, "libvirt_running": running}

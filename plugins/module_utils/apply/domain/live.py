# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A running domain: the pin calls it needs and what waits for its next start (pure)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import (
    LIVE_SECTIONS,
    SECTIONS,
    DomainXMLError,
)


def cpumap(cpus, ncpus):
    """A libvirt-python CPU map (tuple of bools, one per host CPU) for CPU ids."""
    wanted = set(cpus)
    beyond = [cpu for cpu in wanted if cpu >= ncpus]
    if beyond:
        raise DomainXMLError("CPU %s is beyond the host's last CPU (%d)"
                             % (format_cpulist(beyond), ncpus - 1))
    return tuple(cpu in wanted for cpu in range(ncpus))


def cpus_of_map(mapping):
    """CPU ids set in a libvirt-python CPU map."""
    return [cpu for cpu, used in enumerate(mapping) if used]


def live_pin_actions(desired, vcpupin, emulatorpin, iothreadpin):
    """Pin calls a running domain needs to match ``desired`` (see desired_state()).

    ``vcpupin`` is a list (index: vCPU) of CPU id lists, ``emulatorpin`` a CPU id
    list, ``iothreadpin`` {iothread id: CPU ids}: the effective live affinity as the
    API reports it; None where the API could not tell (then every pin is set). Returns ``(actions, missing)``: actions are
    ``(section, id or None, cpus)`` in call order; ``missing`` names pins the running
    domain has nothing to apply to (a vCPU or IOThread it does not have live).
    """
    actions, missing = [], []
    for vcpu in sorted(desired["vcpupin"]):
        cpus = desired["vcpupin"][vcpu]
        if vcpupin is None:
            actions.append(("vcpupin", vcpu, cpus))
        elif vcpu >= len(vcpupin):
            missing.append("vcpupin")
        elif sorted(vcpupin[vcpu]) != sorted(cpus):
            actions.append(("vcpupin", vcpu, cpus))
    if desired["emulatorpin"] is not None and (
            emulatorpin is None or sorted(emulatorpin) != sorted(desired["emulatorpin"])):
        actions.append(("emulatorpin", None, desired["emulatorpin"]))
    for thread in sorted(desired["iothreadpin"]):
        cpus = desired["iothreadpin"][thread]
        if iothreadpin is None:
            actions.append(("iothreadpin", thread, cpus))
        elif thread not in iothreadpin:
            missing.append("iothreadpin")
        elif sorted(iothreadpin[thread]) != sorted(cpus):
            actions.append(("iothreadpin", thread, cpus))
    return actions, sorted(set(missing))


def pending_restart(desired, live_state, unapplied=()):
    """Owned sections a running domain only gets at its next start.

    ``live_state`` is tuning_state() of the live XML; pins are live-settable, so they
    are pending only when named in ``unapplied`` (live pinning off, failed, or nothing
    to apply them to).
    """
    pending = [name for name in ("vcpu", "numatune", "memoryBacking")
               if live_state[name] != desired[name]]
    pending.extend(name for name in LIVE_SECTIONS if name in set(unapplied))
    return [name for name in SECTIONS if name in pending]

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``numa_pinning``: CPU isolation kernel arguments, the systemd CPUAffinity=
drop-in, irqbalance's banned CPUs, kernel.numa_balancing and the guests to pin."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.kernel_args import cpu_isolation_args
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import (
    comment,
    managed_header,
    section,
)

ROLE = "numa_pinning"

OPTIONS = dict(
    kernel_args=dict(type="bool", default=True),
    systemd_affinity=dict(type="bool", default=True),
    systemd_affinity_path=dict(type="path", default="/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf"),
    irqbalance=dict(type="bool", default=True),
    irqbalance_config=dict(type="path", default="/etc/default/irqbalance"),
    numa_balancing=dict(type="str", default="auto", choices=["auto", "disabled", "default"]),
    sysctl_path=dict(type="path", default="/etc/sysctl.d/90-kvmops-numa.conf"),
    allow_unplaced=dict(type="bool", default=False),
    domains=dict(type="bool", default=True),
)

AFFINITY_TEXT = """\
The service manager and every process it starts run on the housekeeping CPUs; guest
vCPUs go to the isolated CPUs, where libvirt pins them explicitly.
Source: systemd-system.conf(5), CPUAffinity= (CPU indices or ranges, separated by
whitespace or commas)."""

BALANCING_SOURCE = ("numa_balancing 0: guests are pinned to NUMA nodes; \"If the target workload is "
                    "already bound to NUMA nodes then this feature should be disabled\"")

SYSCTL_TEXT = """\
Automatic NUMA balancing of a KVM host whose guests are pinned by NUMA node.
Applied by `sysctl --system` and at boot by systemd-sysctl."""


def numa_balancing_off(mode, guests):
    """kernel.numa_balancing=0: always when disabled, when guests are pinned with auto;
    'default' leaves the kernel's value (Documentation/admin-guide/sysctl/kernel.rst)."""
    return mode == "disabled" or (mode == "auto" and bool(guests))


def affinity_text(housekeeping):
    return "%s[Manager]\nCPUAffinity=%s\n" % (comment(managed_header(ROLE, AFFINITY_TEXT)),
                                              format_cpulist(housekeeping))


def build(context, options):
    shared = context.shared
    unplaced = shared["unplaced"]
    if unplaced and not options["allow_unplaced"]:
        raise PlanError("guests", "the plan left guests unplaced: %s; change kvmops_plan_guests or the "
                        "policy, or set numa_pinning_allow_unplaced to true"
                        % "; ".join("%s (%s)" % (g["name"], g["reason"]) for g in unplaced))
    housekeeping = shared["housekeeping_cpus"]
    isolated = shared["isolated_cpus"]
    kernel_args = []
    boot_sysfs = {}
    if options["kernel_args"]:
        kernel_args = cpu_isolation_args(context.policy, housekeeping, isolated, context.version)
        names = [name for name, _value in kernel_args]
        if "isolcpus" in names:
            boot_sysfs["/sys/devices/system/cpu/isolated"] = format_cpulist(isolated)
        if "nohz_full" in names:
            boot_sysfs["/sys/devices/system/cpu/nohz_full"] = format_cpulist(isolated)

    affinity = None
    if options["systemd_affinity"] and isolated:
        affinity = affinity_text(housekeeping)

    lines = {}
    if options["irqbalance"]:
        # irqbalance 1.9 (Debian 12) reads IRQBALANCE_BANNED_CPULIST (a cpulist); the older
        # hex mask IRQBALANCE_BANNED_CPUS, when set, wins over it (irqbalance.c,
        # setup_banned_cpus), so it is never left in the file.
        banned = "IRQBALANCE_BANNED_CPULIST=%s" % format_cpulist(isolated) if isolated else None
        lines[options["irqbalance_config"]] = {"IRQBALANCE_BANNED_CPULIST": banned,
                                               "IRQBALANCE_BANNED_CPUS": None}

    facts = context.facts if isinstance(context.facts, dict) else {}
    libvirt = facts.get("libvirt") or {}
    # Domains are pinned where libvirt is installed (kvm_host.libvirt.present).
    pin_domains = options["domains"] and isinstance(libvirt, dict) and bool(libvirt.get("present"))

    values = {}
    sources = {}
    if numa_balancing_off(options["numa_balancing"], shared["guests"]):
        values["kernel.numa_balancing"] = "0"
        sources["kernel.numa_balancing"] = BALANCING_SOURCE
    return section(
        kernel_args=kernel_args,
        boot_sysfs=boot_sysfs,
        files={options["systemd_affinity_path"]: affinity},
        lines=lines,
        sysctl={"path": options["sysctl_path"], "values": values, "sources": sources,
                "origins": dict((key, "numa_pinning_numa_balancing") for key in values),
                "header": managed_header(ROLE, SYSCTL_TEXT)},
        guests=list(shared["guests"]) if pin_domains else [],
    )

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``numa_pinning``: CPU isolation kernel arguments, the systemd CPUAffinity=
drop-in, irqbalance's banned CPUs, kernel.numa_balancing, the isolation companions
(workqueue cpumasks, nosoftlockup, skew_tick, vm.stat_interval) and the guests to pin.

Nothing here partitions the CPUs unless the policy asks (``cpu_partitioning`` of the
shared plan): otherwise the section is empty and the role takes back what it wrote."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    format_cpulist,
    format_cpumask,
)
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
    isolation_companions=dict(type="bool", default=True),
    tmpfiles_path=dict(type="path", default="/etc/tmpfiles.d/kvmops-cpu.conf"),
    sysctl_path=dict(type="path", default="/etc/sysctl.d/90-kvmops-numa.conf"),
    allow_unplaced=dict(type="bool", default=False),
    domains=dict(type="bool", default=True),
)

AFFINITY_TEXT = """\
The service manager and every process it starts run on the housekeeping CPUs; guest
vCPUs go to the isolated CPUs, where libvirt pins them explicitly.
Source: systemd-system.conf(5), CPUAffinity= (CPU indices or ranges, separated by
whitespace or commas)."""

# The same CPUs as a cgroup v2 cpuset of the units that hold the host's own processes
# (systemd.resource-control(5), AllowedCPUs=, systemd >= 244, unified hierarchy only). Needed
# next to CPUAffinity=: on Linux before 6.2 a task's own sched_setaffinity() mask is not kept
# across cpuset changes (6.2: "sched: Always preserve the user requested cpumask"), and
# libvirt starting the first guest under machine.slice enables the cpuset controller at the
# root, which reset PID 1 and every service to all CPUs (measured on the Debian 12 lab,
# kernel 6.1: 0-1 became 0-3). With AllowedCPUs= on these units the controller stays on and
# their cpusets hold the housekeeping CPUs. machine.slice (the guests) is left unrestricted.
ALLOWED_CPUS_UNITS = (("init.scope", "Scope"), ("system.slice", "Slice"), ("user.slice", "Slice"))
ALLOWED_CPUS_PATH = "/etc/systemd/system/%s.d/90-kvmops-allowedcpus.conf"

ALLOWED_CPUS_TEXT = """\
The host's own processes (this unit's cgroup) stay on the housekeeping CPUs, also when
libvirt enables the cpuset controller for a guest: with CPUAffinity= alone, Linux before 6.2
moved them to every CPU then. Guests (machine.slice) are pinned by libvirt.
Source: systemd.resource-control(5), AllowedCPUs= (cgroup v2 cpuset.cpus)."""

BALANCING_SOURCE = ("numa_balancing 0: guests are pinned to NUMA nodes; \"If the target workload is "
                    "already bound to NUMA nodes then this feature should be disabled\"")

SYSCTL_TEXT = """\
Automatic NUMA balancing of a KVM host whose guests are pinned by NUMA node, and the VM
statistics interval of a host with isolated CPUs.
Applied by `sysctl --system` and at boot by systemd-sysctl."""

STAT_INTERVAL_SOURCE = ("stat_interval 10: vm statistics are folded every 10 s instead of every second, "
                        "so the vmstat worker wakes isolated CPUs less often (Documentation/admin-guide/"
                        "sysctl/vm.rst; tuned cpu-partitioning and realtime-virtual-host set 10)")

# Unbound workqueues (and the writeback workqueue) run their work items on these CPUs
# (Documentation/core-api/workqueue.rst, "Affinity Scopes" / the sysfs cpumask files);
# isolcpus=domain does not move them (only nohz_full's housekeeping type "wq" does).
WORKQUEUE_CPUMASKS = ("/sys/devices/virtual/workqueue/cpumask",
                      "/sys/bus/workqueue/devices/writeback/cpumask")

TMPFILES_TEXT = """\
Unbound workqueues on the housekeeping CPUs, written at boot by systemd-tmpfiles ("w":
write the argument to the file if it exists; tmpfiles.d(5)). Source:
Documentation/core-api/workqueue.rst; tuned cpu-partitioning writes the same files."""


def numa_balancing_off(mode, guests):
    """kernel.numa_balancing=0: always when disabled, when guests are pinned with auto;
    'default' leaves the kernel's value (Documentation/admin-guide/sysctl/kernel.rst)."""
    return mode == "disabled" or (mode == "auto" and bool(guests))


def companions(isolation, isolated):
    """What tuned cpu-partitioning / realtime-virtual-host and OpenShift's
    PerformanceProfile add to isolated CPUs: kernel arguments, a sysctl, sysfs cpumasks."""
    if isolation not in ("isolcpus", "nohz_full") or not isolated:
        return False
    return True


def tmpfiles_text(attributes):
    lines = ["w %s - - - - %s\n" % (path, value) for path, value in sorted(attributes.items())]
    return comment(managed_header(ROLE, TMPFILES_TEXT)) + "# Type Path Mode User Group Age Argument\n" + "".join(lines)


def unpinned_domains(facts, guests):
    """Running QEMU guests the plan does not pin: libvirt lets them run on every CPU,
    isolated ones included."""
    planned = set(guest["name"] for guest in guests)
    running = facts.get("qemu_processes") if isinstance(facts, dict) else None
    names = []
    for proc in running or []:
        if isinstance(proc, dict) and proc.get("name") and proc["name"] not in planned:
            names.append(proc["name"])
    return sorted(set(names))


def _mib(kib):
    return ("%d MiB" % (kib // 1024)) if kib % 1024 == 0 else ("%d KiB, not a whole MiB" % kib)


def check_domains(policy_guests, facts, page_kb, warnings):
    """Refuse, before any role writes, a planned guest that libvirt_domain_tuning would refuse
    later (apply/domain/state.check_domain and guests.validate_guests, kept as the safety
    net): its libvirt domain missing or transient, its vCPU count or memory not the plan's,
    its memory not whole huge pages. The domains come from ``kvm_host.domains`` (libvirt's
    files); without that part (older facts) only the huge page rule is checked, and without
    libvirt's configuration directory (the QEMU driver not installed yet) a missing domain
    is a warning: it can only be defined later."""
    domains = facts.get("domains") if isinstance(facts, dict) else None
    known = None
    if isinstance(domains, dict) and isinstance(domains.get("defined"), list):
        known = dict((entry.get("name"), entry) for entry in domains["defined"] if isinstance(entry, dict))
    for guest in policy_guests or []:
        if not isinstance(guest, dict) or not guest.get("name"):
            continue
        name = guest["name"]
        label = "guests[%s]" % name
        memory_mb = guest.get("memory_mb")
        if guest.get("hugepages", True) and memory_mb and (memory_mb * 1024) % page_kb:
            raise PlanError(label + ".memory_mb", "%d MiB is not a whole number of %d KiB huge pages, which "
                            "libvirt_domain_tuning refuses to back a domain with; use a multiple of %d MiB, "
                            "or hugepages: false" % (memory_mb, page_kb, max(page_kb // 1024, 1)))
        if known is None:
            continue
        entry = known.get(name)
        if entry is None:
            if not domains.get("config_dir"):
                warnings.append("numa_pinning: guest %s has no libvirt domain yet (no /etc/libvirt/qemu: "
                                "libvirt's QEMU driver is not installed); it is pinned by a run after it "
                                "is defined" % name)
                continue
            raise PlanError(label, "no libvirt domain %s on the host (no /etc/libvirt/qemu/%s.xml; defined: %s); "
                            "the name must be a defined domain's: define it first, correct "
                            "kvmops_plan_guests, or set numa_pinning_domains to false to plan guests "
                            "defined later" % (name, name, ", ".join(sorted(n for n in known if n)) or "none"))
        if not entry.get("persistent", True):
            raise PlanError(label, "libvirt domain %s is transient (%s, no definition in /etc/libvirt/qemu): "
                            "it must be a defined domain; define it (virsh dumpxml %s > %s.xml; virsh define "
                            "%s.xml) or set numa_pinning_domains to false"
                            % (name, entry.get("state"), name, name, name))
        where = entry.get("source") or "its definition"
        if entry.get("vcpus") is not None and guest.get("vcpus") is not None and entry["vcpus"] != guest["vcpus"]:
            raise PlanError(label + ".vcpus", "domain %s has %d vCPUs (<vcpu> of %s) but the plan gives %d; "
                            "must equal the domain's vCPU count: set vcpus to %d or change the domain "
                            "(pinning never changes the vCPU count)"
                            % (name, entry["vcpus"], where, guest["vcpus"], entry["vcpus"]))
        kib = entry.get("memory_kib")
        if kib is not None and memory_mb is not None and kib != memory_mb * 1024:
            raise PlanError(label + ".memory_mb", "domain %s has %d KiB of memory (%s; <memory> of %s) but the "
                            "plan places %d MiB; must equal the domain's <memory> in MiB: set memory_mb to "
                            "%s or change the domain (virsh setmaxmem %s ... --config)"
                            % (name, kib, _mib(kib), where, memory_mb,
                               kib // 1024 if kib % 1024 == 0 else "a whole MiB after resizing it", name))


def affinity_text(housekeeping):
    return "%s[Manager]\nCPUAffinity=%s\n" % (comment(managed_header(ROLE, AFFINITY_TEXT)),
                                              format_cpulist(housekeeping))


def allowed_cpus_files(housekeeping):
    """{path: text or None} of the AllowedCPUs= drop-ins (None: none planned, removed)."""
    files = {}
    for unit, kind in ALLOWED_CPUS_UNITS:
        files[ALLOWED_CPUS_PATH % unit] = None if housekeeping is None else "%s[%s]\nAllowedCPUs=%s\n" % (
            comment(managed_header(ROLE, ALLOWED_CPUS_TEXT)), kind, format_cpulist(housekeeping))
    return files


def build(context, options):
    shared = context.shared
    unplaced = shared["unplaced"]
    if unplaced and not options["allow_unplaced"]:
        raise PlanError("guests", "the plan left guests unplaced: %s; change kvmops_plan_guests or the "
                        "policy, or set numa_pinning_allow_unplaced to true"
                        % "; ".join("%s (%s)" % (g["name"], g["reason"]) for g in unplaced))
    partitioned = shared["cpu_partitioning"]["enabled"]
    housekeeping = shared["housekeeping_cpus"]
    isolated = shared["isolated_cpus"]
    isolation = context.policy.get("isolation") or "none"
    extra = options["isolation_companions"] and partitioned and companions(isolation, isolated)

    kernel_args = []
    boot_sysfs = {}
    if options["kernel_args"] and partitioned:
        kernel_args = cpu_isolation_args(context.policy, housekeeping, isolated, context.version)
        names = [name for name, _value in kernel_args]
        if "isolcpus" in names:
            boot_sysfs["/sys/devices/system/cpu/isolated"] = format_cpulist(isolated)
        if "nohz_full" in names:
            boot_sysfs["/sys/devices/system/cpu/nohz_full"] = format_cpulist(isolated)
        if extra:
            # nosoftlockup: no soft-lockup watchdog thread waking isolated CPUs; skew_tick=1:
            # offset the per-CPU ticks (kernel-parameters.txt; tuned cpu-partitioning)
            kernel_args[-1:-1] = [["nosoftlockup", None], ["skew_tick", "1"]]  # before irqaffinity

    affinity = None
    if options["systemd_affinity"] and partitioned and isolated:
        affinity = affinity_text(housekeeping)

    lines = {}
    if options["irqbalance"]:
        # irqbalance 1.9 (Debian 12) reads IRQBALANCE_BANNED_CPULIST (a cpulist); the older
        # hex mask IRQBALANCE_BANNED_CPUS, when set, wins over it (irqbalance.c,
        # setup_banned_cpus), so it is removed while we ban CPUs. Without partitioning both
        # are released: only a line kvmops wrote (under its marker) goes.
        if partitioned and isolated:
            lines[options["irqbalance_config"]] = {
                "IRQBALANCE_BANNED_CPULIST": "IRQBALANCE_BANNED_CPULIST=%s" % format_cpulist(isolated),
                "IRQBALANCE_BANNED_CPUS": None}
        else:
            lines[options["irqbalance_config"]] = {"IRQBALANCE_BANNED_CPULIST": False,
                                                   "IRQBALANCE_BANNED_CPUS": False}

    sysfs = {}
    if extra:
        mask = format_cpumask(housekeeping)
        sysfs = dict((path, mask) for path in WORKQUEUE_CPUMASKS)

    facts = context.facts if isinstance(context.facts, dict) else {}
    libvirt = facts.get("libvirt") or {}
    # Domains are pinned where libvirt is installed (kvm_host.libvirt.present).
    pin_domains = options["domains"] and isinstance(libvirt, dict) and bool(libvirt.get("present"))
    if pin_domains:
        check_domains(context.policy.get("guests"), facts, context.page_kb, context.warnings)
    if partitioned and isolated:
        loose = unpinned_domains(facts, shared["guests"])
        if loose:
            context.warnings.append(
                "numa_pinning: running guest(s) %s are not in the plan: libvirt runs unpinned QEMU on every "
                "CPU, the isolated ones included; add them to kvmops_plan_guests or pin them"
                % ", ".join(loose))

    values = {}
    sources = {}
    origins = {}
    if numa_balancing_off(options["numa_balancing"], shared["guests"]):
        values["kernel.numa_balancing"] = "0"
        sources["kernel.numa_balancing"] = BALANCING_SOURCE
        origins["kernel.numa_balancing"] = "numa_pinning_numa_balancing"
    if extra:
        values["vm.stat_interval"] = "10"
        sources["vm.stat_interval"] = STAT_INTERVAL_SOURCE
        origins["vm.stat_interval"] = "numa_pinning_isolation_companions"
    return section(
        kernel_args=kernel_args,
        boot_sysfs=boot_sysfs,
        sysfs=sysfs,
        files=dict(allowed_cpus_files(housekeeping if affinity else None),
                   **{options["systemd_affinity_path"]: affinity,
                      options["tmpfiles_path"]: tmpfiles_text(sysfs) if sysfs else None}),
        lines=lines,
        sysctl={"path": options["sysctl_path"], "values": values, "sources": sources,
                "origins": origins, "header": managed_header(ROLE, SYSCTL_TEXT)},
        guests=list(shared["guests"]) if pin_domains else [],
    )

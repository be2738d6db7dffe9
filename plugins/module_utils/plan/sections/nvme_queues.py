# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``nvme_queues``: block queue settings of the NVMe namespaces (one udev rule file
for every boot and hot-plug, sysfs now), the nvme driver's poll/write queue counts
(kernel arguments) and a report of the NVMe interrupts that can fire on isolated CPUs.

What this cannot do, by design: queue depth is the guest's (virtio-blk/NVMe inside the
guest); polled queues serve only polled I/O (io_uring IORING_SETUP_IOPOLL, preadv2
RWF_HIPRI), which QEMU does not issue by default; ``queue/io_poll`` is read-only since
5.16 (reported, never written); the I/O queue IRQs are kernel-managed and their
affinity is never written (``/proc/irq/N/smp_affinity`` fails with EIO before 6.12, EPERM
after): ``isolcpus=managed_irq`` (numa_pinning, Linux >= 5.6) is what keeps them off
isolated CPUs.

Sources of every value: ``SOURCES`` below (Documentation/block/queue-sysfs.rst,
Documentation/admin-guide/kernel-parameters.txt, drivers/nvme/host/pci.c), udev(7) for
the rule syntax.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.kernel_args import MANAGED_IRQ_SINCE
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import (
    comment,
    managed_header,
    section,
)

ROLE = "nvme_queues"

# Written in this order: a scheduler switch resets nr_requests (block/elevator.c: the new
# elevator's init sets q->nr_requests; "none" restores the tag set's queue depth).
SETTINGS = ("scheduler", "nr_requests", "read_ahead_kb", "rq_affinity", "nomerges", "iostats")
MATCH_KEYS = ("model", "serial", "wwid")
# The blk-mq attributes: since Linux 6.10 a queue that is not blk-mq (the head nvmeSnZ of a
# native multipath namespace, bio-based) has no such files (block/blk-sysfs.c,
# blk_mq_queue_attr_visible); on older kernels the head shows them, and the scheduler and
# rq_affinity written there change nothing (elv_iosched_store returns early for a queue
# without elevator support, and bio-based I/O has no completion to steer). The hidden
# per-path queues (nvmeXcYnZ) carry them, but they get no uevents (block/genhd.c keeps a
# hidden disk's uevents suppressed), so no udev rule can persist a value there.
BLK_MQ_ONLY = ("scheduler", "nr_requests", "rq_affinity")

OPTIONS = dict(
    scheduler=dict(type="str", default="none"),
    nr_requests=dict(type="int"),
    read_ahead_kb=dict(type="int"),
    rq_affinity=dict(type="str", default="auto", choices=["auto", "keep", "0", "1", "2"]),
    nomerges=dict(type="int"),
    iostats=dict(type="bool"),
    overrides=dict(type="list", elements="dict", default=[]),
    poll_queues=dict(type="int", default=0),
    write_queues=dict(type="int", default=0),
    udev_rule_path=dict(type="path", default="/etc/udev/rules.d/90-kvmops-nvme.rules"),
)

# nr_requests: below BLKDEV_MIN_RQ (4) the kernel silently raises the value
# (block/blk-sysfs.c queue_requests_store); 4096 is the collection's ceiling: without a
# scheduler the kernel refuses more than the hardware tag depth (EINVAL), with one more
# than MAX_SCHED_RQ (2048 on 5.x/6.x kernels).
NR_REQUESTS_MIN = 4
NR_REQUESTS_MAX = 4096

SOURCES = {
    "scheduler": ("queue/scheduler (Documentation/block/queue-sysfs.rst): the I/O scheduler; NVMe "
                  "devices get \"none\" from the kernel already (several hardware queues: no elevator "
                  "by default, block/elevator.c), persisted so no other rule picks one"),
    "nr_requests": ("queue/nr_requests (queue-sysfs.rst): requests the block layer may allocate per "
                    "queue; at least 4 (BLKDEV_MIN_RQ), without a scheduler at most the device's queue depth"),
    "read_ahead_kb": "queue/read_ahead_kb (queue-sysfs.rst): maximum read-ahead, in kB, of file systems on the device",
    "rq_affinity": ("queue/rq_affinity (queue-sysfs.rst): 1 completes a request in the CPU group of its "
                    "submitter, 2 forces completion on the submitting CPU itself; 2 when the plan pins "
                    "guests (rq_affinity=auto)"),
    "nomerges": "queue/nomerges (queue-sysfs.rst): 0 every merge, 1 only simple one-hit merges, 2 no merging",
    "iostats": "queue/iostats (queue-sysfs.rst): 0 turns I/O statistics of the disk off",
    "poll_queues": ("nvme.poll_queues (drivers/nvme/host/pci.c module parameter, \"Number of queues to use "
                    "for polled IO\", at most the number of possible CPUs): serves polled I/O only "
                    "(io_uring IORING_SETUP_IOPOLL, fio --hipri), no interrupts on those queues"),
    "write_queues": ("nvme.write_queues (drivers/nvme/host/pci.c, \"Number of queues to use for writes. "
                     "If not set, reads and writes will share a queue set.\")"),
}

RULE_MATCH = 'ACTION=="add|change", SUBSYSTEM=="block", KERNEL=="nvme[0-9]*n[0-9]*", ENV{DEVTYPE}=="disk"'
RULE_MQ_TEST = 'TEST=="queue/scheduler"'
OVERRIDE_MATCH = {"model": 'ATTRS{model}=="%s"', "serial": 'ATTRS{serial}=="%s"', "wwid": 'ATTR{wwid}=="%s"'}

RULE_TEXT = """\
Block queue settings of the NVMe namespaces, applied by udev at every add/change event
of a whole disk (ENV{DEVTYPE}=="disk": partitions have no queue/ directory). Later lines
win: the per-device lines (by model, serial or WWID, never by nvmeXnY) carry every
setting again, the scheduler first, since switching it resets nr_requests. The blk-mq
settings (scheduler, nr_requests, rq_affinity) only where the queue has them
(TEST=="queue/scheduler"; a native multipath head of Linux 6.10+ has not).
Apply now: udevadm control --reload; udevadm trigger --action=change
--subsystem-match=block --sysname-match='nvme*n*'. Sources:"""


def _var(name):
    return "%s_%s" % (ROLE, name)


def _settings_value(key, value, variable, partitioned):
    """A setting as the sysfs text to write, None to leave it (validated here)."""
    if value is None:
        return None
    if key == "scheduler":
        value = str(value)
        if value == "keep":
            return None
        if not value or any(char.isspace() or char in '"\\[]' for char in value):
            raise PlanError(variable, "not an I/O scheduler name: %r" % value)
        return value
    if key == "nr_requests":
        if not isinstance(value, int) or isinstance(value, bool) or not NR_REQUESTS_MIN <= value <= NR_REQUESTS_MAX:
            raise PlanError(variable, "must be an integer from %d to %d, or null to leave it; got %r"
                            % (NR_REQUESTS_MIN, NR_REQUESTS_MAX, value))
        return str(value)
    if key == "read_ahead_kb":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PlanError(variable, "must be an integer of 0 or more (kB), or null to leave it; got %r" % (value,))
        return str(value)
    if key == "rq_affinity":
        value = str(value)
        if value == "auto":
            return "2" if partitioned else None
        if value == "keep":
            return None
        if value not in ("0", "1", "2"):
            raise PlanError(variable, "must be auto, keep, 0, 1 or 2; got %r" % value)
        return value
    if key == "nomerges":
        if isinstance(value, bool) or value not in (0, 1, 2):
            raise PlanError(variable, "must be 0, 1, 2 or null; got %r" % (value,))
        return str(value)
    if key == "iostats":
        if not isinstance(value, bool):
            raise PlanError(variable, "must be true, false or null; got %r" % (value,))
        return "1" if value else "0"
    raise PlanError(variable, "unknown setting %r" % key)


def _overrides(options, partitioned):
    """[(match, settings)] with every key checked; settings hold only what the override sets."""
    variable = _var("overrides")
    result = []
    for index, entry in enumerate(options["overrides"] or []):
        where = "%s[%d]" % (variable, index)
        if not isinstance(entry, dict):
            raise PlanError(variable, "%s: must be a mapping, got %r" % (where, entry))
        unknown = sorted(set(entry) - set(SETTINGS) - set(MATCH_KEYS))
        if unknown:
            raise PlanError(variable, "%s: unknown setting(s) %s; known: %s (settings) and %s (match)"
                            % (where, ", ".join(unknown), ", ".join(SETTINGS), ", ".join(MATCH_KEYS)))
        match = dict((key, entry[key]) for key in MATCH_KEYS if entry.get(key) not in (None, ""))
        if not match:
            raise PlanError(variable, "%s: give model, serial or wwid (never a nvmeXnY name: those are "
                                      "not stable across boots)" % where)
        for key, value in match.items():
            if not isinstance(value, str) or any(char in value for char in '"\\\n'):
                raise PlanError(variable, "%s: %s must be a string without quotes, backslashes or newlines"
                                % (where, key))
        settings = {}
        for key in SETTINGS:
            if key in entry:
                settings[key] = _settings_value(key, entry[key], "%s (%s)" % (variable, key), partitioned)
        result.append((match, settings))
    return result


def _matches(match, controller, namespace):
    seen = {"model": (controller.get("model") or "").strip(),
            "serial": (controller.get("serial") or "").strip(),
            "wwid": (namespace.get("wwid") or "").strip()}
    return all(seen[key] == value.strip() for key, value in match.items())


def _rule(match_parts, settings):
    """Two lines at most: the blk-mq settings (scheduler first) only where the queue has a
    scheduler file (TEST: udev would log "Failed to write ATTR" on a multipath head of Linux
    6.10+), then the others, which every queue has."""
    lines = []
    for keys, guard in ((BLK_MQ_ONLY, [RULE_MQ_TEST]), ([key for key in SETTINGS if key not in BLK_MQ_ONLY], [])):
        assignments = ['ATTR{queue/%s}="%s"' % (key, settings[key]) for key in SETTINGS
                       if key in keys and settings.get(key) is not None]
        if assignments:
            lines.append(", ".join([RULE_MATCH] + guard + match_parts + assignments) + "\n")
    return "".join(lines) or None


def _rule_text(base, overrides):
    lines = []
    base_line = _rule([], base)
    if base_line:
        lines.append(base_line)
    for match, settings in overrides:
        merged = dict(base)
        merged.update(settings)
        parts = [OVERRIDE_MATCH[key] % match[key] for key in MATCH_KEYS if key in match]
        line = _rule(parts, merged)
        if line:
            lines.append(line)
    if not lines:
        return None
    used = [key for key in SETTINGS if base.get(key) is not None
            or any(settings.get(key) is not None for _match, settings in overrides)]
    text = RULE_TEXT + "".join("\n  %s" % SOURCES[key] for key in used)
    return comment(managed_header(ROLE, text)) + "".join(lines)


def _irq_report(controllers, housekeeping, isolated):
    isolated_set = set(isolated)
    report = []
    for ctrl in controllers:
        irqs = ctrl.get("irqs") or []
        admin = [irq for irq in irqs if irq.get("queue") == 0]
        entry = {
            "name": ctrl.get("name"),
            "numa_node": ctrl.get("numa_node"),
            "queues": ctrl.get("queues"),
            "io_queue_irqs": len([irq for irq in irqs if irq.get("queue")]),
            "admin_irq": None,
            "on_isolated": [],
        }
        if admin:
            effective = admin[0].get("effective_affinity")
            entry["admin_irq"] = {
                "irq": admin[0].get("irq"),
                "effective_affinity": effective,
                "on_housekeeping": None if effective is None else bool(effective) and set(effective) <= set(housekeeping),
            }
        for irq in irqs:
            effective = irq.get("effective_affinity") or []
            hit = sorted(set(effective) & isolated_set)
            if not hit:
                continue
            mask = set(irq.get("smp_affinity") or [])
            if not irq.get("managed"):
                reason = ("admin queue (not managed): follows irqaffinity= and irqbalance; effective "
                          "affinity %s includes isolated CPUs" % format_cpulist(effective))
            elif mask and mask <= isolated_set:
                reason = ("managed I/O queue whose CPU mask %s holds only isolated CPUs: the kernel keeps it "
                          "there (managed_irq moves an interrupt only when its mask has a housekeeping CPU); it "
                          "fires for I/O submitted from those CPUs" % format_cpulist(sorted(mask)))
            else:
                reason = ("managed I/O queue on isolated CPUs %s although its mask %s has housekeeping CPUs: "
                          "isolcpus=managed_irq is not in effect (pending reboot, or kernel < 5.6)"
                          % (format_cpulist(hit), format_cpulist(sorted(mask)) if mask else "(unknown)"))
            entry["on_isolated"].append({"irq": irq.get("irq"), "name": irq.get("name"),
                                         "managed": bool(irq.get("managed")),
                                         "effective_affinity": effective, "reason": reason})
        report.append(entry)
    return report


def _cpu_count(facts):
    cpu = facts.get("cpu") if isinstance(facts.get("cpu"), dict) else {}
    online = cpu.get("online")
    if isinstance(online, list) and online:
        return len(online)
    return None


def build(context, options):
    facts = context.facts if isinstance(context.facts, dict) else {}
    shared = context.shared
    partitioned = bool(shared["cpu_partitioning"]["enabled"])
    controllers = [ctrl for ctrl in (facts.get("nvme") or []) if isinstance(ctrl, dict)]

    # every input checked before anything is decided
    base = {}
    for key in SETTINGS:
        base[key] = _settings_value(key, options[key], _var(key), partitioned)
    overrides = _overrides(options, partitioned)

    cpus = _cpu_count(facts)
    kernel_args = []
    boot_sysfs = {}
    for key in ("poll_queues", "write_queues"):
        count = options[key]
        if count < 0:
            raise PlanError(_var(key), "must be 0 or more, got %d" % count)
        if cpus is not None and count > cpus:
            raise PlanError(_var(key), "%d is more than the %d CPUs of the host (the nvme driver refuses more "
                                       "than the possible CPUs, drivers/nvme/host/pci.c io_queue_count_set)"
                            % (count, cpus))
        if count:
            kernel_args.append(["nvme.%s" % key, str(count)])
            boot_sysfs["/sys/module/nvme/parameters/%s" % key] = str(count)

    used = [False] * len(overrides)
    sysfs = {}
    namespaces = []
    for ctrl in controllers:
        for namespace in ctrl.get("namespaces") or []:
            name = namespace.get("name")
            settings = dict(base)
            applied = []
            for index, (match, own) in enumerate(overrides):
                if _matches(match, ctrl, namespace):
                    used[index] = True
                    applied.append(index)
                    settings.update(own)
            note = None
            if namespace.get("blk_mq") is False:
                wanted_before = dict(settings)
                skipped = [key for key in BLK_MQ_ONLY if settings.get(key) is not None]
                for key in BLK_MQ_ONLY:
                    settings[key] = None
                if skipped:
                    note = ("bio-based queue (native multipath head; its paths %s): no %s on this kernel, "
                            "left to the kernel (none, no elevator) on the hidden path queues"
                            % (", ".join(namespace.get("paths") or []) or "unknown", ", ".join(skipped)))
                # what an operator chose (not the defaults none and rq_affinity auto) is said aloud
                chosen = [key for key in skipped
                          if not (key == "scheduler" and wanted_before.get(key) == "none")
                          and not (key == "rq_affinity" and options["rq_affinity"] == "auto"
                                   and not any("rq_affinity" in overrides[i][1] for i in applied))]
                if chosen:
                    context.warnings.append(
                        "nvme_queues: %s is a bio-based queue (native multipath head) without %s on this "
                        "kernel; %s not applied" % (name, ", ".join(chosen), ", ".join(
                            "%s=%s" % (key, wanted_before[key]) for key in chosen)))
            choices = namespace.get("schedulers") or []
            wanted = settings.get("scheduler")
            if wanted is not None and choices and wanted not in choices:
                variable = _var("overrides") if any("scheduler" in overrides[i][1] for i in applied) else _var("scheduler")
                raise PlanError(variable, "%s (%s) does not offer the scheduler %r; it offers %s"
                                % (name, ctrl.get("model") or ctrl.get("name"), wanted, ", ".join(choices)))
            holders = namespace.get("holders") or {}
            if holders.get("zfs"):
                zfs_note = ("ZFS vdev: the scheduler is not ZFS's business (zfs_vdev_scheduler is a no-op), "
                            "keep none")
                note = "%s; %s" % (note, zfs_note) if note else zfs_note
                if wanted not in (None, "none"):
                    context.warnings.append("nvme_queues: %s is a ZFS vdev; scheduler %s brings nothing to ZFS, "
                                            "which queues its own I/O: keep none" % (name, wanted))
            for key in SETTINGS:
                if settings.get(key) is not None:
                    sysfs["/sys/block/%s/queue/%s" % (name, key)] = settings[key]
            namespaces.append({
                "name": name, "controller": ctrl.get("name"), "model": ctrl.get("model"),
                "serial": ctrl.get("serial"), "wwid": namespace.get("wwid"),
                "settings": dict((key, settings[key]) for key in SETTINGS if settings.get(key) is not None),
                "overrides": applied,
                "holder": ("zfs" if holders.get("zfs") else "mounted" if holders.get("mounted")
                           else "lvm/dm" if holders.get("dm") else "free" if holders.get("free") else "unknown"),
                "io_poll": namespace.get("io_poll"),
                "note": note,
            })
    for index, hit in enumerate(used):
        if not hit:
            match = overrides[index][0]
            raise PlanError(_var("overrides"), "%s[%d] (%s) matches no NVMe namespace of this host"
                            % (_var("overrides"), index,
                               ", ".join("%s=%s" % (key, match[key]) for key in MATCH_KEYS if key in match)))

    # the scheduler first, then the rest (a scheduler switch resets nr_requests)
    steps = {"scheduler": dict((path, value) for path, value in sysfs.items() if path.endswith("/queue/scheduler")),
             "queue": dict((path, value) for path, value in sysfs.items() if not path.endswith("/queue/scheduler"))}

    isolation = context.policy.get("isolation") or "none"
    isolated = shared["isolated_cpus"]
    if controllers and partitioned and isolated and isolation in ("isolcpus", "nohz_full"):
        if context.version is None or context.version < MANAGED_IRQ_SINCE:
            context.warnings.append(
                "nvme_queues: kernel %s has no isolcpus=managed_irq (Linux 5.6): the NVMe I/O queue interrupts "
                "are kernel-managed, cannot be moved (writing /proc/irq/N/smp_affinity fails) and keep firing "
                "on isolated CPUs" % ("%d.%d" % tuple(context.version) if context.version else "of unknown version"))

    return section(
        kernel_args=kernel_args,
        boot_sysfs=boot_sysfs,
        files={options["udev_rule_path"]: _rule_text(base, overrides)},
        sysfs=sysfs,
        sysfs_steps=steps,
        sources=dict((key, SOURCES[key]) for key in SOURCES),
        namespaces=namespaces,
        irqs=_irq_report(controllers, shared["housekeeping_cpus"], isolated),
    )

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``hugepages``: boot-time and runtime huge pages per node, hugetlbfs mounts and
libvirt's hugetlbfs_mount, transparent huge pages, KSM, zswap and vm.swappiness.
Sources of every value: docs/hugepages.md."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.hugepages import (
    NODE_POOL,
    HugepagesError,
    mounts as hugetlbfs_mounts,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.kernel_args import hugepage_args
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import (
    comment,
    managed_header,
    section,
)

ROLE = "hugepages"

OPTIONS = dict(
    kernel_args=dict(type="bool", default=True),
    runtime_allocation=dict(type="bool", default=True),
    allow_partial=dict(type="bool", default=False),
    compaction_retries=dict(type="int", default=2),
    mounts=dict(type="bool", default=True),
    mount_prefix=dict(type="str", default="/dev/hugepages"),
    qemu_conf=dict(type="path", default="/etc/libvirt/qemu.conf"),
    thp=dict(type="str", default="madvise", choices=["always", "madvise", "never", "keep"]),
    ksm=dict(type="str", default="auto", choices=["auto", "run", "stop", "unmerge", "keep"]),
    swappiness=dict(type="int"),
    zswap_enabled=dict(type="bool"),
    zswap_compressor=dict(type="str", default="keep",
                          choices=["keep", "lzo", "lzo-rle", "lz4", "lz4hc", "zstd", "deflate", "842"]),
    zswap_max_pool_percent=dict(type="int"),
    tmpfiles_path=dict(type="path", default="/etc/tmpfiles.d/kvmops-memory.conf"),
    sysctl_path=dict(type="path", default="/etc/sysctl.d/90-kvmops-memory.conf"),
)

THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
KSM_RUN = "/sys/kernel/mm/ksm/run"
ZSWAP = "/sys/module/zswap/parameters/%s"

# /sys/kernel/mm/ksm/run (Documentation/admin-guide/mm/ksm.rst): 0 stop, 1 run,
# 2 stop and unmerge every merged page. Reading it gives the value last written, 2 too
# (mm/ksm.c run_show prints ksm_run, which run_store sets to the flags written), so
# sysfs_attr's compare-then-write is idempotent for 2; only a failed unmerge (ENOMEM) leaves
# 0, and that write fails the task.
KSM_VALUES = {"run": "1", "stop": "0", "unmerge": "2"}

TMPFILES_TEXT = """\
Memory tunables written at boot by systemd-tmpfiles ("w": write the argument to the
file if it exists; tmpfiles.d(5)). Sources:
  /sys/kernel/mm/ksm/run: Documentation/admin-guide/mm/ksm.rst (0 stop, 1 run, 2 unmerge)
  /sys/module/zswap/parameters/*: Documentation/admin-guide/mm/zswap.rst"""

SYSCTL_TEXT = """\
Memory reclaim of a KVM host. Applied by `sysctl --system` and at boot by systemd-sysctl."""

SWAPPINESS_SOURCE = ("swappiness, how strongly reclaim prefers swapping anonymous memory over "
                     "dropping page cache: 0-200, 100 means equal IO cost; the kernel's default is 60")


def _check_ranges(options):
    if options["compaction_retries"] < 0:
        raise PlanError("hugepages_compaction_retries", "must be 0 or more, got %d" % options["compaction_retries"])
    swappiness = options["swappiness"]
    if swappiness is not None and not 0 <= swappiness <= 200:
        raise PlanError("hugepages_swappiness", "must be from 0 to 200 or null, got %d" % swappiness)
    percent = options["zswap_max_pool_percent"]
    if percent is not None and not 1 <= percent <= 100:
        raise PlanError("hugepages_zswap_max_pool_percent", "must be from 1 to 100 or null, got %d" % percent)
    if not re.match(r"^/[^\s]*[^/\s]$", options["mount_prefix"] or ""):
        raise PlanError("hugepages_mount_prefix", "must be an absolute path without spaces or a trailing "
                        "slash, got %r" % (options["mount_prefix"],))


# auto unmerges (2) only when the pages it copies again (pages_sharing, the pages KSM
# saved) take at most this share of MemAvailable; else it stops (0) and keeps them.
KSM_UNMERGE_MAX_SHARE = 0.5
BASE_PAGE_KB = 4  # x86-64 base page; pages_sharing counts base pages

# Units that turn KSM back on after /sys/kernel/mm/ksm/run=0: ksmtuned (Debian package
# ksmtuned; RHEL qemu-kvm-common) writes run=1 when free memory falls below its threshold
# (ksmtuned.conf, KSM_THRES_COEF); RHEL's ksm.service writes run=1 when it starts
# (/usr/libexec/ksmctl start, /etc/sysconfig/ksm).
KSM_UNITS = {
    "ksmtuned.service": "ksmtuned turns KSM back on (run=1) when free memory runs low (ksmtuned.conf)",
    "ksm.service": "ksm.service writes run=1 when it starts (/usr/libexec/ksmctl, /etc/sysconfig/ksm)",
}


def ksm_run(mode, guests, memory=None, warnings=None):
    """KSM: auto turns it off when the plan pins guests (merging pages across pinned guests
    moves their memory off their node) and leaves it alone otherwise; keep leaves it.

    Off is 2 (stop and unmerge: no page stays shared with a guest on another node) when
    the pages to copy again fit in KSM_UNMERGE_MAX_SHARE of MemAvailable, else 0 (stop,
    merged pages kept until written) with a warning. ``memory``: kvm_host.memory."""
    if mode != "auto":
        return KSM_VALUES.get(mode)
    if not guests:
        return None
    memory = memory if isinstance(memory, dict) else {}
    sharing = memory.get("ksm_pages_sharing")
    available = memory.get("available_kb")
    if not isinstance(sharing, int) or not isinstance(available, int):
        if warnings is not None and memory.get("ksm_run") not in (None, 0):
            warnings.append("hugepages_ksm=auto: KSM stopped (run=0) without unmerging: the facts do not "
                            "show how much it merged (memory.ksm_pages_sharing, memory.available_kb)")
        return "0"
    needed_kb = sharing * BASE_PAGE_KB
    if needed_kb <= available * KSM_UNMERGE_MAX_SHARE:
        return "2"
    if warnings is not None:
        warnings.append("hugepages_ksm=auto: KSM stopped (run=0) but its merged pages kept: unmerging "
                        "would allocate %d MiB again, more than half of the %d MiB available; set "
                        "hugepages_ksm: unmerge to unmerge anyway" % (needed_kb // 1024, available // 1024))
    return "0"


def ksm_services(run, facts, warnings):
    """The units that would turn KSM back on, stopped and disabled when the plan turns it
    off (run 0 or 2); only units installed (and not masked) per kvm_host.daemons."""
    if run not in ("0", "2"):
        return []
    daemons = facts.get("daemons") if isinstance(facts, dict) else None
    units = daemons.get("units") if isinstance(daemons, dict) else None
    if not isinstance(units, dict):
        warnings.append("hugepages_ksm: the facts do not show the daemons (kvm_host.daemons); ksmtuned or "
                        "ksm.service, if installed, may turn KSM back on")
        return []
    result = []
    for unit, reason in sorted(KSM_UNITS.items()):
        state = units.get(unit)
        if isinstance(state, dict) and state.get("present"):
            result.append({"unit": unit, "state": "stopped", "enabled": False,
                           "reason": "%s; the plan sets /sys/kernel/mm/ksm/run=%s" % (reason, run)})
    return result


def boot_attributes(options, guests, memory=None, warnings=None):
    """Attributes kept at boot by systemd-tmpfiles and set now; None: left alone."""
    enabled = options["zswap_enabled"]
    compressor = options["zswap_compressor"]
    percent = options["zswap_max_pool_percent"]
    return {
        KSM_RUN: ksm_run(options["ksm"], guests, memory, warnings),
        ZSWAP % "enabled": None if enabled is None else ("Y" if enabled else "N"),
        ZSWAP % "compressor": None if compressor == "keep" else compressor,
        ZSWAP % "max_pool_percent": None if percent is None else str(percent),
    }


def tmpfiles_text(attributes):
    kept = [(path, value) for path, value in sorted(attributes.items()) if value is not None]
    if not kept:
        return None
    lines = ["w %s - - - - %s\n" % (path, value) for path, value in kept]
    return comment(managed_header(ROLE, TMPFILES_TEXT)) + "# Type Path Mode User Group Age Argument\n" + "".join(lines)


def mount_list(pool, options, page_kb):
    if not options["mounts"]:
        return []
    try:
        found = hugetlbfs_mounts(pool, prefix=options["mount_prefix"], default_size_kb=page_kb)
    except HugepagesError as exc:
        raise PlanError("hugepages", str(exc))
    return [dict(item, src="hugetlbfs", fstype="hugetlbfs") for item in found]


def fstab_entries(mounts):
    """The /etc/fstab line of each mount, as section_apply's fstab step takes it (dump and
    passno 0, that step's and ansible.posix.mount's defaults)."""
    return [dict((key, item[key]) for key in ("path", "src", "fstype", "opts")) for item in mounts]


def build(context, options):
    _check_ranges(options)
    shared = context.shared
    pool = shared["hugepage_pool"]
    page_kb = shared["hugepage_size_kb"]

    kernel_args = []
    if options["kernel_args"]:
        kernel_args = hugepage_args(context.topo, context.pages, page_kb, context.version, context.warnings)
        total_only = [value for name, value in kernel_args if name == "hugepages" and ":" not in value]
        spread = set(count for node, count in context.pages.items() if context.topo.node_by_id[node]["memory_kb"] > 0)
        if total_only and len(spread) > 1 and not options["runtime_allocation"]:
            context.warnings.append("hugepages_runtime_allocation is false and the kernel takes only the total "
                                    "hugepages=%s, which it spreads over the nodes: nothing sets the planned "
                                    "per-node counts" % total_only[0])
        if options["thp"] != "keep":
            # transparent_hugepage=<mode> (Documentation/admin-guide/kernel-parameters.txt)
            kernel_args.append(["transparent_hugepage", options["thp"]])

    mounts = mount_list(pool, options, page_kb)
    lines = {}
    libvirt = (context.facts.get("libvirt") or {}) if isinstance(context.facts, dict) else {}
    if mounts and isinstance(libvirt, dict) and libvirt.get("present"):
        # libvirt falls back to the first hugetlbfs_mount entry when no mount has the
        # kernel's default page size (qemu.conf.in, hugetlbfs_mount)
        paths = ", ".join('"%s"' % item["path"] for item in mounts)
        lines[options["qemu_conf"]] = {"hugetlbfs_mount": "hugetlbfs_mount = [%s]" % paths}

    facts = context.facts if isinstance(context.facts, dict) else {}
    attributes = boot_attributes(options, shared["guests"], facts.get("memory"), context.warnings)
    services = ksm_services(attributes[KSM_RUN], facts, context.warnings)
    sysfs = dict((path, value) for path, value in attributes.items() if value is not None)
    if options["thp"] != "keep":
        sysfs[THP_ENABLED] = options["thp"]

    boot_sysfs = {}
    for size, nodes in pool.items():
        for node, count in nodes.items():
            boot_sysfs[NODE_POOL % (int(node), int(size))] = str(count)

    values = {}
    sources = {}
    if options["swappiness"] is not None:
        values["vm.swappiness"] = str(options["swappiness"])
        sources["vm.swappiness"] = SWAPPINESS_SOURCE
    return section(
        kernel_args=kernel_args,
        boot_sysfs=boot_sysfs,
        sysfs=sysfs,
        files={options["tmpfiles_path"]: tmpfiles_text(attributes)},
        lines=lines,
        mounts=mounts,
        fstab=fstab_entries(mounts),
        sysctl={"path": options["sysctl_path"], "values": values, "sources": sources,
                "origins": dict((key, "hugepages_swappiness") for key in values),
                "header": managed_header(ROLE, SYSCTL_TEXT)},
        services=services,
        runtime={"pages": pool if options["runtime_allocation"] else {},
                 "allow_partial": options["allow_partial"],
                 "compaction_retries": options["compaction_retries"]},
    )

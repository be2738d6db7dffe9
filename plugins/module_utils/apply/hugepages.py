# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runtime huge page allocation per NUMA node.

The kernel interface (Documentation/admin-guide/mm/hugetlbpage.rst, "Interaction of
Task Memory Policy with Huge Page Allocation/Freeing" and the per-node attributes in
Documentation/ABI/stable/sysfs-devices-node):

    /sys/devices/system/node/nodeN/hugepages/hugepages-<size>kB/nr_hugepages

Writing a count asks the kernel for that many persistent pages of that size on that
node; the kernel gives what it can and the file then holds the count it really has, so
the result is read back. When it comes up short, writing 1 to /proc/sys/vm/compact_memory
(Documentation/admin-guide/sysctl/vm.rst, "compact_memory") compacts all zones, and the
write is tried again.

Everything here is pure or works under a ``root`` so tests run on a tmp_path tree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

NODE_POOL = "/sys/devices/system/node/node%d/hugepages/hugepages-%dkB/nr_hugepages"
COMPACT_MEMORY = "/proc/sys/vm/compact_memory"


class HugepagesError(ValueError):
    """A page request that cannot be applied as given."""


def _int(value, what):
    if isinstance(value, bool):
        raise HugepagesError("%s must be an integer, got %r" % (what, value))
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.isdigit():
        raise HugepagesError("%s must be a non-negative integer, got %r" % (what, value))
    return int(text)


def normalize_pages(pages):
    """``{"<size_kb>": {"<node>": count}}`` -> sorted list of (size_kb, node, count).

    Keys may be strings or ints (the plan is JSON, so they are strings there). Raises
    HugepagesError naming the bad entry.
    """
    if pages is None:
        return []
    if not isinstance(pages, dict):
        raise HugepagesError("pages must be a mapping of page size (kB) to {node: count}, "
                             "got %s" % type(pages).__name__)
    entries = []
    for size_key, per_node in pages.items():
        size_kb = _int(size_key, "page size %r" % (size_key,))
        if size_kb <= 0 or size_kb & (size_kb - 1):
            raise HugepagesError("page size %r kB is not a power of two" % (size_key,))
        if per_node is None:
            continue
        if not isinstance(per_node, dict):
            raise HugepagesError("pages[%r] must be a mapping of NUMA node to page count, "
                                 "got %s" % (size_key, type(per_node).__name__))
        for node_key, count in per_node.items():
            node = _int(node_key, "NUMA node %r of page size %r" % (node_key, size_key))
            number = _int(count, "pages[%r][%r]" % (size_key, node_key))
            if number < 0:
                raise HugepagesError("pages[%r][%r] must not be negative" % (size_key, node_key))
            entries.append((size_kb, node, number))
    entries.sort()
    seen = set()
    for size_kb, node, dummy in entries:
        if (size_kb, node) in seen:
            raise HugepagesError("page size %d kB on node %d is given twice" % (size_kb, node))
        seen.add((size_kb, node))
    return entries


def size_label(size_kb):
    """2048 -> '2M', 1048576 -> '1G', 64 -> '64K' (the spelling of ``pagesize=``)."""
    size_kb = _int(size_kb, "page size")
    if size_kb <= 0:
        raise HugepagesError("page size must be positive, got %r" % (size_kb,))
    for unit, factor in (("G", 1024 * 1024), ("M", 1024)):
        if size_kb % factor == 0:
            return "%d%s" % (size_kb // factor, unit)
    return "%dK" % size_kb


def mounts(pages, prefix="/dev/hugepages", default_size_kb=None):
    """hugetlbfs mounts for the page sizes that have pages planned.

    One entry per size with at least one page on some node: ``size_kb``, ``label``,
    ``path`` (prefix + label, e.g. /dev/hugepages1G) and ``opts`` (``pagesize=1G``,
    Documentation/admin-guide/mm/hugetlbpage.rst "Using Huge Pages"). The default size,
    when given and planned, comes first (libvirt falls back to the first
    ``hugetlbfs_mount`` entry of qemu.conf when no mount has the kernel's default huge page
    size, qemuGetDefaultHugepath()); the others follow smallest first.
    """
    totals = {}
    for size_kb, dummy, count in normalize_pages(pages):
        totals[size_kb] = totals.get(size_kb, 0) + count
    sizes = sorted(size for size, total in totals.items() if total > 0)
    if default_size_kb not in (None, ""):
        default = _int(default_size_kb, "default page size")
        if default in sizes:
            sizes.remove(default)
            sizes.insert(0, default)
    prefix = str(prefix or "/dev/hugepages").rstrip("/")
    result = []
    for size_kb in sizes:
        label = size_label(size_kb)
        result.append({
            "size_kb": size_kb,
            "label": label,
            "path": prefix + label,
            "opts": "pagesize=%s" % label,
            "pages": totals[size_kb],
        })
    return result


def write_file(path, text):
    """The real writer: one write() of ``text`` to a sysfs/procfs file."""
    with open(path, "w") as handle:
        handle.write(text)


def _order(entry):
    # Free pages first (shrinks), then grow the largest size first: gigantic pages need
    # contiguous memory that 2 MB allocations would fragment.
    shrink = entry["planned"] < (entry["before"] or 0)
    return (0 if shrink else 1, -entry["size_kb"], entry["node"])


def missing_pools(pages, root="/"):
    """The message refusing ``pages`` when it asks for pages of a pool this host lacks (a
    node or page size the kernel has no nr_hugepages file for), else None; read only."""
    reader = Reader(root)
    wanted = normalize_pages(pages)
    missing = [(size_kb, node) for size_kb, node, planned in wanted
               if planned > 0 and not reader.exists(NODE_POOL % (node, size_kb))]
    if not missing:
        return None
    sizes, nodes = set(), set()
    for entry in reader.listdir("/sys/devices/system/node"):
        if entry.startswith("node") and entry[4:].isdigit():
            for pool in reader.listdir("/sys/devices/system/node/%s/hugepages" % entry):
                if pool.startswith("hugepages-") and pool.endswith("kB") and pool[10:-2].isdigit():
                    sizes.add(int(pool[10:-2]))
                    nodes.add(int(entry[4:]))
    size_kb, node = missing[0]
    has = ("this host has %s pages on node%s %s" % (
        " and ".join("%d kB" % size for size in sorted(sizes)), "s" if len(nodes) > 1 else "",
        ", ".join(str(n) for n in sorted(nodes)))) if sizes else "this host has no per-node huge page pools"
    return ("no pool for %d kB pages on node %d (%s); %s: plan those, or set allow_partial to allocate the "
            "others" % (size_kb, node, NODE_POOL % (node, size_kb), has))


def allocate(pages, root="/", compaction_retries=2, check_mode=False, writer=None):
    """Bring every node's pool to the planned count; return a report.

    Returns a dict: ``nodes`` (one entry per size and node with size_kb, node,
    planned, before, got, path, missing, error), ``short`` (the entries that got fewer
    than planned), ``compactions`` (how many times memory was compacted), ``changed``.
    In check mode nothing is written and ``got`` is the planned count (the prediction).
    """
    writer = writer or write_file
    reader = Reader(root)
    entries = []
    for size_kb, node, planned in normalize_pages(pages):
        relpath = NODE_POOL % (node, size_kb)
        before = reader.integer(relpath)
        entries.append({
            "size_kb": size_kb,
            "node": node,
            "planned": planned,
            "before": before,
            "got": before,
            "path": relpath,
            "missing": before is None,
            "error": None,
        })

    def attempt(entry):
        if entry["missing"]:
            return
        try:
            writer(reader.path(entry["path"]), "%d" % entry["planned"])
        except (IOError, OSError) as exc:
            entry["error"] = "cannot write %s: %s" % (entry["path"], getattr(exc, "strerror", exc))
        got = reader.integer(entry["path"])
        entry["got"] = got if got is not None else entry["before"]

    compactions = 0
    if check_mode:
        for entry in entries:
            if not entry["missing"]:
                entry["got"] = entry["planned"]
    else:
        for entry in sorted(entries, key=_order):
            if not entry["missing"] and entry["before"] != entry["planned"]:
                attempt(entry)
        for dummy in range(max(0, int(compaction_retries))):
            pending = [e for e in entries if not e["missing"] and (e["got"] or 0) < e["planned"]]
            if not pending or not reader.exists(COMPACT_MEMORY):
                break
            try:
                writer(reader.path(COMPACT_MEMORY), "1")
            except (IOError, OSError) as exc:
                reader.warn("cannot compact memory: %s" % getattr(exc, "strerror", exc))
                break
            compactions += 1
            for entry in sorted(pending, key=_order):
                attempt(entry)

    short = [e for e in entries
             if e["planned"] > 0 and (e["missing"] or (e["got"] or 0) < e["planned"])]
    changed = any(not e["missing"] and e["got"] != e["before"] for e in entries)
    return {
        "nodes": entries,
        "short": short,
        "compactions": compactions,
        "changed": changed,
        "warnings": list(reader.warnings),
    }


def describe_short(short):
    """One line per short pool: 'node 1: 1048576 kB pages 3 of 4 (pool missing)'."""
    lines = []
    for entry in short:
        if entry["missing"]:
            lines.append("node %d: %d kB pages 0 of %d (no such pool: %s)"
                         % (entry["node"], entry["size_kb"], entry["planned"], entry["path"]))
        else:
            lines.append("node %d: %d kB pages %d of %d%s"
                         % (entry["node"], entry["size_kb"], entry["got"] or 0,
                            entry["planned"],
                            " (%s)" % entry["error"] if entry["error"] else ""))
    return lines


def render_state(entries, key):
    """Text for a diff: one 'size kB node N: count' line per pool."""
    lines = []
    for entry in entries:
        value = entry[key]
        lines.append("%d kB node %d: %s"
                     % (entry["size_kb"], entry["node"], "absent" if value is None else value))
    return "\n".join(lines) + ("\n" if lines else "")

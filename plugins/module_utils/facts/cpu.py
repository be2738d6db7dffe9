# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU topology facts: online CPUs, physical cores, packages, last-level caches.

Pure functions of a ``common.sysfs.Reader``. The grouping follows what hwloc does on Linux
(hwloc/topology-linux.c, look_sysfscpu), so that the answer agrees with
``lstopo-no-graphics --disallowed`` on the same tree:

- online CPUs from ``/sys/devices/system/cpu/online``, or the ``cpuN`` directories
  minus those whose ``cpuN/online`` is 0 on kernels without the file;
- a core is the set in ``topology/core_cpus_list`` (kernel >= 5.3), else
  ``thread_siblings_list``, else the hex masks ``core_cpus`` / ``thread_siblings``;
  when the siblings of a set report different ``core_id`` values (AMD compute units)
  each of them is a core of its own, as in hwloc;
- a package is ``package_cpus_list``, else ``core_siblings_list``, else the masks;
- CPUs whose ``topology`` directory is missing are placed from the sets of the other
  CPUs, then from ``/proc/cpuinfo`` (``physical id``, ``core id``), else alone, with a
  warning;
- the last-level cache is the highest-level data or unified ``cache/indexN`` of a CPU;
  its ``shared_cpu_list`` (or ``shared_cpu_map``) gives the group.

Documentation: Documentation/ABI/stable/sysfs-devices-system-cpu,
Documentation/admin-guide/cputopology.rst, Documentation/ABI/testing/sysfs-devices-system-cpu.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

CPU_BASE = "/sys/devices/system/cpu"

# Flags the plan and the roles look at (reported true/false, never the whole list).
CPU_FLAGS = (
    "vmx", "svm", "ept", "npt", "pdpe1gb", "pse", "x2apic", "constant_tsc", "nonstop_tsc",
    "tsc_deadline_timer", "hypervisor", "ht", "aes", "avx", "avx2", "avx512f", "la57",
    "rdt_a", "cat_l3", "cdp_l3", "mba", "pku", "sme", "sev", "sev_es", "sev_snp", "tme",
    "md_clear", "arch_capabilities", "ssbd", "ibrs", "ibpb", "stibp", "flush_l1d",
)

_CPU_DIR = re.compile(r"^cpu(\d+)$")
_INDEX_DIR = re.compile(r"^index(\d+)$")
_CPUINFO_LIMIT = 65536  # the first processor block is enough for vendor, model, flags


def cpu_dirs(reader):
    """Ids of the ``/sys/devices/system/cpu/cpuN`` directories."""
    ids = []
    for name in reader.listdir(CPU_BASE):
        match = _CPU_DIR.match(name)
        if match:
            ids.append(int(match.group(1)))
    return sorted(ids)


def online_cpus(reader):
    """(online, offline) sorted lists of CPU ids."""
    dirs = cpu_dirs(reader)
    online = reader.cpulist(CPU_BASE + "/online")
    if online is None:
        online = []
        for cpu in dirs:
            flag = reader.integer("%s/cpu%d/online" % (CPU_BASE, cpu))
            if flag is None or flag != 0:  # cpu0 often has no online file: it cannot go
                online.append(cpu)
    present = reader.cpulist(CPU_BASE + "/present")
    if present is None:
        present = dirs
    online_set = set(online)
    offline = sorted(set(present).union(dirs) - online_set)
    return sorted(online_set), offline


def parse_cpuinfo(text):
    """Processor blocks of /proc/cpuinfo as a list of {key: value} dicts."""
    blocks = []
    current = {}
    for line in (text or "").splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        current[key.strip().lower()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _read_set(reader, topo, names, online_set):
    """First readable CPU set among (list_name, mask_name) pairs, restricted to online."""
    for list_name, mask_name in names:
        found = reader.cpus(topo, list_name, mask_name)
        if found is not None:
            return set(found) & online_set
    return None


_CORE_NAMES = (("core_cpus_list", None), ("thread_siblings_list", None),
               ("core_cpus", None), (None, "thread_siblings"))
_PACKAGE_NAMES = (("package_cpus_list", None), ("core_siblings_list", None),
                  ("package_cpus", None), (None, "core_siblings"))


def _topology(reader, online):
    """core_groups and package_groups (lists of sorted lists) for the online CPUs.

    Reads the sets of the first CPU of every core and package only: about one file per
    physical core, which keeps a 1024-CPU host well under the time budget.
    """
    online_set = set(online)
    core_of = {}
    package_of = {}
    cores = []
    packages = []
    missing = []
    split_threads = None  # hwloc's "threadwithcoreid": decided once, on the first SMT core
    for cpu in online:
        if cpu in core_of and cpu in package_of:
            continue
        topo = "%s/cpu%d/topology" % (CPU_BASE, cpu)
        if cpu not in core_of:
            siblings = _read_set(reader, topo, _CORE_NAMES, online_set)
            if siblings is None:
                missing.append(cpu)
            else:
                siblings.add(cpu)
                members = sorted(member for member in siblings if member not in core_of)
                if len(members) > 1 and split_threads is None:
                    split_threads = _siblings_differ_in_core_id(reader, members)
                groups = [[member] for member in members] if split_threads else [members]
                for group in groups:
                    index = len(cores)
                    cores.append(group)
                    for member in group:
                        core_of[member] = index
        if cpu not in package_of:
            found = _read_set(reader, topo, _PACKAGE_NAMES, online_set)
            if found is None:
                if cpu not in missing:
                    missing.append(cpu)
            else:
                found.add(cpu)
                members = sorted(member for member in found if member not in package_of)
                index = len(packages)
                packages.append(members)
                for member in members:
                    package_of[member] = index
    leftovers = [cpu for cpu in missing if cpu not in core_of or cpu not in package_of]
    if leftovers:
        _place_leftovers(reader, leftovers, cores, packages, core_of, package_of)
    return (sorted(sorted(group) for group in cores),
            sorted(sorted(group) for group in packages))


def _siblings_differ_in_core_id(reader, siblings):
    """True when the threads of one core set report different core_id values: AMD
    compute units (Bulldozer), where hwloc makes every thread a core of its own."""
    first = reader.integer("%s/cpu%d/topology/core_id" % (CPU_BASE, siblings[0]))
    other = reader.integer("%s/cpu%d/topology/core_id" % (CPU_BASE, siblings[1]))
    if first is None or other is None:
        return None  # undecided: ask again on the next SMT core
    return first != other


def _placement_ids(reader, cpu, info):
    """(package id, core id) of a CPU from its topology files, else /proc/cpuinfo."""
    topo = "%s/cpu%d/topology" % (CPU_BASE, cpu)
    phys = reader.integer(topo + "/physical_package_id")
    core_id = reader.integer(topo + "/core_id")
    if phys is not None and core_id is not None and phys >= 0:
        return phys, core_id, "topology"
    block = info.get(cpu, {})
    phys = _int_or_none(block.get("physical id"))
    core_id = _int_or_none(block.get("core id"))
    if phys is not None and core_id is not None:
        return phys, core_id, "cpuinfo"
    return None, None, None


def _place_leftovers(reader, leftovers, cores, packages, core_of, package_of):
    """CPUs no sibling list covers: placed by package and core ids (topology files, then
    /proc/cpuinfo ``physical id`` / ``core id``), else alone. Rare, so not optimised."""
    info = {}
    for block in parse_cpuinfo(reader.text("/proc/cpuinfo", "")):
        number = _int_or_none(block.get("processor"))
        if number is not None:
            info[number] = block
    # ids of the packages and cores already known, from their members
    package_by_phys = {}
    core_by_key = {}
    for index, group in enumerate(cores):
        for member in group:
            phys, core_id, _source = _placement_ids(reader, member, info)
            if phys is not None:
                core_by_key.setdefault((phys, core_id), index)
    for index, group in enumerate(packages):
        for member in group:
            phys, _core_id, _source = _placement_ids(reader, member, info)
            if phys is not None:
                package_by_phys.setdefault(phys, index)
    for cpu in leftovers:
        phys, core_id, source = _placement_ids(reader, cpu, info)
        if source == "topology":
            reader.warn("no sibling lists for CPU %d: placed by physical_package_id and "
                        "core_id" % cpu)
        elif source == "cpuinfo":
            reader.warn("no topology directory for CPU %d: placed from /proc/cpuinfo" % cpu)
        else:
            reader.warn("no topology for CPU %d (no topology directory and no /proc/cpuinfo "
                        "entry): counted as a core and a package of its own" % cpu)
        if cpu not in package_of:
            index = package_by_phys.get(phys) if phys is not None else None
            if index is None:
                index = len(packages)
                packages.append([])
                if phys is not None:
                    package_by_phys[phys] = index
            packages[index] = sorted(packages[index] + [cpu])
            package_of[cpu] = index
        if cpu not in core_of:
            key = (phys, core_id)
            index = core_by_key.get(key) if None not in key else None
            if index is None:
                index = len(cores)
                cores.append([])
                if None not in key:
                    core_by_key[key] = index
            cores[index] = sorted(list(cores[index]) + [cpu])
            core_of[cpu] = index


def llc_groups(reader, online):
    """Groups of online CPUs that share one last-level cache; [] when nothing says."""
    online_set = set(online)
    covered = set()
    groups = []
    index_names = None
    for cpu in online:
        if cpu in covered:
            continue
        base = "%s/cpu%d/cache" % (CPU_BASE, cpu)
        if index_names is None or not reader.isdir("%s/%s" % (base, index_names[0])):
            index_names = sorted((n for n in reader.listdir(base) if _INDEX_DIR.match(n)),
                                 key=lambda n: int(n[5:]))
            if not index_names:
                index_names = None
                continue
        best_level, best_dir = None, None
        for name in index_names:
            level = reader.integer("%s/%s/level" % (base, name))
            if level is None:
                continue
            kind = reader.text("%s/%s/type" % (base, name), "Unified")
            if kind == "Instruction":
                continue
            if best_level is None or level > best_level:
                best_level, best_dir = level, "%s/%s" % (base, name)
        if best_dir is None:
            continue
        shared = reader.cpus(best_dir, "shared_cpu_list", "shared_cpu_map")
        if shared is None:
            continue
        members = (set(shared) & online_set) | set([cpu])
        members -= covered
        covered |= members
        groups.append(sorted(members))
    return sorted(groups)


def core_types(reader):
    """Intel hybrid core types from the PMU devices (cpu_core / cpu_atom), or {}."""
    types = {}
    for pmu, label in (("cpu_core", "performance"), ("cpu_atom", "efficiency")):
        cpus = reader.cpulist("/sys/devices/%s/cpus" % pmu)
        if cpus is not None:
            types[label] = cpus
    return types


def cpu_identity(reader):
    """vendor, model_name and flags from the first processor block of /proc/cpuinfo."""
    data = reader.data("/proc/cpuinfo")
    if data is None:
        return None, None, dict((flag, False) for flag in CPU_FLAGS)
    text = data[:_CPUINFO_LIMIT].decode("utf-8", "replace")
    blocks = parse_cpuinfo(text.split("\n\n", 1)[0])
    first = blocks[0] if blocks else {}
    vendor = first.get("vendor_id") or first.get("cpu implementer") or None
    model = (first.get("model name") or first.get("cpu model") or first.get("processor")
             or first.get("hardware") or None)
    words = set((first.get("flags") or first.get("features") or "").split())
    words |= set((first.get("vmx flags") or "").split())
    return vendor, model, dict((flag, flag in words) for flag in CPU_FLAGS)


def vulnerabilities(reader):
    """/sys/devices/system/cpu/vulnerabilities/* as {name: kernel text}."""
    base = CPU_BASE + "/vulnerabilities"
    result = {}
    for name in reader.listdir(base):
        value = reader.text("%s/%s" % (base, name))
        if value is not None:
            result[name] = value
    return result


def gather_cpu(reader, online=None, offline=None):
    """The ``kvm_host.cpu`` dictionary."""
    if online is None:
        online, offline = online_cpus(reader)
    cores, packages = _topology(reader, online)
    vendor, model, flags = cpu_identity(reader)
    types = core_types(reader)
    return {
        "vendor": vendor,
        "model_name": model,
        "flags": flags,
        "online": list(online),
        "offline": list(offline or []),
        "threads": len(online),
        "cores": len(cores),
        "sockets": len(packages),
        "threads_per_core": max([len(group) for group in cores] or [0]),
        "core_groups": cores,
        "package_groups": packages,
        "l3_groups": llc_groups(reader, online),
        "hybrid": bool(types),
        "core_types": types,
        "smt_control": reader.text(CPU_BASE + "/smt/control"),
        "vulnerabilities": vulnerabilities(reader),
    }

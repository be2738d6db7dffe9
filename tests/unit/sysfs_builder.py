"""Build fixture /sys, /proc and /etc trees from a compact description.

Tests describe a host the way one would say it ("2 sockets x 8 cores x 2 threads,
4 nodes, CPU 5 offline, node 3 without CPUs, legacy mask attributes only") and get a
real directory tree that ``Reader(root)`` reads, plus the answer computed from the
description itself (never from the code under test)::

    from sysfs_builder import Tree, Host

    tree = Tree(tmp_path)
    host = Host("2x8x2", nodes=4, offline=[5], cpuless_nodes=[3], legacy=True).build(tree)
    host.online, host.cores, host.packages, host.l3, host.node_cpus   # expected values
    tree.nvme("nvme0", queues=4)
    tree.sriov_pf("0000:3b:00.0", netdev="ens1f0", totalvfs=8, numvfs=8)

``snapshot(dest)`` copies what the CPU, NUMA, memory and kernel facts read from a real
machine (``source="/"``) into a fixture tree, for turning the lab host into a fixture.

CPU numbering follows what x86 firmware usually gives Linux: the first thread of every
core first, socket by socket, then the second threads (``cpu = t*S*C + s*C + c``).
Hybrid hosts number the two threads of each P-core next to each other, then E-cores.

Import it as ``from sysfs_builder import ...`` (tests/unit is put on sys.path by the
tests that use it) or by file path.
"""

import os
import shutil

GIB_KB = 1024 * 1024


# --------------------------------------------------------------------------- formats

def cpulist(cpus):
    """Kernel cpulist text (``0-3,8``) of CPU ids."""
    ids = sorted(set(cpus))
    parts = []
    index = 0
    while index < len(ids):
        start = ids[index]
        while index + 1 < len(ids) and ids[index + 1] == ids[index] + 1:
            index += 1
        parts.append(str(start) if ids[index] == start else "%d-%d" % (start, ids[index]))
        index += 1
    return ",".join(parts)


def cpumask(cpus, nbits=64):
    """Kernel hex cpumask text (``00000000,0000ff0f``): 32-bit words, most significant first."""
    nbits = max(nbits, (max(cpus) + 1) if cpus else 1)
    words = (nbits + 31) // 32
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    return ",".join("%08x" % ((value >> (32 * index)) & 0xFFFFFFFF)
                    for index in reversed(range(words)))


# --------------------------------------------------------------------------- tree

class Tree(object):
    """A fixture file system tree under ``root``; paths are host paths (``/sys/...``)."""

    def __init__(self, root):
        self.root = str(root)

    def path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def write(self, path, content=""):
        """Write a file (parents created). Text gets a trailing newline, like sysfs."""
        full = self.path(path)
        parent = os.path.dirname(full)
        if not os.path.isdir(parent):
            os.makedirs(parent)
        if isinstance(content, bytes):
            data = content
        else:
            if isinstance(content, (list, tuple)):
                content = "\n".join(str(item) for item in content)
            text = str(content)
            data = (text if text.endswith("\n") or text == "" else text + "\n").encode("utf-8")
        with open(full, "wb") as handle:
            handle.write(data)
        return self

    def files(self, mapping):
        """Write many files: {path: content}."""
        for path, content in mapping.items():
            self.write(path, content)
        return self

    def mkdir(self, path):
        full = self.path(path)
        if not os.path.isdir(full):
            os.makedirs(full)
        return self

    def symlink(self, path, target):
        """A link at ``path`` to the host path ``target``, stored relative (as sysfs does)."""
        full = self.path(path)
        self.mkdir(os.path.dirname(path))
        if os.path.lexists(full):
            os.unlink(full)
        relative = os.path.relpath(self.path(target), os.path.dirname(full))
        os.symlink(relative, full)
        return self

    def remove(self, path):
        full = self.path(path)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        elif os.path.lexists(full):
            os.unlink(full)
        return self

    # ----------------------------------------------------------------- devices

    def pci_device(self, address, driver=None, numa_node=-1, vendor="0x8086", device="0x0000",
                   parent="/sys/devices/pci0000:00"):
        """A PCI function under ``parent`` with the /sys/bus/pci/devices link; its path."""
        dev = "%s/%s" % (parent, address)
        self.files({dev + "/numa_node": numa_node, dev + "/vendor": vendor,
                    dev + "/device": device})
        self.symlink("/sys/bus/pci/devices/%s" % address, dev)
        if driver:
            self.mkdir("/sys/bus/pci/drivers/%s" % driver)
            self.symlink(dev + "/driver", "/sys/bus/pci/drivers/%s" % driver)
        return dev

    def nvme(self, name="nvme0", address="0000:01:00.0", queues=4, numa_node=0,
             namespaces=1, model="KVMOPS NVMe", scheduler="[none] mq-deadline",
             nr_requests=1023, io_poll=0, read_ahead_kb=128):
        """A PCIe NVMe controller with ``namespaces`` namespaces of ``queues`` hardware queues."""
        dev = self.pci_device(address, driver="nvme", numa_node=numa_node, device="0x0a54")
        ctrl = dev + "/nvme/" + name
        self.files({ctrl + "/model": model, ctrl + "/firmware_rev": "1.0",
                    ctrl + "/transport": "pcie", ctrl + "/address": address,
                    ctrl + "/numa_node": numa_node})
        self.symlink(ctrl + "/device", dev)
        self.symlink("/sys/class/nvme/" + name, ctrl)
        for index in range(1, namespaces + 1):
            ns = "%s/%sn%d" % (ctrl, name, index)
            self.files({ns + "/size": 1953525168, ns + "/queue/scheduler": scheduler,
                        ns + "/queue/nr_requests": nr_requests, ns + "/queue/io_poll": io_poll,
                        ns + "/queue/read_ahead_kb": read_ahead_kb})
            for queue in range(queues):
                self.write("%s/mq/%d/cpu_list" % (ns, queue), "%d" % queue)
            self.symlink("/sys/block/%sn%d" % (name, index), ns)
        return ctrl

    def sriov_pf(self, address="0000:3b:00.0", netdev="ens1f0", totalvfs=8, numvfs=8,
                 driver="ice", vf_driver="iavf", numa_node=0):
        """A network PF with ``numvfs`` VFs (addresses on the next bus) and their netdevs."""
        parent = "/sys/devices/pci0000:3a/0000:3a:00.0"
        dev = self.pci_device(address, driver=driver, numa_node=numa_node, parent=parent,
                              device="0x1593")
        self.files({dev + "/sriov_totalvfs": totalvfs, dev + "/sriov_numvfs": numvfs,
                    dev + "/net/%s/address" % netdev: "00:11:22:33:44:00"})
        domain, bus, _slot = address.split(":")
        vfs = []
        for index in range(numvfs):
            vf_address = "%s:%02x:%02x.%d" % (domain, int(bus, 16) + 1, index // 8, index % 8)
            vf = self.pci_device(vf_address, driver=vf_driver, numa_node=numa_node,
                                 parent=parent, device="0x1889")
            self.write(vf + "/net/%sv%d/address" % (netdev, index), "00:11:22:33:45:%02x" % index)
            self.symlink(vf + "/physfn", dev)
            self.symlink("%s/virtfn%d" % (dev, index), vf)
            vfs.append(vf_address)
        return vfs

    def iommu_group(self, group, devices):
        for address in devices:
            self.symlink("/sys/kernel/iommu_groups/%d/devices/%s" % (group, address),
                         "/sys/devices/pci0000:00/%s" % address)
        self.write("/sys/kernel/iommu_groups/%d/type" % group, "DMA")
        return self


# --------------------------------------------------------------------------- topology

def parse_shape(shape):
    """``"2x8x2"`` -> (sockets, cores per socket, threads per core)."""
    parts = [int(part) for part in str(shape).lower().replace(" ", "").split("x")]
    if len(parts) != 3 or min(parts) < 1:
        raise ValueError("shape must be SOCKETSxCORESxTHREADS, got %r" % (shape,))
    return tuple(parts)


class Host(object):
    """A host's CPU and memory layout; ``build(tree)`` writes it and fills the answers.

    shape           "SxCxT" (sockets x cores per socket x threads per core)
    nodes           NUMA nodes; cores are spread over the nodes with CPUs in order
    node_ids        kernel ids of the nodes (sparse ids allowed), default 0..nodes-1
    cpuless_nodes   indexes (into node_ids) of memory-only nodes
    offline         CPU ids that are offline (no topology directory, online=0)
    legacy          only the old hex mask attributes (thread_siblings, core_siblings,
                    node cpumap, cache shared_cpu_map); no cpu/online, present files
    numa            False: a kernel without NUMA support (no node directory)
    hybrid          (P-cores, E-cores): one socket, 2-thread P-cores then 1-thread E-cores
                    in clusters of 4 sharing an L2; ``pmu`` adds cpu_core/cpu_atom
    missing_topology  online CPU ids whose topology directory is removed
    cpuinfo         write /proc/cpuinfo (with physical id and core id)
    memory_kb       MemTotal of every node
    hugepages       {size_kb: {node index: pages}}
    """

    def __init__(self, shape="1x4x2", nodes=1, node_ids=None, cpuless_nodes=(), offline=(),
                 legacy=False, numa=True, hybrid=None, pmu=False, missing_topology=(),
                 cpuinfo=True, memory_kb=16 * GIB_KB, hugepages=None, vendor="GenuineIntel",
                 flags="fpu vme pse pdpe1gb vmx x2apic constant_tsc ht"):
        self.sockets, self.cores_per_socket, self.threads_per_core = parse_shape(shape)
        self.node_ids = list(node_ids) if node_ids is not None else list(range(nodes))
        self.cpuless = set(cpuless_nodes)
        self.offline_cpus = set(offline)
        self.legacy = legacy
        self.numa = numa
        self.hybrid = hybrid
        self.pmu = pmu
        self.missing_topology = set(missing_topology)
        self.cpuinfo = cpuinfo
        self.memory_kb = memory_kb
        self.hugepages = hugepages or {}
        self.vendor = vendor
        self.flags = flags
        # answers, filled by build()
        self.online = self.offline = self.cores = self.packages = self.l3 = None
        self.node_cpus = None

    # physical layout: list of (package, core_id, [cpus], l2 group key)
    def _layout(self):
        cores = []
        if self.hybrid:
            p_cores, e_cores = self.hybrid
            for index in range(p_cores):
                cores.append((0, index * 4, [2 * index, 2 * index + 1], ("p", index)))
            for index in range(e_cores):
                cpu = 2 * p_cores + index
                cores.append((0, 4 * p_cores + index, [cpu], ("e", index // 4)))
            return cores
        per_thread = self.sockets * self.cores_per_socket
        for socket in range(self.sockets):
            for core in range(self.cores_per_socket):
                cpus = [thread * per_thread + socket * self.cores_per_socket + core
                        for thread in range(self.threads_per_core)]
                cores.append((socket, core, cpus, ("c", socket, core)))
        return cores

    @staticmethod
    def _core_nodes(layout, cpu_nodes):
        """Node index of every core: nodes never straddle a package (as on real machines);
        with fewer nodes than packages a node takes whole packages."""
        if not cpu_nodes:
            return [None] * len(layout)
        sockets = sorted(set(entry[0] for entry in layout))
        count = len(cpu_nodes)
        result = []
        for socket_index, socket in enumerate(sockets):
            cores = [entry for entry in layout if entry[0] == socket]
            if count >= len(sockets):
                mine = [cpu_nodes[j] for j in range(count)
                        if j * len(sockets) // count == socket_index]
            else:
                mine = [cpu_nodes[socket_index * count // len(sockets)]]
            result.extend(mine[position * len(mine) // len(cores)]
                          for position in range(len(cores)))
        return result

    def build(self, tree):
        layout = self._layout()
        all_cpus = sorted(cpu for _p, _c, cpus, _k in layout for cpu in cpus)
        online = [cpu for cpu in all_cpus if cpu not in self.offline_cpus]
        online_set = set(online)
        nbits = max(64, len(all_cpus))
        base = "/sys/devices/system/cpu"
        # nodes: cores spread in order over the nodes that have CPUs
        cpu_nodes = [index for index in range(len(self.node_ids)) if index not in self.cpuless]
        node_cpus = dict((index, []) for index in range(len(self.node_ids)))
        for entry, index in zip(layout, self._core_nodes(layout, cpu_nodes)):
            if index is not None:
                node_cpus[index].extend(cpu for cpu in entry[2] if cpu in online_set)
        packages = {}
        for package, _core, cpus, _key in layout:
            packages.setdefault(package, []).extend(cpu for cpu in cpus if cpu in online_set)
        l2 = {}
        for _package, _core, cpus, key in layout:
            l2.setdefault(key, []).extend(cpu for cpu in cpus if cpu in online_set)
        if not self.legacy:
            tree.files({base + "/online": cpulist(online), base + "/present": cpulist(all_cpus),
                        base + "/possible": cpulist(all_cpus),
                        base + "/offline": cpulist(self.offline_cpus)})
        cpuinfo = []
        for package, core_id, cpus, key in layout:
            siblings = [cpu for cpu in cpus if cpu in online_set]
            pkg = sorted(packages[package])
            for cpu in cpus:
                cpu_dir = "%s/cpu%d" % (base, cpu)
                if cpu != 0:
                    tree.write(cpu_dir + "/online", 0 if cpu in self.offline_cpus else 1)
                if cpu in self.offline_cpus:
                    tree.mkdir(cpu_dir)
                    continue
                cpuinfo.append(self._cpuinfo_block(cpu, package, core_id))
                if cpu not in self.missing_topology:
                    self._topology(tree, cpu_dir + "/topology", siblings, pkg, core_id,
                                   package, nbits)
                self._caches(tree, cpu_dir + "/cache", [cpu], sorted(l2[key]), pkg, nbits)
        if self.numa:
            self._nodes(tree, node_cpus, nbits)
        if self.pmu and self.hybrid:
            p_cpus = [cpu for cpu in online if cpu < 2 * self.hybrid[0]]
            tree.write("/sys/devices/cpu_core/cpus", cpulist(p_cpus))
            tree.write("/sys/devices/cpu_atom/cpus", cpulist(set(online) - set(p_cpus)))
        total_kb = self.memory_kb * (len(self.node_ids) if self.numa else 1)
        tree.write("/proc/meminfo", "MemTotal:       %d kB\nMemFree:        %d kB\n"
                   "MemAvailable:   %d kB\nHugepagesize:       2048 kB\n"
                   % (total_kb, total_kb // 2, total_kb // 2))
        for size in ("2048", "1048576"):
            pages = sum(self.hugepages.get(size, {}).values())
            pool = "/sys/kernel/mm/hugepages/hugepages-%skB" % size
            tree.files({pool + "/nr_hugepages": pages, pool + "/free_hugepages": pages,
                        pool + "/surplus_hugepages": 0, pool + "/resv_hugepages": 0})
        if self.cpuinfo:
            tree.write("/proc/cpuinfo", "\n".join(sorted(
                cpuinfo, key=lambda block: int(block.split("\n")[0].split(":")[1]))))
        # answers
        self.online = online
        self.offline = sorted(self.offline_cpus)
        self.cores = sorted(sorted(cpu for cpu in cpus if cpu in online_set)
                            for _p, _c, cpus, _k in layout
                            if any(cpu in online_set for cpu in cpus))
        self.packages = sorted(sorted(cpus) for cpus in packages.values() if cpus)
        self.l3 = list(self.packages)
        if self.numa:
            self.node_cpus = dict((self.node_ids[index], sorted(cpus))
                                  for index, cpus in node_cpus.items())
        else:
            self.node_cpus = {0: list(online)}
        return self

    def _cpuinfo_block(self, cpu, package, core_id):
        return ("processor\t: %d\nvendor_id\t: %s\nmodel name\t: Fixture CPU @ 2.00GHz\n"
                "physical id\t: %d\ncore id\t\t: %d\nflags\t\t: %s\n"
                % (cpu, self.vendor, package, core_id, self.flags))

    def _topology(self, tree, topo, siblings, package_cpus, core_id, package, nbits):
        files = {topo + "/core_id": core_id, topo + "/physical_package_id": package,
                 topo + "/thread_siblings": cpumask(siblings, nbits),
                 topo + "/core_siblings": cpumask(package_cpus, nbits)}
        if not self.legacy:
            files.update({
                topo + "/thread_siblings_list": cpulist(siblings),
                topo + "/core_siblings_list": cpulist(package_cpus),
                topo + "/core_cpus": cpumask(siblings, nbits),
                topo + "/core_cpus_list": cpulist(siblings),
                topo + "/package_cpus": cpumask(package_cpus, nbits),
                topo + "/package_cpus_list": cpulist(package_cpus),
                topo + "/die_id": 0,
            })
        tree.files(files)

    def _caches(self, tree, cache, own, l2_cpus, l3_cpus, nbits):
        for index, (level, kind, cpus) in enumerate((
                (1, "Data", own), (1, "Instruction", own), (2, "Unified", l2_cpus),
                (3, "Unified", l3_cpus))):
            path = "%s/index%d" % (cache, index)
            files = {path + "/level": level, path + "/type": kind,
                     path + "/shared_cpu_map": cpumask(cpus, nbits),
                     path + "/size": "%dK" % (32 if level == 1 else 1024 * level)}
            if not self.legacy:
                files[path + "/shared_cpu_list"] = cpulist(cpus)
            tree.files(files)

    def _nodes(self, tree, node_cpus, nbits):
        base = "/sys/devices/system/node"
        ids = self.node_ids
        tree.write(base + "/online", cpulist(ids))
        tree.write(base + "/possible", cpulist(ids))
        tree.write(base + "/has_cpu", cpulist(
            [ids[index] for index, cpus in node_cpus.items() if cpus]))
        for index, node in enumerate(ids):
            path = "%s/node%d" % (base, node)
            cpus = node_cpus[index]
            files = {path + "/cpumap": cpumask(cpus, nbits),
                     path + "/distance": " ".join(
                         "10" if other == node else "20" for other in ids),
                     path + "/meminfo": "\nNode %d MemTotal:       %d kB\n"
                                        "Node %d MemFree:        %d kB\n"
                                        % (node, self.memory_kb, node, self.memory_kb // 2)}
            if not self.legacy:
                files[path + "/cpulist"] = cpulist(cpus)
            for size in ("2048", "1048576"):
                pages = self.hugepages.get(size, {}).get(index, 0)
                pool = "%s/hugepages/hugepages-%skB" % (path, size)
                files.update({pool + "/nr_hugepages": pages, pool + "/free_hugepages": pages,
                              pool + "/surplus_hugepages": 0})
            tree.files(files)
            for cpu in cpus:
                tree.symlink("%s/cpu%d" % (path, cpu), "/sys/devices/system/cpu/cpu%d" % cpu)


# --------------------------------------------------------------------------- snapshot

# What kvm_host_facts reads for CPU, NUMA, memory and kernel (devices are symlink farms
# into /sys/devices/pci*: build those with Tree.nvme / Tree.sriov_pf instead).
SNAPSHOT_FILES = (
    "/proc/cpuinfo", "/proc/meminfo", "/proc/cmdline", "/proc/swaps", "/proc/version",
    "/proc/sys/kernel/osrelease", "/proc/sys/vm/swappiness",
)
SNAPSHOT_DIRS = (
    ("/sys/devices/system/cpu", ("online", "offline", "present", "possible", "isolated",
                                 "nohz_full", "kernel_max", "smt", "vulnerabilities",
                                 "cpu[0-9]*/online", "cpu[0-9]*/topology",
                                 "cpu[0-9]*/cache")),
    ("/sys/devices/system/node", ("online", "possible", "has_cpu", "has_memory",
                                  "has_normal_memory", "node[0-9]*/cpulist",
                                  "node[0-9]*/cpumap", "node[0-9]*/meminfo",
                                  "node[0-9]*/distance", "node[0-9]*/hugepages")),
    ("/sys/kernel/mm", ("hugepages", "transparent_hugepage/enabled",
                        "transparent_hugepage/defrag", "ksm/run")),
    ("/sys/module", ("kvm/parameters", "kvm_intel/parameters", "kvm_amd/parameters",
                     "zswap/parameters")),
)


def _matches(parts, pattern, whole):
    """Whether path components ``parts`` match ``pattern`` (fnmatch per component):
    ``whole`` asks for the pattern or something below it, else also for a directory on
    the way to it."""
    import fnmatch

    wanted = pattern.split("/")
    for index, part in enumerate(parts):
        if index >= len(wanted):
            return True  # below a matched directory
        if not fnmatch.fnmatchcase(part, wanted[index]):
            return False
    return not whole or len(parts) >= len(wanted)


def snapshot(dest, source="/", limit=1 << 20):
    """Copy what the CPU, NUMA, memory and kernel facts read from ``source`` (a host's
    ``/``) into the fixture tree ``dest``; returns the number of files copied.

    Unreadable files (write-only attributes, permissions) are skipped, as the host
    would also not let kvm_host_facts read them. Symbolic links are not copied. Turns a
    real machine (the lab host, this one) into a fixture:
    ``python3 -c 'import sysfs_builder as s; s.snapshot("/tmp/snap")'``, then tar it up.
    """
    tree = Tree(dest)
    source = os.path.abspath(source)
    copied = [0]

    def copy(host_path):
        full = os.path.join(source, host_path.lstrip("/"))
        if os.path.islink(full):
            return
        try:
            with open(full, "rb") as handle:
                data = handle.read(limit)
        except (IOError, OSError):
            return
        tree.write(host_path, data)
        copied[0] += 1

    for host_path in SNAPSHOT_FILES:
        copy(host_path)
    for base, patterns in SNAPSHOT_DIRS:
        top = os.path.join(source, base.lstrip("/"))
        for dirpath, dirnames, filenames in os.walk(top):
            prefix = [] if dirpath == top else os.path.relpath(dirpath, top).split(os.sep)
            for name in filenames:
                if any(_matches(prefix + [name], pattern, True) for pattern in patterns):
                    copy("%s/%s" % (base, "/".join(prefix + [name])))
            dirnames[:] = [name for name in dirnames
                           if not os.path.islink(os.path.join(dirpath, name))
                           and any(_matches(prefix + [name], pattern, False)
                                   for pattern in patterns)]
    return copied[0]


def write_file(root, relpath, text, mode=None):
    """Write ``text`` exactly (no newline added) at ``relpath`` under ``root``, parents
    created; optionally chmod it. Returns the full path."""
    path = os.path.join(str(root), relpath.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    if mode is not None:
        os.chmod(path, mode)
    return path

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hardware part of each fleet host's ``kvm_host`` facts (cpu, numa, memory), in
its host_vars: the collection's own facts code (``kvm_host_facts(root=...)``) over a
mixed set of machines, so the plans differ from host to host. The fleet's hosts share
this machine's kernel; the rest of ``kvm_host`` (kernel, daemons, libvirt, ...) is
gathered on the host, from its own root, by host_plan.

The machines: sysfs trees built by tests/unit/sysfs_builder.py (1, 2 and 4 NUMA nodes,
with and without SMT, 16 to 384 GiB), plus the real machine dumps of
../shared/fixtures/hwloc when present. Host n gets machine (n - 1) modulo their number.

    python3 tools/fleet/facts.py COUNT HOST_VARS_DIR [NAME_PREFIX]
"""

from __future__ import absolute_import, division, print_function

import copy
import json
import os
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HWLOC = os.path.join(os.path.dirname(REPO), "shared", "fixtures", "hwloc")
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))
sys.path.insert(0, os.path.join(REPO, "build", "collections"))

from sysfs_builder import GIB_KB, Host, Tree  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import (  # noqa: E402
    kvm_host_facts,
)

HARDWARE = ["cpu", "numa", "memory"]
# name -> sysfs_builder.Host arguments (memory_kb: per node)
BUILT = (
    ("1x8x2-1n-64g", dict(shape="1x8x2", nodes=1, memory_kb=64 * GIB_KB)),
    ("2x8x2-2n-192g", dict(shape="2x8x2", nodes=2, memory_kb=96 * GIB_KB)),
    ("2x12x1-2n-128g", dict(shape="2x12x1", nodes=2, memory_kb=64 * GIB_KB)),
    ("4x6x2-4n-384g", dict(shape="4x6x2", nodes=4, memory_kb=96 * GIB_KB)),
    ("1x16x1-1n-32g", dict(shape="1x16x1", nodes=1, memory_kb=32 * GIB_KB)),
    ("2x8x2-4n-128g", dict(shape="2x8x2", nodes=4, memory_kb=32 * GIB_KB)),
    ("1x4x2-1n-16g", dict(shape="1x4x2", nodes=1, memory_kb=16 * GIB_KB, vendor="AuthenticAMD")),
)


def built_machine(args):
    with tempfile.TemporaryDirectory(prefix="kvmfleet-sysfs-") as root:
        Host(**args).build(Tree(root))
        return kvm_host_facts(root, HARDWARE)


def hwloc_machine(name):
    with tempfile.TemporaryDirectory(prefix="kvmfleet-hwloc-") as directory:
        with tarfile.open(os.path.join(HWLOC, name + ".tar.bz2")) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(directory, filter="data")
            else:  # pragma: no cover - Python < 3.12 without the backport
                archive.extractall(directory)
        (top,) = [entry for entry in os.listdir(directory) if os.path.isdir(os.path.join(directory, entry))]
        return kvm_host_facts(os.path.join(directory, top), HARDWARE)


def hwloc_names():
    if not os.path.isdir(HWLOC):
        return []
    return sorted(name[:-len(".tar.bz2")] for name in os.listdir(HWLOC) if name.endswith(".tar.bz2"))


_MACHINES = []


def machines():
    """[(name, kvm_host hardware facts)] of every machine the fleet is made of (read once
    per process: unpacking the largest hwloc dump takes seconds)."""
    if not _MACHINES:
        found = [(name, built_machine(args)) for name, args in BUILT]
        found.extend(("hwloc-" + name, hwloc_machine(name)) for name in hwloc_names())
        for _name, facts in found:
            facts.pop("warnings", None)
        _MACHINES.extend(found)
    return copy.deepcopy(_MACHINES)


def write_host_vars(count, directory, prefix="kvmfleet"):
    """host_vars/<prefix><n>.yml for n = 1..count (JSON is YAML); returns {host: machine}."""
    found = machines()
    if not os.path.isdir(directory):
        os.makedirs(directory)
    chosen = {}
    for number in range(1, count + 1):
        name, facts = found[(number - 1) % len(found)]
        host = "%s%d" % (prefix, number)
        chosen[host] = name
        with open(os.path.join(directory, host + ".yml"), "w") as handle:
            json.dump({"kvmops_fleet_machine": name, "kvm_host": facts}, handle, sort_keys=True)
            handle.write("\n")
    return chosen


def main(argv):
    if len(argv) not in (3, 4) or not argv[1].isdigit():
        sys.stderr.write(__doc__.rsplit("\n\n", maxsplit=1)[-1])
        return 2
    chosen = write_host_vars(int(argv[1]), argv[2], *argv[3:])
    print("%d hosts over %d machines" % (len(chosen), len(set(chosen.values()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

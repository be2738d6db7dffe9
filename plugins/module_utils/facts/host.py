# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``kvm_host`` facts: choose the subsets (like ``setup``'s gather_subset) and gather them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.cpu import (
    gather_cpu,
    online_cpus,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.daemons import gather_daemons
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.domains import gather_domains
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.devices import (
    gather_iommu,
    gather_sriov,
    gather_vhost,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.kernel import gather_kernel
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.memory import gather_memory
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.numa import gather_numa
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.nvme import gather_nvme
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.security import gather_security
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.tuned import gather_tuned
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.services import (
    gather_libvirt,
    gather_qemu,
    gather_zfs,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

# subset name -> key in kvm_host
SUBSETS = (
    ("cpu", "cpu"), ("numa", "numa"), ("memory", "memory"), ("kernel", "kernel"),
    ("iommu", "iommu"), ("nvme", "nvme"), ("sriov", "sriov"), ("vhost", "vhost"), ("zfs", "zfs"),
    ("libvirt", "libvirt"), ("qemu", "qemu_processes"), ("daemons", "daemons"),
    ("security", "security"),
    ("domains", "domains"),
    ("tuned", "tuned"),
)
SUBSET_NAMES = tuple(name for name, _key in SUBSETS)


class SubsetError(ValueError):
    """A gather_subset entry that names no subset."""


def resolve_subsets(requested):
    """The set of subset names to gather for a ``gather_subset`` list.

    Like ``setup``: ``all`` adds every subset, ``!name`` removes one (``!all`` removes
    every one that was not named explicitly); a list of only exclusions starts from
    ``all``. Raises SubsetError naming the bad entry.
    """
    if requested is None:
        requested = ["all"]
    if isinstance(requested, str):
        requested = [part.strip() for part in requested.split(",")]
    included, excluded = set(), set()
    exclude_all = False
    only_exclusions = True
    for entry in requested:
        if not isinstance(entry, str):
            raise SubsetError("gather_subset: entries must be strings, got %r" % (entry,))
        entry = entry.strip()
        negate = entry.startswith("!")
        name = entry[1:].strip() if negate else entry
        if name != "all" and name not in SUBSET_NAMES:
            raise SubsetError("gather_subset: unknown subset %r; choose from all, %s "
                              "(prefix ! to exclude)" % (entry, ", ".join(SUBSET_NAMES)))
        if negate:
            if name == "all":
                exclude_all = True
            else:
                excluded.add(name)
            continue
        only_exclusions = False
        if name == "all":
            included.update(SUBSET_NAMES)
        else:
            included.add(name)
    if only_exclusions and not exclude_all:
        included.update(SUBSET_NAMES)
    return included - excluded


def gather(reader, subsets=None, which=None):
    """``kvm_host`` for the chosen subset names (all when None), with ``warnings``.
    ``which(name)``: a command's path or None (the module's get_bin_path)."""
    if subsets is None:
        subsets = set(SUBSET_NAMES)
    facts = {}
    topology = {}

    def cpus():
        if "online" not in topology:
            topology["online"], topology["offline"] = online_cpus(reader)
        return topology["online"], topology["offline"]

    gatherers = {
        "cpu": lambda: gather_cpu(reader, *cpus()),
        "numa": lambda: gather_numa(reader, cpus()[0]),
        "memory": lambda: gather_memory(reader),
        "kernel": lambda: gather_kernel(reader, which),
        "iommu": lambda: gather_iommu(reader),
        "nvme": lambda: gather_nvme(reader),
        "sriov": lambda: gather_sriov(reader),
        "vhost": lambda: gather_vhost(reader),
        "zfs": lambda: gather_zfs(reader),
        "libvirt": lambda: gather_libvirt(reader),
        "qemu": lambda: gather_qemu(reader),
        "daemons": lambda: gather_daemons(reader),
        "security": lambda: gather_security(reader),
        "domains": lambda: gather_domains(reader),
        "tuned": lambda: gather_tuned(reader),
    }
    for name, key in SUBSETS:
        if name not in subsets:
            continue
        try:
            facts[key] = gatherers[name]()
        except Exception as exc:  # pylint: disable=broad-except
            # a reader bug must cost one subset, never the whole answer
            reader.warn("%s facts failed: %s: %s" % (name, type(exc).__name__, exc))
    facts["warnings"] = list(reader.warnings)
    return facts


def kvm_host_facts(root="/", gather_subset=None):
    """Convenience entry point: resolve ``gather_subset`` and gather under ``root``."""
    return gather(Reader(root), resolve_subsets(gather_subset))

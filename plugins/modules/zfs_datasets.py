#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: zfs_datasets
short_description: Create ZFS pools, datasets and zvols as planned, set only the properties that differ
version_added: 0.3.0
description:
  - Takes the C(pools) and C(datasets) of C(kvm_host_plan.zfs_storage) as the planner wrote
    them (sizes in bytes, creation-only properties apart) and brings the host to them.
  - Reads first (C(zfs list -Hp), C(zfs get -Hp all), C(zpool list), C(blkid -p)) and refuses
    a bad request before the first change, so a refused run changes nothing.
  - A missing dataset or zvol is created with every wanted property, the creation-only ones
    too (C(volblocksize) as C(-b), the size as C(-V), C(-s) when sparse). An existing one gets
    C(zfs set) for the settable properties that differ, compared in bytes as C(zfs get -Hp)
    prints them, so a second run changes nothing.
  - Creation-only properties (C(volblocksize), C(encryption), C(casesensitivity),
    C(normalization), C(utf8only)) of an existing dataset are never changed; a difference is
    returned in RV(creation_only_drift) and fails only with O(strict).
  - A zvol is grown but never shrunk. A dataset with state C(absent) is destroyed only with
    O(allow_destroy) and only when it has no children, snapshots or clones.
  - A pool is created (C(zpool create -o ashift=N)) only when absent and never changed
    afterwards; a device that holds a filesystem, a partition table or another pool's label
    (C(blkid -p)) is refused unless the pool's C(force) names it.
author:
  - kvmops maintainers (@kvmops)
options:
  pools:
    description:
      - Pools to create when absent, as in C(kvm_host_plan.zfs_storage.pools) (keys name,
        vdevs, devices, ashift, properties, filesystem_properties, force).
    type: list
    elements: dict
    default: []
  datasets:
    description:
      - Datasets and zvols, as in C(kvm_host_plan.zfs_storage.datasets) (keys name, type,
        state, size, sparse, properties, creation_properties).
    type: list
    elements: dict
    default: []
  strict:
    description:
      - Fail when a creation-only property of an existing dataset differs from the plan.
    type: bool
    default: false
  allow_destroy:
    description:
      - Destroy datasets whose state is C(absent) (never one with dependents).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and predict the change without modifying the target.
    support: full
    details: Only the reading commands run; RV(commands) lists what would run.
  diff_mode:
    description: Returns what changed (or would change in check mode) in diff mode.
    support: full
    details: The differing properties per dataset, before and after.
  platform:
    description: Target operating systems.
    support: N/A
    platforms: posix
"""

EXAMPLES = r"""
- name: Guest disks as the plan says
  kvmops.hypervisor.zfs_datasets:
    pools: "{{ kvm_host_plan.zfs_storage.pools }}"
    datasets: "{{ kvm_host_plan.zfs_storage.datasets }}"
    strict: "{{ kvm_host_plan.zfs_storage.strict }}"
    allow_destroy: "{{ kvm_host_plan.zfs_storage.allow_destroy }}"

- name: One zvol, written out
  kvmops.hypervisor.zfs_datasets:
    datasets:
      - name: tank/vm/db1-disk0
        type: volume
        size: 21474836480
        sparse: true
        properties: {compression: lz4, volmode: dev, sync: standard}
        creation_properties: {volblocksize: "16384"}
"""

RETURN = r"""
pools_created:
  description: Pools created (or that would be in check mode).
  returned: always
  type: list
  elements: str
created:
  description: Datasets and zvols created (or that would be).
  returned: always
  type: list
  elements: str
updated:
  description: Per dataset, the settable properties set, as [before, after].
  returned: always
  type: dict
  sample: {tank/vm/disk0: {compression: ["off", lz4]}}
destroyed:
  description: Datasets destroyed (or that would be).
  returned: always
  type: list
  elements: str
creation_only_drift:
  description: Creation-only properties of existing datasets that differ from the plan (left as they are).
  returned: always
  type: list
  elements: dict
  sample: [{dataset: tank/vm/old, property: volblocksize, current: "8192", wanted: "16384"}]
commands:
  description: The changing commands run (or that would run in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.zfs import (
    Zfs,
    ZfsError,
    apply,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pools=dict(type="list", elements="dict", default=[]),
            datasets=dict(type="list", elements="dict", default=[]),
            strict=dict(type="bool", default=False),
            allow_destroy=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    paths = {}

    def run(argv):
        tool = argv[0]
        if tool not in paths:
            paths[tool] = module.get_bin_path(tool, required=True, opt_dirs=["/sbin", "/usr/sbin"])
        return module.run_command([paths[tool]] + list(argv[1:]))

    zfs = Zfs(run, check=module.check_mode)
    try:
        result = apply(zfs, module.params)
    except ZfsError as exc:
        module.fail_json(msg="zfs_datasets: %s" % exc, commands=zfs.commands, changed=bool(zfs.commands))
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = dict(before_header="zfs (before)", after_header="zfs (after)",
                              before=diff["before"], after=diff["after"])
    if result["creation_only_drift"]:
        module.warn("creation-only properties differ from the plan (left as they are): %s" % "; ".join(
            "%s %s=%s (plan %s)" % (d["dataset"], d["property"], d["current"], d["wanted"])
            for d in result["creation_only_drift"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

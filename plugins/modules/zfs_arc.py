#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: zfs_arc
short_description: Set the ZFS ARC limits in the running kernel in a given order and verify them in arcstats
version_added: 0.3.0
description:
  - Writes C(/sys/module/zfs/parameters/zfs_arc_max) and C(zfs_arc_min) in the order given
    (C(kvm_host_plan.zfs_storage.arc.order)), each only when it differs.
  - The order matters. The kernel takes C(zfs_arc_max) only above the current C(c_min) and
    C(zfs_arc_min) only up to the current C(c_max) (OpenZFS module/zfs/arc.c,
    arc_tuning_update), so lowering sets the minimum first and raising the maximum first.
  - A value the kernel does not take is still written to the parameter file and only logged
    as "ignoring tunable", so the module then reads C(c_max) and C(c_min) from
    C(/proc/spl/kstat/zfs/arcstats) and fails when they are not the wanted values.
  - Changes only the running kernel; the limits at boot are in C(/etc/modprobe.d/zfs.conf).
extends_documentation_fragment:
  - kvmops.hypervisor.root
author:
  - kvmops maintainers (@kvmops)
options:
  order:
    description:
      - The parameters to write, as [name, value] pairs in the order to write them; the
        names are C(zfs_arc_max) and C(zfs_arc_min), the values bytes.
    type: list
    elements: list
    required: true
  max_bytes:
    description:
      - The C(c_max) arcstats must show afterwards (bytes).
    type: int
    required: true
  min_bytes:
    description:
      - The C(c_min) arcstats must show afterwards (bytes).
    type: int
    required: true
attributes:
  check_mode:
    description: Can run in check mode and predict the change without modifying the target.
    support: full
    details: Nothing is written; the result predicts the values.
  diff_mode:
    description: Returns what changed (or would change in check mode) in diff mode.
    support: none
  platform:
    description: Target operating systems.
    support: N/A
    platforms: posix
"""

EXAMPLES = r"""
- name: ARC limits now, in the order the kernel accepts
  kvmops.hypervisor.zfs_arc:
    order: "{{ kvm_host_plan.zfs_storage.arc.order }}"
    max_bytes: "{{ kvm_host_plan.zfs_storage.arc.max_bytes }}"
    min_bytes: "{{ kvm_host_plan.zfs_storage.arc.min_bytes }}"
"""

RETURN = r"""
written:
  description: The parameters written (or that would be in check mode), in order, as [name, before, after].
  returned: always
  type: list
  elements: list
  sample: [[zfs_arc_min, "0", "134217728"], [zfs_arc_max, "0", "268435456"]]
arcstats:
  description: C(c_max) and C(c_min) from arcstats after writing (not read in check mode).
  returned: always
  type: dict
  sample: {c_max: 268435456, c_min: 134217728}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.services import parse_kstat

PARAMETERS = "/sys/module/zfs/parameters/%s"
ARCSTATS = "/proc/spl/kstat/zfs/arcstats"
NAMES = ("zfs_arc_max", "zfs_arc_min")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            order=dict(type="list", elements="list", required=True),
            max_bytes=dict(type="int", required=True),
            min_bytes=dict(type="int", required=True),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    reader = Reader(module.params["root"])
    pairs = []
    for pair in module.params["order"]:
        if len(pair) != 2 or pair[0] not in NAMES or not str(pair[1]).isdigit():
            module.fail_json(msg="order: %r is not a [zfs_arc_max|zfs_arc_min, bytes] pair" % (pair,))
        pairs.append((pair[0], str(pair[1])))
    written = []
    for name, value in pairs:
        current = reader.text(PARAMETERS % name)
        if current is None:
            module.fail_json(msg="%s is missing: the zfs module is not loaded" % (PARAMETERS % name))
        if current == value:
            continue
        written.append([name, current, value])
        if module.check_mode:
            continue
        try:
            with open(reader.path(PARAMETERS % name), "w") as handle:
                handle.write(value)
        except (IOError, OSError) as exc:
            module.fail_json(msg="writing %s=%s failed: %s" % (PARAMETERS % name, value, exc), written=written)
    stats = {}
    if not module.check_mode:
        values = parse_kstat(reader.text(ARCSTATS, warn_missing=True))
        stats = {"c_max": values.get("c_max"), "c_min": values.get("c_min")}
        wanted = {"c_max": module.params["max_bytes"], "c_min": module.params["min_bytes"]}
        wrong = ["%s %s, wanted %d" % (key, stats[key], wanted[key]) for key in ("c_max", "c_min")
                 if stats[key] != wanted[key]]
        if wrong:
            module.fail_json(msg="the kernel did not take the ARC limits (arcstats %s); it logs 'ignoring "
                             "tunable' when a value is out of range or written in the wrong order"
                             % "; ".join(wrong), written=written, arcstats=stats, changed=bool(written))
    module.exit_json(changed=bool(written), written=written, arcstats=stats)


if __name__ == "__main__":
    main()

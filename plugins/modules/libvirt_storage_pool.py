#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: libvirt_storage_pool
short_description: Define, start, autostart and refresh libvirt storage pools of type zfs
version_added: 0.3.0
description:
  - For each pool of O(pools) (the C(libvirt_pools) of C(kvm_host_plan.zfs_storage)), defines
    it persistently with libvirt-python when it is missing or its type or source dataset
    differ, starts it, sets autostart as planned, and refreshes a running pool that does not
    list every planned zvol (libvirt lists the zvols below the dataset only when the pool
    starts or is refreshed).
  - Fails naming the pool's variable when libvirt has no zfs storage backend (the storage
    pool capabilities, or the error of the define); on Debian it is the package
    C(libvirt-daemon-driver-storage-zfs).
  - A pool redefined while active keeps its running definition until it next starts; the
    result says so (C(pending)).
  - The zvols themselves are made by M(kvmops.hypervisor.zfs_datasets), never by libvirt,
    whose zfs backend cannot set C(volblocksize) or other properties.
author:
  - kvmops maintainers (@kvmops)
requirements:
  - libvirt-python
options:
  pools:
    description:
      - The C(libvirt_pools) list of the C(zfs_storage) section (name, dataset, autostart, xml,
        volumes, absent_volumes, variable).
    type: list
    elements: dict
    required: true
  uri:
    description:
      - The libvirt connection URI.
    type: str
    default: qemu:///system
attributes:
  check_mode:
    description: Can run in check mode and predict the change without modifying the target.
    support: full
  diff_mode:
    description: Shows each changed pool's type, source, active, autostart and volumes before and after.
    support: full
  platform:
    description: Target operating systems.
    support: N/A
    platforms: posix
"""

EXAMPLES = r"""
- name: The libvirt zfs storage pools of the plan
  kvmops.hypervisor.libvirt_storage_pool:
    pools: "{{ kvm_host_plan['zfs_storage']['libvirt_pools'] }}"
"""

RETURN = r"""
pools:
  description: Per pool whether it was (or would be) defined, started, its autostart set and
    refreshed, and whether a redefinition waits for the pool's next start.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: guests-zfs, defined: true, started: true, autostart: true, refreshed: false, pending: false}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.storage_pool import PoolError, apply

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False


def _missing(exc):
    """storagePoolLookupByName's error for a pool that does not exist."""
    return isinstance(exc, libvirt.libvirtError) and exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pools=dict(type="list", elements="dict", required=True),
            uri=dict(type="str", default="qemu:///system"),
        ),
        supports_check_mode=True,
    )
    if not module.params["pools"]:
        module.exit_json(changed=False, pools=[])
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (python3-libvirt)"))
    try:
        conn = libvirt.open(module.params["uri"])
    except libvirt.libvirtError as exc:
        module.fail_json(msg="%s: cannot connect to libvirt at %s: %s" % (
            module.params["pools"][0].get("variable") or "pools", module.params["uri"], exc))
    try:
        report = apply(conn, module.params["pools"], check_mode=module.check_mode, missing=_missing)
    except (PoolError, libvirt.libvirtError) as exc:
        module.fail_json(msg=str(exc))
    for entry in report["pools"]:
        if entry["pending"]:
            module.warn("libvirt storage pool %s redefined while active: the new source takes effect when it next "
                        "starts (virsh pool-destroy/pool-start once no guest uses one of its volumes)" % entry["name"])
    result = dict(changed=report["changed"], pools=report["pools"])
    if module._diff and report["diff"]:
        result["diff"] = report["diff"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()

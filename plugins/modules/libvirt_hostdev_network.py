#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: libvirt_hostdev_network
short_description: Define, start and autostart libvirt hostdev networks (pools of SR-IOV VFs)
version_added: 0.3.0
description:
  - For each network of O(networks) (the C(networks) of C(kvm_host_plan.sriov_vhost)),
    defines it with libvirt-python when it is missing or its forward mode, C(managed) flag or
    VF addresses differ, starts it and marks it autostart.
  - A network redefined while active keeps its running VF list until it next starts (a
    guest may hold one of its VFs); the result says so (C(pending)).
  - libvirt hands a VF of the pool to a guest whose interface is C(<interface
    type='network'>) on it, binding it to vfio-pci and setting its MAC and VLAN at guest start.
author:
  - kvmops maintainers (@kvmops)
requirements:
  - libvirt-python
options:
  networks:
    description:
      - The C(networks) list of the C(sriov_vhost) section (name, xml, addresses, pf).
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
    description: Returns what changed in diff mode.
    support: none
  platform:
    description: Target operating systems.
    support: N/A
    platforms: posix
"""

EXAMPLES = r"""
- name: The libvirt hostdev networks of the plan
  kvmops.hypervisor.libvirt_hostdev_network:
    networks: "{{ kvm_host_plan['sriov_vhost']['networks'] }}"
"""

RETURN = r"""
networks:
  description: Per network whether it was (or would be) defined, started, set to autostart, and
    whether a redefinition waits for the network's next start.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: sriov-pool, defined: true, started: true, autostart: true, pending: false}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.hostdev_network import NetworkError, apply

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            networks=dict(type="list", elements="dict", required=True),
            uri=dict(type="str", default="qemu:///system"),
        ),
        supports_check_mode=True,
    )
    if not module.params["networks"]:
        module.exit_json(changed=False, networks=[])
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (python3-libvirt)"))
    try:
        conn = libvirt.open(module.params["uri"])
        report = apply(conn, module.params["networks"], check_mode=module.check_mode, not_found=libvirt.libvirtError)
    except (NetworkError, libvirt.libvirtError) as exc:
        module.fail_json(msg="networks: %s" % exc)
    for entry in report["networks"]:
        if entry["pending"]:
            module.warn("libvirt network %s redefined while active: its new VF list takes effect when it next "
                        "starts (virsh net-destroy/net-start once no guest holds one of its VFs)" % entry["name"])
    module.exit_json(changed=report["changed"], networks=report["networks"])


if __name__ == "__main__":
    main()

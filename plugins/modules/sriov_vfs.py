#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sriov_vfs
short_description: Bring SR-IOV virtual functions of the running kernel to the plan
version_added: 0.3.0
description:
  - For each physical function of O(pfs) (the C(pfs) of C(kvm_host_plan.sriov_vhost)), in
    this order - C(sriov_drivers_autoprobe) V(0) when VFs go to guests; C(sriov_numvfs),
    writing V(0) first when changing between two non-zero counts (the kernel refuses that
    change with EBUSY); per VF C(driver_override), an unbind from another driver and a
    probe through C(/sys/bus/pci/drivers_probe), the driver read back; then the per-VF
    settings that differ, with C(ip link set dev PF vf N ...) after reading them with
    C(ip -d -j link show).
  - Refuses, before the first write of that PF, to change the VF count or rebind a VF while
    a running libvirt guest holds a VF (C(/run/libvirt/qemu/*.xml) host devices, named in
    the message) or a process has its C(/dev/vfio) group open.
  - A setting the PF driver refuses fails naming the setting and the driver.
  - Changes only the running kernel; persistence is the role's C(.link) and udev rule files.
extends_documentation_fragment:
  - kvmops.hypervisor.root
author:
  - kvmops maintainers (@kvmops)
options:
  pfs:
    description:
      - The C(pfs) list of the C(sriov_vhost) section, as the planner wrote it (address,
        numvfs, autoprobe, vfs with index, driver_override and settings).
    type: list
    elements: dict
    required: true
  vfio_ready:
    description:
      - Whether the IOMMU is active (the section's C(vfio_ready)); V(false) leaves the VFs
        meant for C(vfio-pci) as they are, with a warning.
    type: bool
    default: true
  settings:
    description:
      - Whether to apply the per-VF settings (MAC, VLAN, spoof check, trust, rates, link state).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check mode and predict the change without modifying the target.
    support: full
    details: Nothing is written and no C(ip link set) runs; the result lists what would be.
  diff_mode:
    description: Returns what changed (or would change in check mode) in diff mode.
    support: none
  platform:
    description: Target operating systems.
    support: N/A
    platforms: posix
"""

EXAMPLES = r"""
- name: SR-IOV VFs now, as planned
  kvmops.hypervisor.sriov_vfs:
    pfs: "{{ kvm_host_plan['sriov_vhost']['pfs'] }}"
    vfio_ready: "{{ kvm_host_plan['sriov_vhost']['vfio_ready'] }}"
"""

RETURN = r"""
pfs:
  description: Per PF the VF count before and after, the sysfs writes and ip commands (done, or
    predicted in check mode) and what was skipped.
  returned: always
  type: list
  elements: dict
  sample:
    - address: "0000:01:00.0"
      numvfs: {before: 7, after: 4}
      writes: [["/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs", "0"],
               ["/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs", "4"]]
      commands: [[ip, link, set, dev, enp1s0, vf, "0", mac, "52:54:00:00:10:00"]]
      skipped: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sriov import SriovError, apply


def _write(path, value):
    with open(path, "w") as handle:
        handle.write(value)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pfs=dict(type="list", elements="dict", required=True),
            vfio_ready=dict(type="bool", default=True),
            settings=dict(type="bool", default=True),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        return module.run_command(argv)

    def load_module(name):
        rc, _out, err = module.run_command(["modprobe", name])
        if rc != 0:
            raise SriovError("modprobe %s failed: %s" % (name, err.strip()))

    try:
        report = apply(module.params["pfs"], root=module.params["root"], check_mode=module.check_mode,
                       vfio_ready=module.params["vfio_ready"], settings=module.params["settings"],
                       writer=_write, run=run, load_module=load_module)
    except SriovError as exc:
        module.fail_json(msg="pfs: %s" % exc)
    except (IOError, OSError) as exc:
        module.fail_json(msg="pfs: write failed: %s" % exc)
    for warning in report["warnings"]:
        module.warn(warning)
    module.exit_json(changed=report["changed"], pfs=report["pfs"])


if __name__ == "__main__":
    main()

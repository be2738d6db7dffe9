#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: libvirt_domain_tuning
short_description: Pin planned libvirt guests to their host CPUs, NUMA node and huge pages
version_added: 0.1.0
description:
  - For every guest of the plan (the C(guests) key of the C(kvm_host_plan) fact) that exists
    as a libvirt domain, reads the domain's persistent XML (C(VIR_DOMAIN_XML_INACTIVE)),
    rewrites only the tuning parts and redefines the domain (C(virDomainDefineXML)) when
    their meaning changed.
  - C(<vcpu>) gets C(placement='static') and loses its C(cpuset) attribute (every thread
    gets an explicit pin instead); the vCPU count is never changed. See I(CPU Allocation) in
    libvirt's domain XML format, U(https://libvirt.org/formatdomain.html#cpu-allocation).
  - C(<cputune>) gets one C(vcpupin) per vCPU, C(emulatorpin) and one C(iothreadpin) per
    IOThread the domain has; other children (C(shares), C(period), C(quota), C(vcpusched),
    C(cachetune) ...) are kept. See I(CPU Tuning),
    U(https://libvirt.org/formatdomain.html#cpu-tuning).
  - C(<numatune>) gets C(<memory mode='strict' nodeset='memory_node'/>) and, for every guest
    NUMA cell in C(<cpu><numa>), C(<memnode cellid='N' mode='strict' nodeset='memory_node'/>).
    See I(NUMA Node Tuning), U(https://libvirt.org/formatdomain.html#numa-node-tuning).
  - C(<memoryBacking>) gets C(<hugepages><page size='N' unit='KiB'/></hugepages>) when the
    guest's C(hugepages) is true, and loses C(<hugepages>) when it is false; C(locked),
    C(nosharepages), C(source), C(access), C(allocation) and the rest are kept. The page
    element has no C(nodeset), since that attribute names guest NUMA cells and without it the
    page size applies to all of them; the host node the pages come from is set by
    C(<numatune>). See I(Memory Backing),
    U(https://libvirt.org/formatdomain.html#memory-backing).
  - Sections are compared by meaning (CPU sets as sets, sizes in KiB, libvirt's defaults
    filled in), not as text, so libvirt reformatting the XML is not a change and a second
    run reports C(changed=false).
  - A running domain also gets its vCPU, emulator and IOThread pinning now through the API
    (C(virDomainPinVcpu), C(virDomainPinEmulator), C(virDomainPinIOThread)) when O(live=true)
    and its live affinity differs. C(<vcpu>), C(<numatune>) and C(<memoryBacking>) changes
    take effect at the next start of the domain and are reported in C(pending_restart).
  - Domains the plan does not name are never read or changed.
  - The XML is read with C(VIR_DOMAIN_XML_SECURE) so that redefining keeps graphics
    passwords (this needs a read-write connection); the diff shows them masked.
  - The plan must fit the domain, otherwise the module fails before changing any domain
    and names every misfit. The planned C(vcpus) must equal the domain's vCPU count (the
    text of C(<vcpu>)), the planned C(memory_mb) its C(<memory>), and every planned CPU must
    exist on the host. The domain must be persistent (defined).
author:
  - kvmops maintainers (@kvmops)
requirements:
  - libvirt-python (the C(libvirt) Python module) on the target host
options:
  guests:
    description:
      - The planned guests, the C(guests) list of the C(kvm_host_plan) fact, passed as it is.
        Keys this module does not use are ignored.
      - Each entry needs C(name) (the libvirt domain name), C(vcpus) (int), C(vcpupin)
        (a dict from vCPU number to host CPU, one entry for every vCPU C(0) to C(vcpus-1);
        the value is a CPU id, a list of CPU ids or a cpulist string), C(emulatorpin)
        (CPU ids or cpulist) and C(memory_node) (host NUMA node id, or a list of ids).
      - For a guest with C(spans_nodes=true) and a C(memory_mb_by_node) dict (both from the
        plan), the C(<numatune>) nodeset is every node that dict places memory on instead of
        C(memory_node), since the planner reserved the guest's huge pages on all of them.
      - Optional keys are C(memory_mb) (checked against the domain's memory),
        C(hugepages) (bool, default false), C(hugepage_size_kb) (required when C(hugepages)
        is true; C(memory_mb) must be a multiple of it), C(iothreadpin) (CPU ids for this
        guest's IOThreads, overrides O(iothreadpin)), C(spans_nodes) and
        C(memory_mb_by_node) (see above) and C(numa_node) (not used here).
    type: list
    elements: dict
    required: true
  uri:
    description:
      - The libvirt connection URI.
    type: str
    default: qemu:///system
  live:
    description:
      - Also pin the vCPUs, emulator and IOThreads of running domains now through the API,
        where their live affinity differs from the plan.
      - When false, such differences are reported in C(pending_restart).
    type: bool
    default: true
  iothreadpin:
    description:
      - Host CPU ids for the IOThreads of every planned guest that has no C(iothreadpin) key
        of its own.
      - When not given, each guest's IOThreads share its C(emulatorpin) CPUs.
    type: list
    elements: int
  strict:
    description:
      - Fail when a planned guest has no libvirt domain (before changing anything).
      - When false, such guests are listed in C(missing) and the others are tuned.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and predict the change without modifying the target.
    support: full
    details: No domain is redefined and no live pinning is done; C(changed), the diff,
      C(live_applied) and C(pending_restart) are the prediction.
  diff_mode:
    description: Returns what changed (or would change in check mode) in diff mode.
    support: full
    details: One diff per changed domain, its persistent XML before and after.
  platform:
    description: Target operating systems.
    support: N/A
    platforms: posix
notes:
  - The vCPU count is never changed; a plan that counts differently is an error for that
    guest, since its CPU allocation was made for a different guest.
  - C(<numatune>) memory mode and C(<memoryBacking>) cannot change in a running domain;
    restart the guest (a full shutdown and start, not a reboot inside the guest) to apply
    them.
  - Huge pages must be reserved on the host node (see M(kvmops.hypervisor.hugepages_runtime))
    before a guest with C(hugepages) can start.
seealso:
  - name: libvirt domain XML format
    description: CPU Allocation, CPU Tuning, NUMA Node Tuning and Memory Backing elements.
    link: https://libvirt.org/formatdomain.html
  - name: libvirt-python API
    description: virDomainPinVcpu, virDomainPinEmulator, virDomainPinIOThread.
    link: https://libvirt.org/html/libvirt-libvirt-domain.html
"""

EXAMPLES = r"""
- name: Pin the planned guests
  kvmops.hypervisor.libvirt_domain_tuning:
    guests: "{{ kvm_host_plan.guests }}"

- name: Only change the persistent definitions, fail on a missing guest
  kvmops.hypervisor.libvirt_domain_tuning:
    guests: "{{ kvm_host_plan.guests }}"
    live: false
    strict: true

- name: One guest written out by hand, its IOThreads on CPUs 0-1
  kvmops.hypervisor.libvirt_domain_tuning:
    uri: qemu:///system
    iothreadpin: [0, 1]
    guests:
      - name: db1
        numa_node: 1
        memory_node: 1
        vcpus: 4
        memory_mb: 8192
        hugepages: true
        hugepage_size_kb: 1048576
        vcpupin: {0: 10, 1: 11, 2: 12, 3: 13}
        emulatorpin: [8, 9]
        spans_nodes: false
"""

RETURN = r"""
guests:
  description: One entry per planned guest that has a domain, keyed by domain name.
  returned: always
  type: dict
  contains:
    changed:
      description: Whether the persistent definition changed or live pinning was applied.
      type: bool
    sections:
      description: Owned sections of the persistent XML that changed, out of C(vcpu),
        C(vcpupin), C(emulatorpin), C(iothreadpin), C(numatune), C(memoryBacking).
      type: list
      elements: str
    active:
      description: Whether the domain is running.
      type: bool
    live_applied:
      description: Pinning applied to the running domain now (C(vcpupin), C(emulatorpin),
        C(iothreadpin)); empty for a stopped domain.
      type: list
      elements: str
    pending_restart:
      description: Sections of the running domain that differ from the plan until its next
        start (C(vcpu), C(numatune), C(memoryBacking); pins when O(live=false) or when live
        pinning failed).
      type: list
      elements: str
  sample:
    vm1: {changed: true, sections: [vcpupin, emulatorpin, numatune, memoryBacking],
          active: true, live_applied: [vcpupin, emulatorpin],
          pending_restart: [numatune, memoryBacking]}
missing:
  description: Planned guests that have no libvirt domain.
  returned: always
  type: list
  elements: str
  sample: [vm7]
errors:
  description: Why the plan does not fit some domains (only on failure).
  returned: failed
  type: list
  elements: str
  sample: ["domain vm1 has 2 vCPUs but the plan pins 4: change the domain or the plan"]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.guests import validate_guests
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.tune import tune

LIBVIRT_IMPORT_ERROR = None
try:
    import libvirt
except ImportError:
    libvirt = None
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()


def _quiet(_context, _error):
    pass


def run_module(conn=None):
    """The module; tests pass ``conn``, an open libvirt connection that is left open."""
    module = AnsibleModule(
        argument_spec=dict(
            guests=dict(type="list", elements="dict", required=True),
            uri=dict(type="str", default="qemu:///system"),
            live=dict(type="bool", default=True),
            iothreadpin=dict(type="list", elements="int"),
            strict=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    try:
        guests = validate_guests(module.params["guests"], module.params["iothreadpin"])
    except DomainXMLError as exc:
        module.fail_json(msg=str(exc))
    if libvirt is None:
        module.fail_json(msg=missing_required_lib("libvirt-python"),
                         exception=LIBVIRT_IMPORT_ERROR)
    # libvirt prints every error to stderr by default; they are reported in the result.
    libvirt.registerErrorHandler(_quiet, None)
    own = conn is None
    if own:
        try:
            conn = libvirt.open(module.params["uri"])
        except libvirt.libvirtError as exc:
            module.fail_json(msg="cannot connect to libvirt at %s: %s"
                             % (module.params["uri"], exc))
    try:
        result = tune(module, conn, guests)
    finally:
        if own:
            conn.close()
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()

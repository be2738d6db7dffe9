#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds the documentation only: host_plan is an action plugin
# (plugins/action/host_plan.py) and the logic is plugins/module_utils/plan/planner.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_plan
short_description: Work out CPU isolation, huge pages, guest pinning and kernel arguments for a KVM host
version_added: 0.1.0
description:
  - Computes the C(kvm_host_plan) fact from the C(kvm_host) facts of
    M(kvmops.hypervisor.kvm_host_facts), a policy and, per role, that role's section of the
    plan (O(sections)). It runs on the controller (an action plugin) and changes nothing on
    the host; the roles apply their sections as they are.
  - The policy is each option given to the task, else the variable C(kvmops_plan_<option>)
    when it is set, else the option's default; so the roles call it with O(sections) only.
  - When the facts (O(facts), else C(kvm_host)) lack a part the planner reads (cpu, numa,
    memory, kernel, zfs, libvirt), M(kvmops.hypervisor.kvm_host_facts) runs on the host
    first (read-only, in check mode too) and C(kvm_host) is returned with the plan.
  - A plan already in the host's facts or variables that has every section asked for is
    returned as it is (computed earlier in the play, or passed in); otherwise the sections
    computed earlier in the play are kept next to the new ones.
  - Housekeeping CPUs (host, interrupts, emulator threads) are whole physical cores, by
    default the first core of every NUMA node that has CPUs; all other online CPUs are
    isolated for guest vCPUs.
  - Huge pages are planned per NUMA node, never below the node's memory reserve.
  - Guests, when given, are placed each on one NUMA node (best-fit decreasing); a guest
    that fits on no single node is spread over several (reported) or listed as unplaced
    with the reason.
  - Kernel arguments use the forms documented in the kernel's
    C(Documentation/admin-guide/kernel-parameters.txt); see C(docs/plan.md) of the
    collection for every formula and source.
  - Every invalid option fails the task with one message that names the option, before
    anything changes.
author:
  - kvmops maintainers (@kvmops)
options:
  facts:
    description:
      - The C(kvm_host) facts. Default is C(ansible_facts.kvm_host) of the host the task
        runs for (gathered by M(kvmops.hypervisor.kvm_host_facts)).
    type: dict
  housekeeping_cores_per_node:
    description:
      - Physical cores, with all their threads, kept for the host on every NUMA node that has
        CPUs. The lowest-numbered cores of the node are chosen, so the boot CPU is one of them.
      - Ignored when O(housekeeping_cpus) is given.
      - Unset, 1 core per node when the policy partitions the CPUs for another reason
        (an O(isolation) mode, O(guests), dedicated O(emulator_threads)); set, it asks for
        partitioning itself. With none of these the host keeps every CPU (no partitioning).
    type: int
  housekeeping_cpus:
    description:
      - Explicit housekeeping CPUs as a cpulist string (V(0-1,32-33)) or a list of CPU ids.
        Wins over O(housekeeping_cores_per_node).
      - Every CPU must be online, and the list must hold whole cores unless
        O(allow_split_cores=true).
    type: raw
  allow_split_cores:
    description:
      - Allow O(housekeeping_cpus) to hold only some threads of a core (the other threads then
        go to guests).
    type: bool
    default: false
  isolation:
    description:
      - How the kernel keeps itself off the isolated CPUs.
      - V(none) adds only C(irqaffinity) (the host keeps the CPUs apart with cpusets, as the
        kernel documentation advises).
      - V(isolcpus) adds C(isolcpus=domain,managed_irq,<cpus>) (flags by kernel version).
      - V(nohz_full) adds what V(isolcpus) adds plus C(nohz_full) and C(rcu_nocbs); it needs a
        kernel built with C(CONFIG_NO_HZ_FULL=y) and the boot CPU among the housekeeping CPUs.
      - C(irqaffinity) is always the housekeeping set.
    type: str
    choices: [none, isolcpus, nohz_full]
    default: none
  emulator_threads:
    description:
      - Where the QEMU emulator threads of the guests run.
      - V(housekeeping) pins them to the housekeeping CPUs of the guest's node.
      - V(dedicated) takes one more whole core per NUMA node for them (it is part of the
        housekeeping set, not isolated).
    type: str
    choices: [housekeeping, dedicated]
    default: housekeeping
  hugepage_size:
    description:
      - Size of the huge pages. V(auto) is V(1G) when the CPU has C(pdpe1gb), else V(2M).
      - V(1G) fails when the facts say the CPU lacks C(pdpe1gb).
    type: str
    choices: [auto, 2M, 1G]
    default: auto
  hugepages_percent:
    description:
      - Huge pages on every node as this percentage (0 to 100) of the node memory left after
        its reserve (see O(host_reserved_memory_mb)).
      - Without this and O(hugepages_per_node) the pool is what the placed guests with
        C(hugepages=true) need.
      - Mutually exclusive with O(hugepages_per_node).
    type: float
  hugepages_per_node:
    description:
      - 'Explicit huge page counts by NUMA node id, for example C({"0": 16, "1": 8}); nodes not listed get none.'
      - A count larger than the node, or one that leaves the node below its reserve, fails.
    type: dict
  host_reserved_memory_mb:
    description:
      - Memory in MiB kept for the host on every NUMA node, never used for huge pages or
        guests.
      - Default is 1024 MiB plus 4 % of the node's memory on nodes with CPUs, 4 % on
        memory-only nodes.
    type: int
  zfs_arc_max_mb:
    description:
      - The ZFS ARC maximum in MiB. Default is the ARC maximum in the facts (C(zfs.arc.max))
        when ZFS is present. It is spread over the nodes by their memory and added to their
        reserves.
    type: int
  guest_overhead_mb:
    description:
      - Normal (not huge page) memory in MiB each guest's QEMU process needs on its node
        besides the guest memory.
    type: int
    default: 128
  guest_spanning:
    description:
      - Spread a guest that fits on no single NUMA node over several nodes (reported in
        C(spans_nodes) and a warning) instead of leaving it unplaced.
    type: bool
    default: true
  iommu:
    description:
      - Add the IOMMU kernel arguments for the CPU vendor (C(intel_iommu=on) on Intel; nothing
        on AMD, whose IOMMU driver is on by default).
      - Since 0.3.0 in the C(sriov_vhost) section (owner C(sriov_vhost)), as the default of
        C(sriov_vhost_iommu); the C(iommu) section stays empty.
    type: bool
    default: false
  iommu_passthrough:
    description:
      - With O(iommu=true), add C(iommu=pt) (host devices bypass DMA translation; devices
        given to guests stay translated).
    type: bool
    default: false
  guests:
    description:
      - Guests to place. Each goes to one NUMA node where its vCPUs and memory fit.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Guest name, unique.
        type: str
        required: true
      vcpus:
        description: Number of vCPUs.
        type: int
        required: true
      memory_mb:
        description: Guest memory in MiB.
        type: int
        required: true
      numa_node:
        description: Place the guest on this NUMA node only (it must have CPUs).
        type: int
      hugepages:
        description: Back the guest memory with huge pages of the planned size.
        type: bool
        default: true
      smt:
        description:
          - V(exclusive) gives the guest whole cores that no other guest shares; pairs of
            vCPUs (0-1, 2-3, ...) land on sibling threads.
          - V(shared) lets shared guests use the threads of one core.
        type: str
        choices: [exclusive, shared]
        default: exclusive
  sections:
    description:
      - Section name to that role's options (without the role-name prefix), for example
        the C(hugepages) section with C(thp=madvise) and C(swappiness=10); an empty dict for
        the defaults. Each section
        holds everything its role writes (kernel arguments, sysctls, sysfs attributes, files,
        lines, mounts) in the shape of C(docs/contracts.md).
      - Known sections are C(numa_pinning), C(hugepages), C(sysctl_net), C(iommu) (always empty
        since 0.3.0), C(zfs_storage), C(nvme_queues) and C(sriov_vhost); an option error names
        the role variable (C(hugepages_swappiness)).
    type: dict
  refresh:
    description:
      - C(kvm_host) parts (C(gather_subset) names of M(kvmops.hypervisor.kvm_host_facts)) to
        gather afresh even when present; the sections in O(sections) are then recomputed
        instead of returned from an earlier plan. The C(sriov_vhost) role uses it after
        creating VFs, whose PCI addresses its udev rules need.
    type: list
    elements: str
    default: []
  facts_for:
    description:
      - Section names (as in O(sections)) whose C(kvm_host) parts are gathered too when
        missing, in the same single run of M(kvmops.hypervisor.kvm_host_facts) as the parts
        this call needs. C(playbooks/site.yml) names every role's section in its first
        task, so facts are gathered once per host and play and each role's own call finds
        them; a role run alone still gathers what its section needs.
      - Nothing is gathered when the facts already have every part.
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  as_fact:
    description:
      - V(true) returns the plan as the C(kvm_host_plan) fact.
      - V(false) returns it as the C(kvm_host_plan) key of the task's result only, for a
        C(ansible.builtin.set_fact) that keeps it as a host variable, as the collection's
        roles and playbooks do, so that a fact cache (AWX's fact storage) cannot carry the
        plan to a later run (C(docs/contracts.md)).
      - With V(false), nothing is returned when the C(kvm_host_plan) variable already holds
        the plan asked for, and a C(kvm_host_plan) that is only a fact (an earlier run's,
        from a fact cache) is not reused.
      - C(kvm_host), when gathered, is returned as a fact either way.
    type: bool
    default: true
    version_added: 0.3.0
attributes:
  action:
    description: Runs as an action plugin on the controller.
    support: full
  async:
    description: Cannot run asynchronously.
    support: none
  check_mode:
    description: Can run in check mode and return the plan it would return otherwise.
    support: full
    details: Nothing on the host is read or changed; check mode gives the same plan.
  diff_mode:
    description: Returns no diff; nothing is changed.
    support: none
  platform:
    description: Target platforms (the plan itself is computed on the controller).
    support: full
    platforms: posix
notes:
  - The planning runs on the controller; only missing facts are read on the host, with
    M(kvmops.hypervisor.kvm_host_facts).
seealso:
  - module: kvmops.hypervisor.kvm_host_facts
"""

EXAMPLES = r"""
- name: Gather the host facts
  kvmops.hypervisor.kvm_host_facts:

- name: Plan with the defaults (one housekeeping core per node, no guests)
  kvmops.hypervisor.host_plan:

- name: Plan isolated CPUs, 1G pages and two pinned guests
  kvmops.hypervisor.host_plan:
    isolation: isolcpus
    emulator_threads: dedicated
    hugepage_size: 1G
    iommu: true
    guests:
      - name: db1
        vcpus: 8
        memory_mb: 32768
      - name: web1
        vcpus: 4
        memory_mb: 8192
        smt: shared
        numa_node: 1

- name: Plan from facts held in a variable, half of each node in 2M pages
  kvmops.hypervisor.host_plan:
    facts: "{{ saved_kvm_host }}"
    hugepage_size: 2M
    hugepages_percent: 50
    housekeeping_cpus: 0-1,32-33

- name: The hugepages role's section, policy from the kvmops_plan_* variables
  kvmops.hypervisor.host_plan:
    sections:
      hugepages:
        thp: madvise
        swappiness: 10

- name: The plan as a host variable rather than a fact (what the roles do)
  kvmops.hypervisor.host_plan:
    sections:
      sysctl_net: {}
    as_fact: false
  register: __kvmops_plan_result

- name: Keep it
  ansible.builtin.set_fact:
    kvm_host_plan: "{{ __kvmops_plan_result['kvm_host_plan'] }}"
  when: __kvmops_plan_result['kvm_host_plan'] is defined
"""

RETURN = r"""
kvm_host_plan:
  description:
    - The plan, when O(as_fact=false) (the same dict as C(ansible_facts.kvm_host_plan) below);
      absent when the C(kvm_host_plan) variable already holds the plan asked for.
  returned: when O(as_fact=false)
  type: dict
  sample: {housekeeping_cpus: [0, 1, 32, 33], isolated_cpus: [2, 3]}
ansible_facts:
  description: The plan.
  returned: success
  type: dict
  contains:
    kvm_host_plan:
      description: The plan, as described in the collection's docs/plan.md.
      returned: success
      type: dict
      contains:
        housekeeping_cpus:
          description: CPUs for the host, interrupts and emulator threads.
          type: list
          elements: int
          returned: success
          sample: [0, 1, 32, 33]
        isolated_cpus:
          description: CPUs for guest vCPUs (online CPUs minus housekeeping).
          type: list
          elements: int
          returned: success
          sample: [2, 3, 4, 5]
        emulator_cpus:
          description: CPUs for the QEMU emulator threads (the housekeeping CPUs unless dedicated).
          type: list
          elements: int
          returned: success
          sample: [0, 1, 32, 33]
        housekeeping_by_node:
          description: Housekeeping CPUs per NUMA node id.
          type: dict
          returned: success
          sample: {"0": [0, 32], "1": [1, 33]}
        isolated_by_node:
          description: Isolated CPUs per NUMA node id.
          type: dict
          returned: success
          sample: {"0": [2, 34], "1": [3, 35]}
        numa_pinning:
          description:
            - The sections asked for (C(numa_pinning), C(hugepages), C(sysctl_net), C(iommu)),
              each with C(kernel_args) (ordered C([name, value]) pairs, owner = the section's
              name), C(sysctl) (C({path, values, sources, header})), C(files), C(lines),
              C(sysfs), C(boot_sysfs) and C(mounts), plus what only that role uses; see
              C(docs/contracts.md).
          type: dict
          returned: when asked for
          sample:
            kernel_args: [["isolcpus", "domain,managed_irq,2-31,34-63"], ["irqaffinity", "0-1,32-33"]]
            sysctl:
              path: /etc/sysctl.d/90-kvmops-numa.conf
              values: {"kernel.numa_balancing": "0"}
        hugepage_size_kb:
          description: The huge page size of the plan in kB.
          type: int
          returned: success
          sample: 1048576
        hugepage_pool:
          description:
            - Huge pages per size in kB and NUMA node id.
            - Empty when huge pages are not in play (no O(hugepages_percent), no
              O(hugepages_per_node) and no placed guest with huge pages).
          type: dict
          returned: success
          sample: {"1048576": {"0": 16, "1": 16}}
        reserved_memory_mb:
          description: Memory kept for the host per NUMA node id (reserve plus ZFS ARC share).
          type: dict
          returned: success
          sample: {"0": 3646, "1": 3646}
        guests:
          description:
            - Placed guests with C(name), C(numa_node), C(memory_node), C(vcpus), C(memory_mb),
              C(smt), C(hugepages), C(hugepage_size_kb), C(vcpupin) (vCPU to CPU),
              C(emulatorpin), C(spans_nodes), C(nodes) and C(memory_mb_by_node).
          type: list
          elements: dict
          returned: success
          sample:
            - name: db1
              numa_node: 0
              memory_node: 0
              vcpus: 2
              memory_mb: 4096
              smt: exclusive
              hugepages: true
              hugepage_size_kb: 1048576
              vcpupin: {"0": 2, "1": 34}
              emulatorpin: [0, 32]
              spans_nodes: false
              nodes: [0]
              memory_mb_by_node: {"0": 4096}
        unplaced:
          description: Guests that could not be placed, with C(name) and C(reason).
          type: list
          elements: dict
          returned: success
          sample: [{"name": "big", "reason": "no NUMA node has whole free cores (smt exclusive) for 40 vCPUs"}]
        warnings:
          description: Things the operator should know (also shown as task warnings).
          type: list
          elements: str
          returned: success
          sample: []
"""

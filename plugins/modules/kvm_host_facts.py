#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kvm_host_facts
short_description: Gather what a KVM hypervisor host looks like (CPU, NUMA, memory, kernel, devices)
version_added: 0.1.0
description:
  - Reads C(/sys), C(/proc), C(/boot) and C(/etc/libvirt) once and returns
    C(ansible_facts.kvm_host), the input of the C(kvmops.hypervisor.host_plan) action and
    of the audit playbook.
  - CPU topology (online and offline CPUs, physical cores, packages, last-level cache
    groups) and NUMA nodes (CPUs, memory, distances, huge pages per node and size) agree
    with hwloc (C(lstopo-no-graphics --disallowed)) on the same tree, on kernels old and
    new (modern C(core_cpus_list) / C(package_cpus_list) and the older
    C(thread_siblings_list), C(core_siblings_list) and hex masks).
  - A kernel without NUMA support is reported as one node 0 holding every online CPU.
  - Nothing is written. A missing, unreadable or malformed file gives an entry in
    C(kvm_host.warnings) and a partial answer, never a failure.
author:
  - kvmops maintainers (@kvmops)
options:
  root:
    description:
      - Root of the file system tree to read (C(/) on a host; a fixture tree or a copy of
        a host's C(/sys) and C(/proc) in tests). Symbolic links are resolved inside it.
    type: path
    default: /
  gather_subset:
    description:
      - Which parts to gather, like M(ansible.builtin.setup)'s O(ansible.builtin.setup#module:gather_subset).
      - V(all) adds every part; C(!name) excludes one; a list of only exclusions starts
        from V(all). Unknown names fail the task.
      - "Parts: V(cpu), V(numa), V(memory), V(kernel), V(iommu), V(nvme), V(sriov),
        V(vhost) (vhost-net module and device nodes), V(zfs), V(libvirt), V(qemu) (running QEMU processes),
        V(daemons) (ksmtuned, ksm, libvirtd and virtqemud units and the libvirt daemon serving QEMU),
        V(security) (LSMs, kdump, hardening sysctls, image storage),
        V(domains) (libvirt domains of the system QEMU driver, from its files),
        V(tuned) (installed, running, the active profile merged per plugin, every profile, tuned-main.conf)."
    type: list
    elements: str
    default: [all]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads, so it runs unchanged in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Run it with privileges (C(become)) to read every C(/proc/PID) of QEMU processes owned
    by other users and root-only files such as C(/etc/libvirt/qemu.conf).
seealso:
  - module: ansible.builtin.setup
"""

EXAMPLES = r"""
- name: Read the host
  kvmops.hypervisor.kvm_host_facts:

- name: Only what CPU pinning needs
  kvmops.hypervisor.kvm_host_facts:
    gather_subset: [cpu, numa, kernel]

- name: Everything but the process scan
  kvmops.hypervisor.kvm_host_facts:
    gather_subset: ['!qemu']

- name: Show the physical cores
  ansible.builtin.debug:
    msg: "{{ ansible_facts.kvm_host.cpu.core_groups }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    kvm_host:
      description:
        - The host as the collection sees it; only the gathered parts are present, plus
          C(warnings). CPU ids are integers, CPU sets sorted lists, groups sorted lists
          of sorted lists.
      returned: always
      type: complex
      contains:
        cpu:
          description:
            - vendor, model_name, flags (C(vmx), C(svm), C(pdpe1gb), C(x2apic),
              C(constant_tsc), C(hypervisor) and more, each true or false), online,
              offline, threads, cores, sockets, threads_per_core, core_groups,
              package_groups, l3_groups (CPUs sharing one last-level cache), hybrid,
              core_types, smt_control, vulnerabilities.
          returned: when gathered
          type: dict
          sample:
            vendor: GenuineIntel
            online: [0, 1, 2, 3]
            offline: []
            threads: 4
            cores: 2
            sockets: 1
            threads_per_core: 2
            core_groups: [[0, 2], [1, 3]]
            package_groups: [[0, 1, 2, 3]]
            l3_groups: [[0, 1, 2, 3]]
        numa:
          description:
            - supported (false on a kernel without NUMA) and nodes, each with id, cpus
              (online CPUs, possibly none), memory_kb, distances (row of the SLIT) and
              hugepages keyed by page size in kB (a string), each C({total, free, surplus}).
          returned: when gathered
          type: dict
          sample:
            supported: true
            nodes:
              - id: 0
                cpus: [0, 1, 2, 3]
                memory_kb: 16318888
                distances: [10]
                hugepages: {"2048": {total: 512, free: 512, surplus: 0}}
        memory:
          description:
            - total_kb, available_kb, hugepage_sizes_kb, default_hugepage_kb, hugepages
              (global pools with reserved), thp, thp_defrag, ksm_run, ksm_pages_sharing, swappiness, zswap
              (enabled, compressor, max_pool_percent, or null without zswap), swaps.
          returned: when gathered
          type: dict
        kernel:
          description:
            - release, version_tuple (C([major, minor])), cmdline (running, as tokens),
              pending_cmdline (tokens from the boot loader configuration, or null when
              unreadable), isolated and nohz_full CPUs, kvm (loaded, module, nested,
              halt_poll_ns), config (selected build options such as C(CONFIG_NO_HZ_FULL), each
              C(y), C(m), C(n) or a value) and config_source.
            - boot, what M(kvmops.hypervisor.kernel_cmdline) without an owner (the
              C(kvmops.hypervisor.reboot) role's comparison) reports before regenerating
              anything, with backend auto; backend, owned_keys, pending_owned, running_owned,
              reboot_required, regenerate_needed (C(grub.cfg) does not give the arguments the
              drop-ins hold); null when it cannot tell (no boot loader it knows, a boot
              configuration it refuses).
          returned: when gathered
          type: dict
        iommu:
          description:
            - enabled, units, groups (count), group_devices (group id to PCI addresses), domain_types,
              acpi_tables (DMAR, IVRS present), interrupt_remapping (IR- chips in /proc/interrupts;
              null when it cannot tell), allow_unsafe_interrupts (vfio_iommu_type1 parameter, null
              when the module is not loaded).
          returned: when gathered
          type: dict
        nvme:
          description:
            - Controllers with name, model, serial, firmware, transport, address, numa_node,
              queues (hardware queues), io_queue_irqs, module_parameters (poll_queues,
              write_queues of the nvme driver), namespaces and irqs.
            - Namespaces (block devices nvmeXnY; hidden multipath paths nvmeXcYnZ skipped)
              with name, blk_mq (false - a bio-based queue without the blk-mq attributes, as
              a native multipath head on Linux 6.10+; null - unknown), paths (a multipath
              head's hidden paths), size_sectors, queues, scheduler (the selected word), schedulers
              (every choice), nr_requests, read_ahead_kb, rq_affinity, nomerges, iostats,
              io_poll, wwid, partitions and holders (mounted, dm, zfs, free).
            - Irqs (the /proc/interrupts lines nvmeXqY) with irq, queue (0 is the admin
              queue), name, managed (derived - queue above 0; procfs does not show it),
              effective_affinity and smp_affinity.
          returned: when gathered
          type: list
          elements: dict
        sriov:
          description:
            - Physical functions with name, address, netdevs, mac, driver, numa_node, vendor,
              device, totalvfs, numvfs, autoprobe (sriov_drivers_autoprobe), iommu_group and vfs
              (index, address, driver, driver_override, netdev, iommu_group, domain (the running
              libvirt guest holding it), vfio_open (its /dev/vfio group open by a process)).
          returned: when gathered
          type: list
          elements: dict
        vhost:
          description: vhost_net_loaded, experimental_zcopytx, dev_vhost_net, dev_net_tun, tun_loaded.
          returned: when gathered
          type: dict
        zfs:
          description: present, pools, arc (max, min, size, target in bytes) and module parameters.
          returned: when gathered
          type: dict
        libvirt:
          description:
            - present, qemu_conf_present, qemu_conf (the settings of
              C(/etc/libvirt/qemu.conf)) and networks (name, forward_mode, bridge,
              autostart) from C(/etc/libvirt/qemu/networks).
          returned: when gathered
          type: dict
        qemu_processes:
          description:
            - Running QEMU processes with pid, name (guest), uuid, binary, seccomp (0, 1, 2) and
              no_new_privs of the main thread, threads (count), seccomp_threads and
              no_new_privs_threads (value to number of threads, from C(/proc/PID/task/*/status)),
              sandbox (the C(-sandbox) argument or null), security_label (C(/proc/PID/attr/current)),
              apparmor_label (C(/proc/PID/attr/apparmor/current)), bridge_helper and thread_context
              (what the sandbox's spawn=deny and resourcecontrol=deny break).
          returned: when gathered
          type: list
          elements: dict
        daemons:
          description:
            - units (C(ksmtuned.service), C(ksm.service), C(libvirtd.service), C(libvirtd.socket),
              C(virtqemud.service), C(virtqemud.socket)), each with present (unit file installed
              and not masked), enabled, masked and running (null for C(ksm.service), which has no
              process), read from the unit directories, C(/proc) and C(/run) without systemctl.
            - libvirt, the libvirt daemon serving QEMU (C(virtqemud), C(libvirtd) or null) and
              libvirt_running, whether its process runs.
          returned: when gathered
          type: dict
          sample:
            units:
              ksmtuned.service: {present: true, enabled: true, masked: false, running: true}
            libvirt: virtqemud
            libvirt_running: false
        security:
          description:
            - lsm (active LSMs), apparmor (enabled, active), selinux (enabled, enforcing), yama,
              libvirt_security_drivers (the drivers libvirt can use here), kdump (in_use, reasons),
              sysctl (running values of the hardening keys), image_storage (path, mount, fstype,
              trusted_xattrs of C(/var/lib/libvirt/images)).
          returned: when gathered
          type: dict
        domains:
          description:
            - config_dir (C(/etc/libvirt/qemu) exists) and defined, one entry per libvirt domain
              of the system QEMU driver, read from C(/etc/libvirt/qemu/*.xml) and the status files
              C(/run/libvirt/qemu/*.xml) (never from libvirt), sorted by name - name, uuid,
              persistent, state (libvirt's word; C(shutoff) without a status file), pid, vcpus,
              memory_kib, current_memory_kib, hugepages (C(<memoryBacking><hugepages>)),
              numatune (mode, placement, nodeset, or null) and source (the file read).
          returned: when gathered
          type: dict
        tuned:
          description:
            - installed, version, running, enabled, masked, main_conf (reapply_sysctl,
              reapply_sysctl_exclude), profile_dirs, profiles (every profile merged), active_profile,
              chain (its include chain), settings and sources per plugin (sysctl, vm, sysfs,
              bootloader, irqbalance, scheduler, cpu), variables, unresolved, bootloader (cmdline),
              errors. Read from files; tuned is never started (C(docs/contracts.md)).
          returned: when gathered
          type: dict
        warnings:
          description: Files that were unreadable or malformed; the related values are missing.
          returned: always
          type: list
          elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import (
    SubsetError,
    gather,
    resolve_subsets,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            gather_subset=dict(type="list", elements="str", default=["all"]),
        ),
        supports_check_mode=True,
    )
    try:
        subsets = resolve_subsets(module.params["gather_subset"])
    except SubsetError as exc:
        module.fail_json(msg=str(exc))
    facts = gather(Reader(module.params["root"]), subsets, which=module.get_bin_path)
    module.exit_json(changed=False, ansible_facts={"kvm_host": facts})


if __name__ == "__main__":
    main()

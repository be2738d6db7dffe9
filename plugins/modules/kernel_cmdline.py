#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kernel_cmdline
short_description: Own kernel command line arguments per role, merged without clobbering
version_added: 0.1.0
description:
  - Adds or removes the kernel arguments of one O(owner) (a role such as C(hugepages) or
    C(numa_pinning)) in the boot loader configuration, leaving the arguments of other owners
    and of the distribution alone.
  - Merges per token. A parameter name that two owners set is an error naming both owners; a
    parameter already set outside kvmops with another value is an error naming the file that
    sets it; one set there with the same value is not added again.
  - "GRUB: before anything is written, C(/etc/default/grub) and every foreign
    C(/etc/default/grub.d/*.cfg) must parse with C(sh -n) (grub-mkconfig sources them; one
    that does not would fail the regeneration after the drop-in was written); a file that
    does not is an error naming it."
  - "GRUB (Debian, Ubuntu): one drop-in per owner, C(/etc/default/grub.d/90-kvmops-<owner>.cfg),
    which appends to C(GRUB_CMDLINE_LINUX); C(/etc/default/grub) is never edited. The GRUB
    configuration is regenerated with C(grub-mkconfig) into a temporary file, checked with
    C(grub-script-check) and only then renamed over C(grub.cfg); on failure the old one stays."
  - "BLS with grubby (RHEL, Fedora): C(grubby --update-kernel=ALL --remove-args/--args), and
    C(/etc/kernel/cmdline) is kept in step when it exists. Which tokens belong to which owner is
    recorded in C(/etc/kvmops/kernel_cmdline/<owner>.args)."
  - "C(/etc/kernel/cmdline) (kernel-install, systemd-boot, unified kernel images): the file is
    edited; the owner record is kept as for grubby. Kernel images and boot entries pick the file
    up when C(kernel-install) runs next."
  - Arguments after C(--) are init's, not the kernel's; they stay after it, and new kernel
    arguments are inserted before it.
  - Without O(owner) the module changes no argument and reports the pending and running command
    lines and whether a reboot is required, also as the fact C(kvmops_reboot_required) (what the
    C(kvmops.hypervisor.reboot) role uses). With O(regenerate=true) it regenerates a GRUB
    configuration that is out of date for the arguments kvmops owns.
author:
  - kvmops maintainers (!UNKNOWN)
options:
  owner:
    description:
      - Short name of the owner of O(args), usually the role name. It names the drop-in or
        record file, so 1-64 lower-case letters, digits, C(_) or C(-).
      - Omit it (and O(args)) to only report the state of the command line.
    type: str
  args:
    description:
      - The owner's kernel arguments, in order.
      - "A mapping C(name: value); C(null) as the value gives a flag such as C(nosoftlockup)."
      - "Or a list whose items are C(name=value) or C(flag) strings, C([name, value]) pairs or
        one-key mappings. Only a list can repeat a name, in the order the kernel needs, for
        example C(hugepagesz=1G hugepages=0:4 hugepagesz=2M hugepages=0:512)."
      - "Names are letters, digits, C(_), C(.) and C(-); values are letters, digits and
        C(_ . , : / @ % + = ~ ^ ! -). Anything else (quotes, spaces, C($)) is rejected before
        anything is written, naming the argument."
      - With O(state=present) these are all of the owner's arguments; arguments the owner had
        before and that are not listed are removed.
      - With O(state=absent) all of the owner's arguments are removed; O(args), if given, are
        only validated, so one task can switch between V(present) and V(absent).
    type: raw
  state:
    description:
      - Whether the owner's arguments are present or absent.
    type: str
    choices: [present, absent]
    default: present
  backend:
    description:
      - Where the arguments are written.
      - V(auto) picks V(grubby) on hosts with BLS entries and C(grubby), V(grub) where
        C(/etc/default/grub) or a C(grub.cfg) exists (or on Debian and Ubuntu whose boot loader
        is not installed yet), else V(kernel_cmdline_file) where C(/etc/kernel/cmdline) or BLS
        entries exist. Without an owner, a host with none of these reports that no reboot is
        required; with one, the module fails and asks for O(backend).
    type: str
    choices: [auto, grub, grubby, kernel_cmdline_file]
    default: auto
  regenerate:
    description:
      - Regenerate the GRUB configuration now when this call changed a drop-in (or found
        C(grub.cfg) out of date for the arguments kvmops owns).
      - Roles set V(false) and notify C(kvmops boot config changed); the handler that listens
        to it, C(Regenerate the boot loader configuration) in the C(kvmops.hypervisor.plan)
        role (C(roles/plan/handlers/main.yml)), regenerates once per play with
        O(regenerate_only=true). The C(kvmops.hypervisor.reboot) role flushes handlers before
        it compares command lines.
      - When V(false) and a regeneration is needed the result is changed and has
        RV(regenerate_needed=true) until it happens.
    type: bool
    default: true
  regenerate_only:
    description:
      - Only regenerate the GRUB configuration (the handler). Cannot be combined with
        O(owner) or O(args). Does nothing on the other backends.
    type: bool
    default: false
  root:
    description:
      - Internal, for tests; leave it at V(/) on hosts.
      - Root of the file system tree to read and write.
      - "With a root other than V(/) the module writes the files under it and runs no command
        (C(grub-mkconfig) or C(update-grub), C(grub-script-check), C(grubby), C(kernel-install)):
        they would act on the running system, not on the tree. The commands not run are
        returned in RV(commands_skipped), with a warning, and RV(regenerate_needed) stays
        V(true)."
    type: path
    default: /
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is written and no tool is run; the diff and RV(pending) are predicted.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: The command line the boot loader configuration gives, before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - The kernel parses arguments as C(next_arg()) in C(lib/cmdline.c) does; C(--) ends the
    kernel's arguments (C(Documentation/admin-guide/kernel-parameters.rst)).
  - grubby keeps one value per parameter name, so an owner whose arguments repeat a name is
    rejected on the V(grubby) backend.
  - "The roles that add kernel arguments defer the GRUB regeneration to one handler,
    C(Regenerate the boot loader configuration) (C(listen: kvmops boot config changed)),
    defined in the C(kvmops.hypervisor.plan) role (C(roles/plan/handlers/main.yml)), which
    every applying role imports."
  - See C(docs/kernel_cmdline.md) in the collection for the design.
seealso:
  - name: The kernel's command-line parameters
    description: Syntax of the kernel command line and every parameter.
    link: https://docs.kernel.org/admin-guide/kernel-parameters.html
  - name: GRUB simple configuration
    description: GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT.
    link: https://www.gnu.org/software/grub/manual/grub/html_node/Simple-configuration.html
"""

EXAMPLES = r"""
- name: Huge pages at boot (repeated names, so a list, in order)
  kvmops.hypervisor.kernel_cmdline:
    owner: hugepages
    args:
      - default_hugepagesz=1G
      - [hugepagesz, 1G]
      - [hugepages, "0:4,1:4"]
      - [hugepagesz, 2M]
      - [hugepages, "0:512"]
    regenerate: false
  notify: kvmops boot config changed

- name: CPU isolation as a mapping, with a flag
  kvmops.hypervisor.kernel_cmdline:
    owner: numa_pinning
    args:
      isolcpus: managed_irq,domain,2-15
      nohz_full: 2-15
      rcu_nocbs: 2-15
      nosoftlockup: null

- name: Drop everything one owner added
  kvmops.hypervisor.kernel_cmdline:
    owner: sriov_vhost
    state: absent

- name: Regenerate the GRUB configuration once (a handler)
  kvmops.hypervisor.kernel_cmdline:
    regenerate_only: true

- name: Is a reboot needed for the arguments kvmops owns?
  kvmops.hypervisor.kernel_cmdline:
  register: cmdline_state
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: always
  type: str
  sample: grub
tokens:
  description: The owner's arguments after this call (including those skipped as present).
  returned: always
  type: list
  elements: str
  sample: [default_hugepagesz=1G, hugepagesz=1G, hugepages=0:4]
present_elsewhere:
  description:
    - The owner's arguments already set, identically, outside kvmops, so not added.
    - Not named C(skipped), which is Ansible's own result key; a list there shows the task as skipped.
  returned: always
  type: list
  elements: str
  sample: []
pending:
  description:
    - Tokens of the command line the next boot gets, quotes removed as the kernel does.
    - Read back from C(grub.cfg) after a regeneration, else predicted. Null when unknown.
  returned: always
  type: list
  elements: str
  sample: [BOOT_IMAGE=/vmlinuz-6.1.0-13-amd64, root=/dev/vda1, ro, quiet, hugepagesz=1G]
running:
  description: Tokens of C(/proc/cmdline); null when it cannot be read.
  returned: always
  type: list
  elements: str
  sample: [BOOT_IMAGE=/vmlinuz-6.1.0-13-amd64, root=/dev/vda1, ro, quiet]
owned_keys:
  description: Parameter names kvmops owns on this host (all owners), sorted.
  returned: always
  type: list
  elements: str
  sample: [hugepages, hugepagesz, isolcpus]
pending_owned:
  description: The tokens of RV(pending) whose name kvmops owns, in order (null when unknown).
  returned: always
  type: list
  elements: str
  sample: [hugepagesz=1G, hugepages=0:4]
running_owned:
  description: The tokens of RV(running) whose name kvmops owns, in order (null when unknown).
  returned: always
  type: list
  elements: str
  sample: []
reboot_required:
  description: The pending and running command lines differ on a parameter kvmops owns.
  returned: always
  type: bool
  sample: true
reboot_ignored:
  description:
    - "When a reboot is required and the C(kvmops.hypervisor.reboot) role recorded that the
      last reboot came back without these same arguments (in C(/var/lib/kvmops/reboot-ignored.json)),
      that record (C(pending_owned), C(running_owned), C(time)); the role then refuses to
      reboot again. Null otherwise, and when the pending arguments differ from the record."
  returned: always
  type: dict
  sample: null
ansible_facts:
  description: Set by the status call only (no O(owner), no O(regenerate_only)).
  returned: when O(owner) is not given
  type: dict
  contains:
    kvmops_reboot_required:
      description: Same as RV(reboot_required); the C(kvmops.hypervisor.reboot) role reads it.
      type: bool
      returned: when O(owner) is not given
      sample: false
regenerated:
  description: The GRUB configuration was regenerated and its content changed.
  returned: always
  type: bool
  sample: false
regenerate_needed:
  description:
    - The GRUB configuration still has to be regenerated (O(regenerate=false), check mode, or
      C(grub-mkconfig) not installed yet).
  returned: always
  type: bool
  sample: false
files:
  description: Files (under O(root)) written or removed, or that would be in check mode.
  returned: always
  type: list
  elements: str
  sample: [/etc/default/grub.d/90-kvmops-hugepages.cfg]
commands:
  description:
    - Commands of the backend run (or that would run in check mode, or were not run because
      O(root) is not V(/)), as argument lists. The GRUB regeneration is not listed here.
  returned: always
  type: list
  elements: list
  sample: [[/usr/sbin/grubby, --update-kernel=ALL, --args=intel_iommu=on iommu=pt]]
commands_skipped:
  description:
    - Commands not run because O(root) is not V(/) (they act on the running system), as
      argument lists, the GRUB regeneration included. Empty with O(root=/) and in check mode.
  returned: always
  type: list
  elements: list
  sample: [[/usr/sbin/grub-mkconfig, -o, /boot/grub/grub.cfg], [/usr/sbin/grub-script-check, /boot/grub/grub.cfg]]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.steps import (
    StepError,
    kernel_cmdline,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            owner=dict(type="str"),
            args=dict(type="raw"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            backend=dict(type="str", default="auto",
                         choices=["auto", "grub", "grubby", "kernel_cmdline_file"]),
            regenerate=dict(type="bool", default=True),
            regenerate_only=dict(type="bool", default=False),
            root=dict(type="path", default="/"),
        ),
        mutually_exclusive=[("regenerate_only", "owner"), ("regenerate_only", "args")],
        required_by={"args": "owner"},
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = kernel_cmdline(module, params)
    except StepError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if params["owner"] is None and not params["regenerate_only"]:
        result["ansible_facts"] = dict(kvmops_reboot_required=result["reboot_required"])
    diffs = result.pop("diff")
    if diffs:
        result["diff"] = diffs[0]
    module.exit_json(**result)


if __name__ == "__main__":
    main()

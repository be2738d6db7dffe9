#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hugepages_runtime
short_description: Allocate persistent huge pages per NUMA node at runtime
version_added: 0.1.0
description:
  - Writes the planned page count of every page size and NUMA node to
    C(/sys/devices/system/node/nodeN/hugepages/hugepages-<size>kB/nr_hugepages), reads back
    what the kernel really gave and, when that is fewer pages than planned, compacts memory
    (C(/proc/sys/vm/compact_memory)) and tries again.
  - Reports, per node and page size, how many pages were planned, present before and present
    after. Fails when a node comes up short unless O(allow_partial=true).
  - Sources are C(Documentation/admin-guide/mm/hugetlbpage.rst) (per-node pools) and
    C(Documentation/admin-guide/sysctl/vm.rst) (C(compact_memory)).
  - Boot-time pages are a kernel command line matter (see M(kvmops.hypervisor.kernel_cmdline));
    this module only changes the running kernel.
extends_documentation_fragment:
  - kvmops.hypervisor.root
author:
  - kvmops maintainers (@kvmops)
options:
  pages:
    description:
      - 'Planned pages, C({"<size_kb>": {"<node>": count}}), the C(hugepages) key of the
        C(kvm_host_plan) fact.'
      - A pool that is already at its count is not written. A count lower than the current
        one frees pages (pages in use become surplus and are freed when released).
    type: dict
    required: true
  allow_partial:
    description:
      - When the kernel gives fewer pages than planned on some node, report it as a warning
        and succeed instead of failing.
      - When false, O(pages) naming a node or page size this host has no pool for fails before
        any pool is written; when true, the other pools are allocated and that one is reported short.
    type: bool
    default: false
  compaction_retries:
    description:
      - How many times to compact memory and retry the short pools. V(0) disables compaction.
    type: int
    default: 2
attributes:
  check_mode:
    description: Can run in check mode and predict the change without modifying the target.
    support: full
    details: Nothing is written; C(got) is the planned count (the prediction).
  diff_mode:
    description: Returns what changed (or would change in check mode) in diff mode.
    support: full
    details: The values before and after, one line per attribute or pool.
  platform:
    description: Target operating systems.
    support: N/A
    platforms: posix
notes:
  - The planned count of a page size that the kernel does not offer on a node (no such
    directory) counts as short; a count of V(0) for it is ignored.
seealso:
  - name: Huge pages in the kernel documentation
    description: Per-node pools and how the kernel satisfies a request.
    link: https://docs.kernel.org/admin-guide/mm/hugetlbpage.html
"""

EXAMPLES = r"""
- name: Allocate the planned huge pages now
  kvmops.hypervisor.hugepages_runtime:
    pages: "{{ kvm_host_plan.hugepages }}"
    allow_partial: false

- name: Two 1 GiB pages on node 0 and 512 pages of 2 MiB on node 1, accept less
  kvmops.hypervisor.hugepages_runtime:
    pages:
      "1048576": {"0": 2}
      "2048": {"1": 512}
    allow_partial: true
"""

RETURN = r"""
nodes:
  description: One entry per page size and NUMA node.
  returned: always
  type: list
  elements: dict
  contains:
    size_kb:
      description: Page size in kB.
      type: int
    node:
      description: NUMA node id.
      type: int
    planned:
      description: Pages asked for.
      type: int
    before:
      description: Pages the node had before, null when the pool does not exist.
      type: int
    got:
      description: Pages the node has now (in check mode the prediction).
      type: int
    path:
      description: The C(nr_hugepages) file of the pool.
      type: str
    missing:
      description: Whether the kernel has no such pool on this node.
      type: bool
    error:
      description: The write error, if the kernel refused the write.
      type: str
  sample:
    - {size_kb: 1048576, node: 0, planned: 4, before: 0, got: 4, missing: false, error: null,
       path: /sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages}
short:
  description: The entries of O(pages) that got fewer pages than planned.
  returned: always
  type: list
  elements: dict
  sample: []
short_summary:
  description: One line per short pool, naming node, size and counts.
  returned: always
  type: list
  elements: str
  sample: ["node 1: 1048576 kB pages 3 of 4"]
compactions:
  description: How many times memory was compacted for a retry.
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.hugepages import (
    HugepagesError,
    allocate,
    describe_short,
    missing_pools,
    render_state,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pages=dict(type="dict", required=True),
            allow_partial=dict(type="bool", default=False),
            compaction_retries=dict(type="int", default=2),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    if module.params["compaction_retries"] < 0:
        module.fail_json(msg="compaction_retries must not be negative, got %d"
                         % module.params["compaction_retries"])
    try:
        # a plan for another host (a node or page size this one lacks): refused before any write
        missing = None
        if not module.params["allow_partial"]:
            missing = missing_pools(module.params["pages"], module.params["root"])
        if missing:
            module.fail_json(msg="pages: %s" % missing)
        report = allocate(
            module.params["pages"],
            root=module.params["root"],
            compaction_retries=module.params["compaction_retries"],
            check_mode=module.check_mode,
        )
    except HugepagesError as exc:
        module.fail_json(msg="pages: %s" % exc)

    for warning in report["warnings"]:
        module.warn(warning)
    summary = describe_short(report["short"])
    result = dict(
        changed=report["changed"],
        nodes=report["nodes"],
        short=report["short"],
        short_summary=summary,
        compactions=report["compactions"],
    )
    if module._diff:
        result["diff"] = dict(
            before_header="nr_hugepages (before)",
            after_header="nr_hugepages (after)",
            before=render_state(report["nodes"], "before"),
            after=render_state(report["nodes"], "got"),
        )
    if summary:
        message = "the kernel gave fewer huge pages than planned: %s" % "; ".join(summary)
        if not module.params["allow_partial"]:
            module.fail_json(msg=message + " (set allow_partial to accept this)", **result)
        module.warn(message)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

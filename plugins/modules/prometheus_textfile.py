#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: prometheus_textfile
short_description: Write the host's kvmops metrics for node_exporter's textfile collector
version_added: 0.3.0
description:
  - Renders the audit report, the C(kvm_host) facts and the C(kvm_host_plan) as Prometheus
    gauges (C(kvmops_*), listed in C(docs/report.md)) and writes them to O(directory)/O(filename)
    atomically (a temporary file in the same directory, mode C(0644), then renamed over the
    old one), so node_exporter never reads half a file.
  - No sample carries a timestamp (node_exporter refuses such a file); the run time is the
    value of C(kvmops_last_run_timestamp_seconds).
  - The run history of other playbooks in the earlier file is kept, and so is this playbook's
    C(kvmops_last_success_timestamp_seconds) when O(success) is false.
  - Reports C(changed) only when something other than the run timestamps differs from the
    earlier file; the file is rewritten on every run (outside check mode) so its mtime shows
    the last run.
author:
  - kvmops maintainers (@kvmops)
options:
  directory:
    description: Directory of node_exporter's textfile collector (C(--collector.textfile.directory)); created (mode C(0755)) when missing.
    type: path
    default: /var/lib/prometheus/node-exporter
  filename:
    description: File name; must end in C(.prom) (the collector reads nothing else).
    type: str
    default: kvmops.prom
  playbook:
    description: The C(playbook) label of the run metrics (C(audit), C(site)).
    type: str
    default: audit
  success:
    description: Whether the run completed; false keeps the earlier last-success time.
    type: bool
    default: true
  report:
    description: The result of the C(kvmops.hypervisor.audit_report) filter; without it no audit metrics.
    type: dict
  facts:
    description: The C(kvm_host) facts (CPUs, huge pages per node, QEMU processes).
    type: dict
  plan:
    description: The C(kvm_host_plan) (CPU roles, planned huge pages).
    type: dict
attributes:
  check_mode:
    description: Renders and compares, writes nothing.
    support: full
  diff_mode:
    description: Shows the old and new text.
    support: full
"""

EXAMPLES = r"""
- name: Metrics for node_exporter
  kvmops.hypervisor.prometheus_textfile:
    report: "{{ __audit_report }}"
    facts: "{{ kvm_host }}"
    plan: "{{ kvm_host_plan }}"
    playbook: audit
"""

RETURN = r"""
path:
  description: The file written.
  returned: always
  type: str
text:
  description: The metrics text.
  returned: always
  type: str
"""

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.report.metrics import (
    DEFAULT_FILENAME,
    MetricsError,
    build,
    run_history,
    without_run_times,
)


def write_atomically(path, text):
    """Write ``text`` to a temporary file next to ``path`` (not named *.prom, so the
    collector skips it), mode 0644, flushed to disk, then rename it over ``path``."""
    directory, name = os.path.split(path)
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".%s." % name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), 0o644)
            os.fsync(stream.fileno())
        os.rename(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directory=dict(type="path", default="/var/lib/prometheus/node-exporter"),
            filename=dict(type="str", default=DEFAULT_FILENAME),
            playbook=dict(type="str", default="audit"),
            success=dict(type="bool", default=True),
            report=dict(type="dict"),
            facts=dict(type="dict"),
            plan=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    filename = params["filename"]
    if "/" in filename or not filename.endswith(".prom") or filename.startswith("."):
        module.fail_json(msg="filename must be a plain name ending in .prom, not %r" % filename)
    path = os.path.join(params["directory"], filename)
    previous = None
    if os.path.isfile(path):
        with open(path) as stream:
            previous = stream.read()
    runs = run_history(previous, params["playbook"], params["success"], int(time.time()))
    try:
        text = build(params["report"], params["facts"], params["plan"], runs)
    except MetricsError as exc:
        module.fail_json(msg="kvmops.hypervisor.prometheus_textfile: %s" % exc)
    changed = previous is None or without_run_times(previous) != without_run_times(text)
    result = dict(changed=changed, path=path, text=text)
    if module._diff:
        result["diff"] = dict(before=previous or "", after=text, before_header=path, after_header=path)
    if not module.check_mode:
        try:
            if not os.path.isdir(params["directory"]):
                os.makedirs(params["directory"], 0o755)
            write_atomically(path, text)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot write %s: %s" % (path, exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: run_lock
short_description: One kvmops run per host at a time (a host-side lock file)
version_added: 0.3.0
description:
  - Takes or releases C(/var/lib/kvmops/run.lock), created atomically (C(O_EXCL)) with the
    run's identity. Under C(/var/lib), not C(/run), so it survives the reboot of its own run.
  - "Use the action of the same name (what a task calls): it computes the run's identity on
    the controller, waits up to C(kvmops_lock_wait) seconds for another run, and takes over a
    lock whose holder ran on the same controller and is gone. The module alone makes one attempt."
  - "The action also takes C(apply_runtime) (V(false), image mode: nothing is done, an image must
    not carry a lock) and C(held_by) (the C(run_id) of this task's last result, which the roles
    register: when it is this run's, acquiring asks nothing of the host, and a release by a run
    that took no lock asks nothing either). So every role can start with this one task
    (C(roles/plan/tasks/check.yml)) at the cost of one module run per host and run."
  - Never reports C(changed), as the lock is bookkeeping, not configuration (a second converge
    still reports 0 changed). In check mode it writes nothing and reports what it would do.
options:
  state:
    description: V(acquired) takes the lock (or confirms this run holds it); V(released) removes it if this run holds it.
    type: str
    choices: [acquired, released]
    default: acquired
  run_id:
    description: The run's identity, set by the action (controller, ansible-playbook's pid and start time).
    type: str
    required: true
  holder:
    description: What the lock records about the run besides O(run_id) (controller, pid, playbook, user, time_text).
    type: dict
    default: {}
  stale_after:
    description: A lock older than this many seconds is stale and taken over (with a warning).
    type: int
    default: 7200
  break_run_id:
    description: Take over the lock if this run id holds it (the action passes it when that run's process is gone).
    type: str
  path:
    description: The lock file.
    type: path
    default: /var/lib/kvmops/run.lock
extends_documentation_fragment:
  - kvmops.hypervisor.root
author:
  - kvmops maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: One kvmops run on this host at a time
  kvmops.hypervisor.run_lock:
    state: acquired
"""

RETURN = r"""
status:
  description:
    - held, acquired, would-acquire, taken-over, busy (another run holds it), released, not-held.
    - "Set by the action without asking the host: image-mode (C(apply_runtime=false): no lock in an image),
      held-by-this-run (C(held_by) is this run: taken already), not-taken (a release by a run that took none)."
  returned: always
  type: str
holder:
  description: The record of the run that holds (held) the lock when it is not this one.
  returned: always
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.run_lock import (
    acquire,
    release,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="acquired", choices=["acquired", "released"]),
            run_id=dict(type="str", required=True),
            holder=dict(type="dict", default={}),
            stale_after=dict(type="int", default=7200),
            break_run_id=dict(type="str"),
            path=dict(type="path", default="/var/lib/kvmops/run.lock"),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["stale_after"] < 60:
        module.fail_json(msg="kvmops_lock_stale_after: must be at least 60 seconds, got %d" % params["stale_after"])
    path = os.path.join(params["root"], params["path"].lstrip("/"))
    try:
        if params["state"] == "released":
            done = release(path, params["run_id"], check=module.check_mode)
            module.exit_json(changed=False, status="released" if done else "not-held", holder={})
        now = time.time()
        record = dict(params["holder"], run_id=params["run_id"], time=now,
                      time_text=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
        status, holder = acquire(path, record, now, params["stale_after"],
                                 break_run_id=params["break_run_id"], check=module.check_mode)
    except (IOError, OSError) as exc:
        module.fail_json(msg="run_lock: %s: %s" % (path, exc))
    if status == "taken-over":
        module.warn("took over %s from a run that is gone or older than %d s: %s" % (
            params["path"], params["stale_after"], holder))
    module.exit_json(changed=False, status=status, holder=holder or {})


if __name__ == "__main__":
    main()

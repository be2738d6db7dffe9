# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvmops.hypervisor.run_lock: one kvmops run per host at a time.

The module (same name) makes one attempt on the host; this action gives it the run's
identity and decides what only the controller can: whether the run holding the lock is
this controller's and gone (then it is taken over), and how long to wait for a live one
(``wait``, else ``kvmops_lock_wait``, default 0: fail at once, naming the holder).
``kvmops_lock_path`` moves the lock (tests that run the roles on the real machine).

Two arguments of the action alone make it the one prologue task of every role
(roles/plan/tasks/check.yml) without a remote run where none is needed (docs/fleet.md):
``apply_runtime`` false (image mode: an image must not carry a lock) does nothing, and
``held_by`` equal to this run's identity (the ``run_id`` of this task's last result, which
the roles register) means this run took the lock already: acquiring it again, or releasing
a lock this run never took, asks nothing of the host.

The run's identity is the controller's host name, the pid of ansible-playbook (the
workers' parent) and that process's start time (so a reused pid is another run).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import os
import socket
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


def process_start(pid, proc="/proc"):
    """Start time (clock ticks since boot) of ``pid``, or None when it does not exist."""
    try:
        with open("%s/%d/stat" % (proc, pid)) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    # the command name may hold spaces and parentheses: fields follow the last ')'
    fields = text[text.rindex(")") + 2:].split()
    return fields[19]


def run_identity(pid=None, host=None, proc="/proc"):
    pid = os.getppid() if pid is None else pid
    host = socket.gethostname() if host is None else host
    return "%s:%d:%s" % (host, pid, process_start(pid, proc) or "0")


def holder_is_gone(run_id, host=None, proc="/proc"):
    """The holder ran on this controller and its process is gone (or is another one)."""
    host = socket.gethostname() if host is None else host
    parts = (run_id or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    return process_start(int(parts[1]), proc) != parts[2]


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(("state", "wait", "stale_after", "apply_runtime", "held_by"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        state = args.get("state", "acquired")
        if state not in ("acquired", "released"):
            raise AnsibleActionFail("state: must be acquired or released, got %r" % (state,))
        try:
            apply_runtime = boolean(args.get("apply_runtime", True), strict=True)
        except TypeError:
            raise AnsibleActionFail("kvmops_apply_runtime: must be a boolean (true: a live host, false: image "
                                    "mode), got %r" % (args.get("apply_runtime"),))
        run_id = run_identity()
        if not apply_runtime:
            result.update(changed=False, status="image-mode", locked=False, run_id=run_id, holder={})
            return result
        held = bool(args.get("held_by")) and args.get("held_by") == run_id
        if held == (state == "acquired"):
            # acquired by this run already, or released without having been taken
            result.update(changed=False, status="held-by-this-run" if held else "not-taken", locked=held,
                          run_id=run_id, holder={})
            return result
        wait = args.get("wait", task_vars.get("kvmops_lock_wait", 0))
        stale_after = args.get("stale_after", task_vars.get("kvmops_lock_stale_after", 7200))
        try:
            wait = int(wait)
            stale_after = int(stale_after)
        except (TypeError, ValueError):
            raise AnsibleActionFail("kvmops_lock_wait and kvmops_lock_stale_after: must be integers (seconds), "
                                    "got %r and %r" % (wait, stale_after))
        if wait < 0:
            raise AnsibleActionFail("kvmops_lock_wait: must be 0 (fail at once) or more seconds, got %d" % wait)
        module_args = {"state": state, "run_id": run_id, "stale_after": stale_after,
                       "path": task_vars.get("kvmops_lock_path") or "/var/lib/kvmops/run.lock",
                       "holder": {"controller": socket.gethostname(), "pid": os.getppid(),
                                  "playbook": os.path.basename(str(task_vars.get("ansible_play_name") or "?")),
                                  "user": getpass.getuser()}}
        deadline = time.time() + wait
        while True:
            reply = self._execute_module(module_name="kvmops.hypervisor.run_lock", module_args=module_args,
                                         task_vars=task_vars)
            if reply.get("failed") or reply.get("status") != "busy":
                break
            holder = reply.get("holder") or {}
            if holder_is_gone(holder.get("run_id")):
                module_args["break_run_id"] = holder.get("run_id")
                continue
            if time.time() >= deadline:
                reply = dict(reply, failed=True, msg=(
                    "another kvmops run holds this host's lock (/var/lib/kvmops/run.lock): run %s from %s "
                    "(pid %s, play %s, user %s) since %s. Waited %d s (kvmops_lock_wait). Let it finish; if "
                    "that run is gone (its controller died), remove the file or wait until it is older than "
                    "kvmops_lock_stale_after (%d s)." % (
                        holder.get("run_id", "?"), holder.get("controller", "?"), holder.get("pid", "?"),
                        holder.get("playbook", "?"), holder.get("user", "?"), holder.get("time_text", "?"),
                        wait, stale_after)))
                break
            time.sleep(min(10, max(1, deadline - time.time())))
        result.update(reply)
        result["changed"] = False
        result["run_id"] = run_id
        result["locked"] = bool(state == "acquired" and not reply.get("failed")
                                and reply.get("status") in ("held", "acquired", "would-acquire", "taken-over"))
        return result

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# kvmops.hypervisor.kvmops_counts: what a run executed on each host, per role and per task,
# and how often facts were gathered per host and play, written as JSON at the end. The
# fleet benchmark (tests/bench/bench_fleet.py) reads it next to its own count of the
# Python processes started on each host.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: kvmops_counts
type: aggregate
short_description: Count the task results that ran on each host, per role, and the fact gatherings per play
version_added: 0.3.0
description:
  - Counts, per host, the task results that ran a module on the host; per role (the role
    a task belongs to, C((play)) for a play's own tasks) and per task. A task result
    counts once, a loop's results once per item that was not skipped.
  - Not counted, as they run on the controller only, are skipped results, C(set_fact),
    C(debug), C(assert), C(fail), C(meta), C(set_stats), includes and imports,
    C(validate_argument_spec), C(add_host), C(group_by), C(pause), tasks delegated to
    C(localhost), and M(kvmops.hypervisor.host_plan) results that planned from facts
    already known (it runs M(kvmops.hypervisor.kvm_host_facts) on the host only when it
    returns C(kvm_host)), and M(kvmops.hypervisor.run_lock) results its action decided
    alone (image mode, a lock this run holds already, a release with none taken).
  - Counts the fact gatherings per host and play, C(setup), C(gather_facts),
    M(kvmops.hypervisor.kvm_host_facts) and M(kvmops.hypervisor.host_plan) results that
    gathered C(kvm_host) (the goal is once per host and play).
  - Writes one JSON document when the playbook ends (O(output)); nothing is printed but
    its path. Enable it with C(callbacks_enabled = kvmops.hypervisor.kvmops_counts).
options:
  output:
    description:
      - The JSON file written at the end of the playbook (replaced).
      - Unset, nothing is written.
    type: path
    env:
      - name: KVMOPS_COUNTS_FILE
    ini:
      - section: callback_kvmops_counts
        key: output
requirements:
  - enabled in callbacks_enabled
"""

import json  # noqa: E402 (after DOCUMENTATION, as in ansible-core's plugins)
import os  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402

# Actions that run on the controller alone (never a module on the host).
CONTROLLER_ACTIONS = frozenset((
    "set_fact", "debug", "assert", "fail", "meta", "set_stats", "include_role", "import_role",
    "include_tasks", "import_tasks", "include", "include_vars", "import_playbook",
    "validate_argument_spec", "add_host", "group_by", "pause", "end_play", "end_host", "end_batch",
))
# Actions that gather facts on the host every time they run.
FACT_ACTIONS = frozenset(("setup", "gather_facts", "kvm_host_facts"))
# Action plugins of ours that run a module on the host only when they gather kvm_host.
PLANNER_ACTIONS = frozenset(("host_plan",))
# run_lock's results that its action decided without running its module on the host.
LOCK_LOCAL_STATUSES = frozenset(("image-mode", "held-by-this-run", "not-taken"))
CONTROLLER_HOSTS = frozenset(("localhost", "127.0.0.1", "::1"))
PLAY_ROLE = "(play)"


def short_action(action):
    """``set_fact`` for ``ansible.builtin.set_fact``, ``host_plan`` for
    ``kvmops.hypervisor.host_plan``: the last dotted part."""
    return (action or "").rsplit(".", 1)[-1]


def role_of(task):
    """The name of the role a task comes from (with its collection when it has one), else
    ``(play)``."""
    role = getattr(task, "_role", None)
    if role is None:
        return PLAY_ROLE
    name = role.get_name() if hasattr(role, "get_name") else str(role)
    return name or PLAY_ROLE


def gathered_kvm_host(data):
    return isinstance(data, dict) and "kvm_host" in (data.get("ansible_facts") or {})


def runs_on_host(task, data):
    """Did this (not skipped) result execute something on the host?"""
    action = short_action(getattr(task, "action", ""))
    if action in CONTROLLER_ACTIONS:
        return False
    delegate = getattr(task, "delegate_to", None)
    if isinstance(delegate, str) and delegate in CONTROLLER_HOSTS:
        return False
    if action in PLANNER_ACTIONS:
        return gathered_kvm_host(data)
    if action == "run_lock":
        return data.get("status") not in LOCK_LOCAL_STATUSES
    return True


def gathers_facts(task, data):
    action = short_action(getattr(task, "action", ""))
    if action in FACT_ACTIONS:
        return True
    return action in PLANNER_ACTIONS and gathered_kvm_host(data)


class Counts(object):
    """The counting, apart from Ansible's callback plumbing (unit-tested alone)."""

    def __init__(self):
        self.plays = []
        self.hosts = {}

    def play(self, name):
        self.plays.append(name or "play %d" % (len(self.plays) + 1))

    def _host(self, name):
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = {"remote": 0, "roles": {}, "tasks": {}, "facts": {}}
        return host

    def result(self, host_name, task, data, item=False):
        """One task result (``item``: one item of a loop). Skipped results and loop
        summaries (their items are counted) are left to the caller not to pass."""
        data = data if isinstance(data, dict) else {}
        if not item and isinstance(data.get("results"), list):
            return  # the loop's summary: its items were counted one by one
        play = self.plays[-1] if self.plays else "play 1"
        host = self._host(host_name)
        if gathers_facts(task, data):
            host["facts"][play] = host["facts"].get(play, 0) + 1
        if not runs_on_host(task, data):
            return
        role = role_of(task)
        label = "%s: %s" % (role, getattr(task, "name", None) or getattr(task, "action", ""))
        host["remote"] += 1
        host["roles"][role] = host["roles"].get(role, 0) + 1
        host["tasks"][label] = host["tasks"].get(label, 0) + 1

    def document(self):
        roles = {}
        for host in self.hosts.values():
            for role, count in host["roles"].items():
                roles[role] = roles.get(role, 0) + count
        return {"plays": self.plays, "hosts": self.hosts, "roles": roles}


def _parts(result):
    """(host name, task, result data) of a callback's task result (ansible-core 2.17 to
    2.19 and later)."""
    host = getattr(result, "host", None) or result._host
    task = getattr(result, "task", None) or result._task
    data = getattr(result, "result", None)
    if data is None:
        data = result._result
    return host.get_name(), task, data


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kvmops.hypervisor.kvmops_counts"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super(CallbackModule, self).__init__(display=display, options=options)
        self.counts = Counts()

    def v2_playbook_on_play_start(self, play):
        self.counts.play(play.get_name().strip())

    def _count(self, result, item=False):
        host, task, data = _parts(result)
        self.counts.result(host, task, data, item=item)

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_runner_on_unreachable(self, result):
        pass  # nothing ran

    def v2_runner_item_on_ok(self, result):
        self._count(result, item=True)

    def v2_runner_item_on_failed(self, result):
        self._count(result, item=True)

    def v2_playbook_on_stats(self, stats):
        path = self.get_option("output")
        if not path:
            return
        tmp = "%s.tmp" % path
        with open(tmp, "w") as handle:
            json.dump(self.counts.document(), handle, indent=1, sort_keys=True)
        os.rename(tmp, path)
        self._display.display("kvmops_counts: %s" % path)

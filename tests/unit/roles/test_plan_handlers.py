# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Static checks of the shared handlers (roles/plan/handlers/main.yml): the libvirt handler
restarts the daemon the facts name (kvm_host.daemons.libvirt: virtqemud or libvirtd), and
only when its process runs; the hugepages role stops the KSM units from its section."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOPIC = "kvmops libvirt config changed"


def load(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def libvirt_handlers():
    return [h for h in load("roles", "plan", "handlers", "main.yml") if h.get("listen") == TOPIC]


def libvirt_handler():
    """The restart: the first handler of the topic (handlers run in file order)."""
    handlers = libvirt_handlers()
    assert len(handlers) == 2, "a restart and a check listen to %r" % TOPIC
    assert "ansible.builtin.systemd_service" in handlers[0]
    return handlers[0]


def test_the_check_after_the_restart_connects_under_the_same_conditions():
    restart, check = libvirt_handlers()
    assert check["ansible.builtin.command"]["argv"] == ["virsh", "-c", "qemu:///system", "version"]
    assert check["until"] == "%s.rc == 0" % check["register"] and check["retries"] >= 1
    assert check["changed_when"] is False
    assert check["when"] == restart["when"]


def render(handler, variables):
    """(unit, runs): the unit the handler would restart and whether its conditions hold."""
    templar = Templar(loader=DataLoader(), variables=variables)
    module = handler["ansible.builtin.systemd_service"]
    runs = all(templar.evaluate_conditional(trust_as_template(condition)) for condition in handler["when"])
    unit = templar.template(trust_as_template(module["name"])) if runs else None
    return unit, runs


def test_libvirt_handler_restarts_with_systemd_and_reads_the_daemon_from_the_facts():
    handler = libvirt_handler()
    module = handler["ansible.builtin.systemd_service"]
    assert module["state"] == "restarted"
    assert "kvm_host['daemons']['libvirt']" in module["name"]
    assert "libvirtd.service" not in yaml.safe_dump(handler)  # no daemon named in the handler


@pytest.mark.parametrize("daemons, expected", [
    ({"libvirt": "virtqemud", "libvirt_running": True}, ("virtqemud.service", True)),
    ({"libvirt": "libvirtd", "libvirt_running": True}, ("libvirtd.service", True)),
    # socket-activated and stopped: the next start reads qemu.conf, no restart
    ({"libvirt": "virtqemud", "libvirt_running": False}, (None, False)),
    ({"libvirt": None, "libvirt_running": False}, (None, False)),
])
def test_libvirt_handler_picks_the_running_daemon(daemons, expected):
    assert render(libvirt_handler(), {"kvm_host": {"daemons": daemons}}) == expected


def test_libvirt_handler_does_nothing_without_daemon_facts_or_in_image_mode():
    assert render(libvirt_handler(), {"kvm_host": {}}) == (None, False)
    running = {"kvm_host": {"daemons": {"libvirt": "libvirtd", "libvirt_running": True}}}
    assert render(libvirt_handler(), dict(running, kvmops_apply_runtime=False)) == (None, False)


def test_hugepages_role_applies_the_planned_ksm_units_with_systemd():
    tasks = load("roles", "hugepages", "tasks", "steps.yml")
    units = [t for t in tasks if "ansible.builtin.systemd_service" in t]
    assert len(units) == 1
    task = units[0]
    assert task["loop"] == "{{ __hugepages_section['services'] }}"
    assert task["ansible.builtin.systemd_service"] == {
        "name": "{{ item.unit }}",
        "state": "{{ __hugepages_apply_runtime | ternary(item.state, omit) }}",
        "enabled": "{{ item.enabled }}"}
    names = [t.get("name", "") for t in tasks]
    # the units are stopped before KSM is written (tasks/runtime.yml, included after them),
    # else ksm.service's stop would undo it
    runtime = next(i for i, t in enumerate(tasks) if t.get("ansible.builtin.include_tasks", {}).get("file") == "runtime.yml")
    assert names.index(task["name"]) < runtime
    assert any("kvmops.hypervisor.sysfs_attr" in t for t in load("roles", "hugepages", "tasks", "runtime.yml"))
    assert not any("ansible.builtin.shell" in t or "ansible.builtin.command" in t for t in tasks)

# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sysctl_net role run by ansible-playbook on a throwaway network namespace.

    sudo .venv/bin/python -m pytest roles/sysctl_net/tests/test_netns.py -v

See netns_sandbox.py for the target. Skipped when not root. Every test checks that the
machine's own sysctls and /etc/sysctl.d are untouched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns_sandbox as ns  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "converge.yml")
NAT = {"libvirt": {"networks": [{"name": "default", "forward_mode": "nat"}, {"name": "br0", "forward_mode": "bridge"}]}}
NO_ROUTING = {"libvirt": {"networks": [{"name": "br0", "forward_mode": "bridge"}]}}
# keys of the baseline a non-initial network namespace does not have or cannot set
NETNS_MISSING = ["net.core.netdev_max_backlog", "net.ipv4.neigh.default.gc_thresh3", "net.ipv6.neigh.default.gc_thresh1"]
WATCH = ["net.ipv4.ip_forward", "net.core.somaxconn", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
         "net.bridge.bridge-nf-call-iptables", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.all.arp_filter",
         "net.core.netdev_max_backlog", "net.core.rmem_max", "net.ipv4.neigh.default.gc_thresh3", "vm.max_map_count"]

pytestmark = pytest.mark.skipif(ns.available() is not None, reason=str(ns.available()))


@pytest.fixture(scope="module", autouse=True)
def machine_untouched():
    with ns.BridgeNetfilter():
        before = ns.host_snapshot(WATCH)
        yield
        assert ns.host_snapshot(WATCH) == before, "the machine's own sysctls or sysctl.d changed"


@pytest.fixture
def sandbox():
    with ns.Sandbox() as box:
        yield box


def base_vars(**extra):
    data = {"sysctl_net_removals": list(ns.GLOBAL_KEYS), "kvm_host": NAT}
    data.update(extra)
    return data


def conf(box):
    path = os.path.join(box.etc_sysctl_d, "90-kvmops-net.conf")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return handle.read()


def conf_values(text):
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def assert_nothing_written(box):
    assert os.listdir(box.etc_sysctl_d) == []
    assert os.listdir(box.etc_modules_load_d) == []


def test_unknown_keys_fail_naming_them_before_anything_is_written(sandbox):
    before = sandbox.read(WATCH)
    result = sandbox.playbook(PLAYBOOK, base_vars())
    assert result.rc != 0 and result.recap["failed"] == 1, result
    for key in NETNS_MISSING:
        assert "%s (from sysctl_net_baseline)" % key in result.output
    assert "read-only sysctl keys, they cannot be set here: net.core.rmem_max" in result.output
    assert_nothing_written(sandbox)
    assert sandbox.read(WATCH) == before


@pytest.mark.parametrize("extra, message", [
    ({"sysctl_net_overrides": {"net.core.somaxconn": {"value": 1}}}, "sysctl_net_overrides['net.core.somaxconn']: must be"),
    ({"sysctl_net_overrides": {"net.core.somaxconn": 1.5}}, "sysctl_net_overrides['net.core.somaxconn']: must be"),
    ({"sysctl_net_overrides": ["net.core.somaxconn"]}, "sysctl_net_overrides"),
    ({"sysctl_net_overrides": {"net.ipv4.ip_forward": 1}}, "set sysctl_net_ip_forward (auto, true or false) instead"),
    ({"sysctl_net_ip_forward": "sometimes"}, "sysctl_net_ip_forward: must be auto, true or false, got 'sometimes'"),
    ({"sysctl_net_removals": {"vm.max_map_count": 1}}, "sysctl_net_removals"),
])
def test_bad_input_fails_naming_the_variable_before_anything_is_written(sandbox, extra, message):
    result = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True, **extra))
    assert result.rc != 0, result
    assert message in result.output, result
    assert_nothing_written(sandbox)


def test_check_mode_on_a_fresh_target_predicts_and_writes_nothing(sandbox):
    before = sandbox.read(WATCH)
    result = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True), check=True)
    assert result.rc == 0, result
    assert result.recap["changed"] == 1, result
    assert "+net.core.somaxconn = 4096" in result.output  # the --diff of the drop-in
    assert "+net.ipv4.ip_forward = 1" in result.output  # the NAT network routes
    assert_nothing_written(sandbox)
    assert sandbox.read(WATCH) == before


def test_converge_sets_live_values_and_is_idempotent(sandbox):
    first = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True))
    assert first.rc == 0 and first.recap["changed"] == 1, first
    text = conf(sandbox)
    wanted = conf_values(text)
    # every key the namespace can set is in the file, the others are left out with a warning
    assert "net.core.netdev_max_backlog" not in wanted and "vm.max_map_count" not in wanted
    assert "left out of the profile" in first.output
    # the kernel facts are gathered (kvm_host has none) and br_netfilter is loaded here
    # (the machine_untouched fixture), so its hooks are set
    assert wanted["net.bridge.bridge-nf-call-iptables"] == "0", wanted
    assert len(wanted) >= 10
    assert sandbox.read(sorted(wanted)) == wanted
    assert wanted["net.ipv4.ip_forward"] == "1" and "default (nat)" in text
    assert text.index("net.ipv4.ip_forward") < text.index("net.core.somaxconn")
    assert "Documentation/networking/ip-sysctl.rst" in text
    assert os.listdir(sandbox.etc_modules_load_d) == []  # nothing loads br_netfilter

    second = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True))
    assert second.rc == 0 and second.recap["changed"] == 0, second
    check = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True), check=True)
    assert check.rc == 0 and check.recap["changed"] == 0, check

    # runtime drift with an unchanged file is found and repaired
    sandbox.sh("sysctl -q -w net.core.somaxconn=1024 net.ipv4.conf.default.rp_filter=0")
    assert sandbox.read(["net.core.somaxconn"]) == {"net.core.somaxconn": "1024"}
    third = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True))
    assert third.rc == 0 and third.recap["changed"] == 1, third
    assert ("running values differ from the profile (drift), set them again: "
            "net.core.somaxconn 1024 -> 4096, net.ipv4.conf.default.rp_filter 0 -> 2") in " ".join(third.output.split())
    assert sandbox.read(sorted(wanted)) == wanted
    assert conf(sandbox) == text


def test_removals_overrides_and_ip_forward_follow_the_networks(sandbox):
    forward_before = sandbox.read(["net.ipv4.ip_forward"])
    result = sandbox.playbook(PLAYBOOK, base_vars(
        sysctl_net_ignore_unknown=True, kvm_host=NO_ROUTING,
        sysctl_net_removals=list(ns.GLOBAL_KEYS) + ["net.ipv4.conf.all.arp_filter"],
        sysctl_net_overrides={"net.core.somaxconn": 8192, "net.ipv4.conf.all.log_martians": True}))
    assert result.rc == 0, result
    wanted = conf_values(conf(sandbox))
    assert "net.ipv4.ip_forward" not in wanted  # no routing network: left out, never 0
    assert "net.ipv4.conf.all.arp_filter" not in wanted
    assert wanted["net.core.somaxconn"] == "8192" and wanted["net.ipv4.conf.all.log_martians"] == "1"
    assert sandbox.read(["net.core.somaxconn", "net.ipv4.conf.all.log_martians"]) == {
        "net.core.somaxconn": "8192", "net.ipv4.conf.all.log_martians": "1"}
    assert sandbox.read(["net.ipv4.ip_forward"]) == forward_before

    # a boolean given as a string, as `-e sysctl_net_ip_forward=true` does
    forced = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True, kvm_host=NO_ROUTING, sysctl_net_ip_forward="true"))
    assert forced.rc == 0, forced
    assert conf_values(conf(sandbox))["net.ipv4.ip_forward"] == "1"
    assert sandbox.read(["net.ipv4.ip_forward"]) == {"net.ipv4.ip_forward": "1"}


def test_a_later_drop_in_that_overrides_a_key_fails_before_anything_is_written(sandbox):
    local = os.path.join(sandbox.etc_sysctl_d, "99-local.conf")
    with open(local, "w") as handle:
        handle.write("net.core.somaxconn = 1024\nnet.ipv4.tcp_fastopen = 1\n")
    before = sandbox.read(WATCH)
    result = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True))
    assert result.rc != 0, result
    text = " ".join(result.output.split())
    assert ("net.core.somaxconn = 1024 in /etc/sysctl.d/99-local.conf overrides the profile's 4096 "
            "(from sysctl_net_baseline)") in text, result
    assert "tcp_fastopen" not in text.split("overrides", maxsplit=1)[0]  # same value: not a conflict
    assert sorted(os.listdir(sandbox.etc_sysctl_d)) == ["99-local.conf"]
    assert os.listdir(sandbox.etc_modules_load_d) == []
    assert sandbox.read(WATCH) == before


def test_a_value_the_kernel_rejects_puts_files_and_values_back(sandbox):
    """A reversed port range passes every static check; the kernel says EINVAL on write."""
    good = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True))
    assert good.rc == 0, good
    text, live = conf(sandbox), sandbox.read(WATCH + ["net.ipv4.ip_local_port_range"])
    bad = sandbox.playbook(PLAYBOOK, base_vars(
        sysctl_net_ignore_unknown=True,
        sysctl_net_overrides={"net.core.somaxconn": 2048, "net.ipv4.ip_local_port_range": "60999 32768"}))
    assert bad.rc != 0 and bad.recap["failed"] == 1, bad
    output = " ".join(bad.output.split())
    assert "the kernel did not take the profile: net.ipv4.ip_local_port_range is" in output, bad
    assert "The previous files and running values are back in place" in output
    assert conf(sandbox) == text
    assert sandbox.read(WATCH + ["net.ipv4.ip_local_port_range"]) == live  # somaxconn back to 4096 too

    # on a fresh target the same failure leaves no file behind
    with ns.Sandbox("kvmops-sysctl-test2") as fresh:
        before = fresh.read(WATCH)
        again = fresh.playbook(PLAYBOOK, base_vars(
            sysctl_net_ignore_unknown=True, sysctl_net_overrides={"net.ipv4.ip_local_port_range": "60999 32768"}))
        assert again.rc != 0, again
        assert os.listdir(fresh.etc_sysctl_d) == []
        assert fresh.read(WATCH) == before


def test_image_mode_writes_files_and_touches_no_running_state(sandbox):
    before = sandbox.read(WATCH)
    result = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True, kvmops_apply_runtime=False))
    assert result.rc == 0 and result.recap["changed"] == 1, result
    assert conf_values(conf(sandbox))["net.core.somaxconn"] == "4096"
    assert os.listdir(sandbox.etc_modules_load_d) == []
    assert sandbox.read(WATCH) == before
    again = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True, kvmops_apply_runtime=False))
    assert again.rc == 0 and again.recap["changed"] == 0, again


def test_ip_forward_auto_gathers_libvirt_facts_when_kvm_host_is_missing(sandbox):
    """No kvm_host: the role's host_plan runs kvm_host_facts on the target itself."""
    extravars = base_vars(sysctl_net_ignore_unknown=True)
    del extravars["kvm_host"]
    result = sandbox.playbook(PLAYBOOK, extravars)
    assert result.rc == 0, result
    # the role's prologue (kvmops.hypervisor.plan's tasks/prologue.yml) planned its section
    assert re.search(r"TASK \[kvmops\.hypervisor\.plan : Facts and this role's section of the plan\] \*+\nok:",
                     result.output), result.output
    networks_dir = "/etc/libvirt/qemu/networks"
    routing = False
    if os.path.isdir(networks_dir):
        for name in os.listdir(networks_dir):
            with open(os.path.join(networks_dir, name)) as handle:
                text = handle.read()
            routing = routing or any("mode='%s'" % m in text or 'mode="%s"' % m in text for m in ("nat", "route", "open"))
    assert conf_values(conf(sandbox)).get("net.ipv4.ip_forward") == ("1" if routing else None)


def test_bridge_keys_are_left_out_when_the_facts_say_br_netfilter_is_not_loaded(sandbox):
    before = sandbox.read(["net.bridge.bridge-nf-call-iptables"])
    unloaded = dict(NAT, kernel={"br_netfilter_loaded": False})
    result = sandbox.playbook(PLAYBOOK, base_vars(sysctl_net_ignore_unknown=True, kvm_host=unloaded))
    assert result.rc == 0, result
    wanted = conf_values(conf(sandbox))
    assert not [key for key in wanted if key.startswith("net.bridge.")], wanted
    assert wanted["net.core.somaxconn"] == "4096"
    assert sandbox.read(["net.bridge.bridge-nf-call-iptables"]) == before
    assert os.listdir(sandbox.etc_modules_load_d) == []

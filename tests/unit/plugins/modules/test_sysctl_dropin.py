# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sysctl_dropin run (module_utils/apply/sysctl_dropin.py) on /proc/sys + /etc trees
under tmp_path, and the module's main().

The run's host is a FakeKernel injected at the module_utils level: a TreeHost (files
under the tree, through common.files) whose kernel methods behave like the real ones on
the tree: modprobe br_netfilter creates /proc/sys/net/bridge, ``sysctl --system`` applies
the drop-ins in procps order (its own listing, not the module's code) and rejects what the
kernel would (a reversed ip_local_port_range). The module's ``root`` option is not the
seam: a root other than / gets a TreeHost, which runs no command. The real kernel is
exercised by roles/sysctl_net/tests/test_netns.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import sysctl_dropin
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    proc_path,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import steps
from ansible_collections.kvmops.hypervisor.plugins.modules import sysctl_dropin as dropin_module
from module_runner import run_module
from sysfs_builder import write_file

LABELS = {"settings": "sysctl_net_baseline", "overrides": "sysctl_net_overrides",
          "removals": "sysctl_net_removals", "ip_forward": "sysctl_net_ip_forward"}
CONF = "/etc/sysctl.d/90-kvmops-net.conf"
MODLOAD = "/etc/modules-load.d/kvmops-br_netfilter.conf"
BRIDGE_KEYS = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables")


class FakeKernel(sysctl_dropin.TreeHost):
    """A running kernel on a tree: the host interface of the run; records every call."""

    live = True

    def __init__(self, root, modprobe_error=None):
        super().__init__(str(root))
        self.calls = []
        self.modprobe_error = modprobe_error

    def modprobe(self, name, remove=False):
        self.calls.append(("modprobe -r" if remove else "modprobe", name))
        if self.modprobe_error:
            return self.modprobe_error
        if name == "br_netfilter":
            for key in BRIDGE_KEYS:
                path = self.path("/proc/sys/net/bridge/" + key)
                if remove:
                    os.unlink(path)
                else:
                    write_file(self.root, "/proc/sys/net/bridge/" + key, "1\n")
            if remove:
                os.rmdir(self.path("/proc/sys/net/bridge"))
        return None

    def sysctl_system(self):
        """procps order, written out independently of the module's own listing: file names
        sorted, the first of the directories holding a name wins, /etc/sysctl.conf last."""
        self.calls.append(("sysctl --system",))
        chosen = {}
        for directory in ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d"):
            full = self.path(directory)
            for name in (os.listdir(full) if os.path.isdir(full) else []):
                if name.endswith(".conf"):
                    chosen.setdefault(name, os.path.join(full, name))
        files = [chosen[name] for name in sorted(chosen)] + [self.path("/etc/sysctl.conf")]
        errors = []
        for conf in files:
            if not os.path.exists(conf):
                continue
            with open(conf) as handle:
                lines = handle.read().splitlines()
            for line in lines:
                if not line.strip() or line.lstrip()[0] in "#;":
                    continue
                key, value = [part.strip() for part in line.split("=", 1)]
                target = self.path("/proc/sys/" + key.replace(".", "/"))
                if not os.path.exists(target):
                    continue  # -e
                if key == "net.ipv4.ip_local_port_range" and int(value.split()[0]) > int(value.split()[1]):
                    errors.append('sysctl: setting key "%s": Invalid argument' % key)
                    continue
                with open(target, "w") as handle:
                    handle.write(value.replace(" ", "\t") + "\n")
        return (1 if errors else 0), "\n".join(errors)

    def set_value(self, key, value):
        self.calls.append(("set", key, value))
        with open(self.path(proc_path(key)), "w") as handle:
            handle.write(value + "\n")

    def write(self, path, text):
        self.calls.append(("write", path))
        super().write(path, text)

    def remove(self, path):
        self.calls.append(("remove", path))
        super().remove(path)

    def actions(self):
        return [call[0] for call in self.calls]


@pytest.fixture
def host(tmp_path):
    """A hypervisor without br_netfilter loaded and an empty /etc/sysctl.d."""
    for relpath, value in {
        "net/ipv4/ip_forward": "0",
        "net/core/somaxconn": "4096",
        "net/ipv4/tcp_rmem": "4096\t131072\t6291456",
        "net/ipv4/conf/all/rp_filter": "0",
        "net/ipv4/ip_local_port_range": "32768\t60999",
    }.items():
        write_file(tmp_path, "/proc/sys/" + relpath, value + "\n")
    write_file(tmp_path, "/proc/sys/net/core/rmem_max", "212992\n", 0o444)
    os.makedirs(str(tmp_path / "etc" / "sysctl.d"))
    return tmp_path


def params(**extra):
    data = {
        "settings": {"net.core.somaxconn": 4096, "net.ipv4.tcp_rmem": [4096, 131072, 33554432],
                     "net.ipv4.conf.all.rp_filter": 2, "net.bridge.bridge-nf-call-iptables": 0},
        "overrides": {}, "removals": [], "ip_forward": "auto",
        "libvirt_networks": [{"name": "default", "forward_mode": "nat"}],
        "ignore_unknown": False, "sources": {"net.core.somaxconn": "listen backlog"},
        "header": "Managed by Ansible", "path": CONF, "labels": LABELS,
        "modules_load_dir": "/etc/modules-load.d", "apply": True,
    }
    data.update(extra)
    return data


def live(root, key):
    with open(os.path.join(str(root), proc_path(key).lstrip("/"))) as handle:
        return " ".join(handle.read().split())


def text(root, path):
    full = os.path.join(str(root), path.lstrip("/"))
    if not os.path.exists(full):
        return None
    with open(full) as handle:
        return handle.read()


def test_fresh_host_loads_the_module_writes_applies_and_verifies(host):
    kernel = FakeKernel(host)
    result, warnings = sysctl_dropin.run(params(), kernel)
    assert kernel.actions() == ["modprobe", "write", "write", "sysctl --system"]
    assert kernel.calls[1:3] == [("write", MODLOAD), ("write", CONF)]
    assert result["changed"] is True and result["applied"] is True
    assert result["files"] == {MODLOAD: True, CONF: True}
    assert result["modules_loaded"] == ["br_netfilter"]
    assert result["profile"] == {"net.ipv4.ip_forward": "1", "net.core.somaxconn": "4096",
                                 "net.ipv4.tcp_rmem": "4096 131072 33554432", "net.ipv4.conf.all.rp_filter": "2",
                                 "net.bridge.bridge-nf-call-iptables": "0"}
    assert result["live"] == result["profile"]
    assert live(host, "net.bridge.bridge-nf-call-iptables") == "0"
    assert result["differ"] == ["net.ipv4.ip_forward", "net.ipv4.tcp_rmem", "net.ipv4.conf.all.rp_filter",
                                "net.bridge.bridge-nf-call-iptables"]
    conf = text(host, CONF)
    assert conf.startswith("# Managed by Ansible\n\n") and conf == result["content"]
    assert "# Documentation/admin-guide/sysctl/net.rst: listen backlog\nnet.core.somaxconn = 4096\n" in conf
    assert text(host, MODLOAD).endswith("\nbr_netfilter\n") and CONF in text(host, MODLOAD)
    assert stat.S_IMODE(os.stat(os.path.join(str(host), CONF.lstrip("/"))).st_mode) == 0o644
    assert [d["before_header"] for d in result["diff"]] == [MODLOAD, CONF, "running values"]
    assert result["diff"][2]["before"].startswith("net.ipv4.ip_forward = 0\n")
    assert "net.bridge.bridge-nf-call-iptables = 0\n" in result["diff"][2]["after"]
    assert not [w for w in warnings if "not checked" in w]

    again = FakeKernel(host)
    second, warnings = sysctl_dropin.run(params(), again)
    assert again.calls == [] and second["changed"] is False and second["diff"] == []
    assert second["files"] == {MODLOAD: False, CONF: False} and second["differ"] == []
    assert warnings == []


def test_load_modules_false_never_loads_br_netfilter_and_keeps_its_keys_unchecked(host):
    """What the sysctl_net role does: no modprobe, no modules-load.d file; the bridge key
    stays in the drop-in (skipped by sysctl -e --system while the module is absent)."""
    kernel = FakeKernel(host)
    result, warnings = sysctl_dropin.run(params(load_modules=False), kernel)
    assert kernel.actions() == ["write", "sysctl --system"]
    assert result["files"] == {CONF: True} and result["modules_loaded"] == []
    assert result["modules"] == ["br_netfilter"]
    assert result["unchecked"] == {"net.bridge.bridge-nf-call-iptables": "br_netfilter"}
    assert "net.bridge.bridge-nf-call-iptables = 0\n" in text(host, CONF)
    assert not os.path.exists(str(host / "proc" / "sys" / "net" / "bridge"))
    assert text(host, MODLOAD) is None
    assert result["differ"] == ["net.ipv4.ip_forward", "net.ipv4.tcp_rmem", "net.ipv4.conf.all.rp_filter"]
    assert live(host, "net.ipv4.conf.all.rp_filter") == "2"
    assert ("kernel module br_netfilter is not active, so its keys are not checked yet: "
            "net.bridge.bridge-nf-call-iptables") in warnings
    again = FakeKernel(host)
    second, _warnings = sysctl_dropin.run(params(load_modules=False), again)
    assert again.calls == [] and second["changed"] is False


def test_check_mode_predicts_and_touches_nothing(host):
    before = {key: live(host, key) for key in ("net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter")}
    kernel = FakeKernel(host)
    result, warnings = sysctl_dropin.run(params(), kernel, check_mode=True)
    assert kernel.calls == []
    assert result["changed"] is True and result["applied"] is True
    assert result["files"] == {MODLOAD: True, CONF: True} and result["modules_loaded"] == ["br_netfilter"]
    assert "net.bridge.bridge-nf-call-iptables" in result["differ"]
    assert result["unchecked"] == {"net.bridge.bridge-nf-call-iptables": "br_netfilter"}
    assert "kernel module br_netfilter is not active, so its keys are not checked yet: net.bridge.bridge-nf-call-iptables" in warnings
    assert text(host, CONF) is None and not os.path.exists(str(host / "etc" / "modules-load.d"))
    assert before == {key: live(host, key) for key in before}
    assert result["diff"][1]["before"] == ""
    assert "net.core.somaxconn = 4096\n" in result["diff"][1]["after"]


def test_drift_with_unchanged_files_is_applied_and_reported(host):
    sysctl_dropin.run(params(), FakeKernel(host))
    write_file(host, "/proc/sys/net/core/somaxconn", "1024\n")
    kernel = FakeKernel(host)
    check, _warnings = sysctl_dropin.run(params(), kernel, check_mode=True)
    assert check["changed"] is True and check["differ"] == ["net.core.somaxconn"] and kernel.calls == []
    result, warnings = sysctl_dropin.run(params(), kernel)
    assert kernel.actions() == ["sysctl --system"]
    assert result["changed"] is True and result["files"] == {MODLOAD: False, CONF: False}
    assert live(host, "net.core.somaxconn") == "4096"
    assert warnings == ["running values differ from the profile (drift), set them again: net.core.somaxconn 1024 -> 4096"]
    assert result["diff"] == [{"before_header": "running values", "after_header": "running values",
                               "before": "net.core.somaxconn = 1024\n", "after": "net.core.somaxconn = 4096\n"}]


def test_wrong_mode_is_fixed_even_with_the_same_text(host):
    sysctl_dropin.run(params(), FakeKernel(host))
    os.chmod(os.path.join(str(host), CONF.lstrip("/")), 0o600)
    kernel = FakeKernel(host)
    result, _warnings = sysctl_dropin.run(params(), kernel)
    assert result["files"][CONF] is True and ("write", CONF) in kernel.calls
    assert stat.S_IMODE(os.stat(os.path.join(str(host), CONF.lstrip("/"))).st_mode) == 0o644


def test_a_later_file_with_another_value_fails_before_anything(host):
    write_file(host, "/etc/sysctl.d/99-local.conf", "net.core.somaxconn = 1024\nnet.ipv4.conf.all.rp_filter = 2\n")
    write_file(host, "/etc/sysctl.d/10-early.conf", "net.ipv4.tcp_rmem = 1 2 3\n")  # read before ours: fine
    kernel = FakeKernel(host)
    with pytest.raises(SysctlError) as err:
        sysctl_dropin.run(params(), kernel)
    assert kernel.calls == []
    message = str(err.value)
    assert message.startswith("net.core.somaxconn = 1024 in /etc/sysctl.d/99-local.conf overrides the profile's 4096 "
                              "(from sysctl_net_baseline).")
    assert "sysctl_net_overrides" in message and "sysctl_net_removals" in message
    assert "rp_filter" not in message and "tcp_rmem" not in message


def test_a_later_file_with_the_same_value_is_only_reported(host):
    write_file(host, "/etc/sysctl.d/99-local.conf", "net.core.somaxconn = 4096\n")
    result, _warnings = sysctl_dropin.run(params(), FakeKernel(host))
    assert result["shadowed"] == {"net.core.somaxconn": "/etc/sysctl.d/99-local.conf"}


def test_unknown_and_readonly_keys_fail_naming_their_variable_or_are_left_out(host):
    bad = params(overrides={"net.core.somaxconm": 1, "net.core.rmem_max": 1})
    kernel = FakeKernel(host)
    with pytest.raises(SysctlError) as err:
        sysctl_dropin.run(bad, kernel)
    assert kernel.calls == []
    assert "net.core.somaxconm (from sysctl_net_overrides)" in str(err.value)
    assert "read-only sysctl keys, they cannot be set here: net.core.rmem_max (from sysctl_net_overrides)" in str(err.value)

    bad["ignore_unknown"] = True
    result, warnings = sysctl_dropin.run(bad, kernel)
    assert "net.core.somaxconm" not in result["content"] and "rmem_max" not in result["content"]
    assert any(w.startswith("left out of the profile") for w in warnings)


def test_an_unknown_key_of_a_loaded_module_unloads_it_again(host):
    kernel = FakeKernel(host)
    with pytest.raises(SysctlError) as err:
        sysctl_dropin.run(params(overrides={"net.bridge.bridge-nf-call-nothing": 0}), kernel)
    assert "net.bridge.bridge-nf-call-nothing (from sysctl_net_overrides)" in str(err.value)
    assert kernel.calls == [("modprobe", "br_netfilter"), ("modprobe -r", "br_netfilter")]
    assert not os.path.exists(str(host / "proc" / "sys" / "net" / "bridge"))
    assert text(host, CONF) is None


def test_modprobe_failure_names_the_module_and_its_keys(host):
    kernel = FakeKernel(host, modprobe_error="modprobe: FATAL: Module br_netfilter not found")
    with pytest.raises(SysctlError) as err:
        sysctl_dropin.run(params(), kernel)
    assert str(err.value) == ("cannot load kernel module br_netfilter, which net.bridge.bridge-nf-call-iptables need: "
                              "modprobe: FATAL: Module br_netfilter not found")
    assert kernel.actions() == ["modprobe"] and text(host, CONF) is None


def test_a_rejected_value_puts_back_files_values_and_modules(host):
    sysctl_dropin.run(params(settings={"net.core.somaxconn": 4096}, ip_forward=None), FakeKernel(host))
    old_conf = text(host, CONF)
    kernel = FakeKernel(host)
    bad = params(overrides={"net.core.somaxconn": 2048, "net.ipv4.ip_local_port_range": "60999 32768"})
    with pytest.raises(SysctlError) as err:
        sysctl_dropin.run(bad, kernel)
    message = str(err.value)
    assert message.startswith("the kernel did not take the profile: net.ipv4.ip_local_port_range is '32768 60999', "
                              "want '60999 32768'. sysctl --system said: sysctl: setting key "
                              "\"net.ipv4.ip_local_port_range\": Invalid argument.")
    assert text(host, CONF) == old_conf
    assert text(host, MODLOAD) is None  # written by this run, removed again
    assert live(host, "net.core.somaxconn") == "4096" and live(host, "net.ipv4.ip_forward") == "0"
    assert live(host, "net.ipv4.tcp_rmem") == "4096 131072 6291456"
    assert kernel.calls[-1] == ("modprobe -r", "br_netfilter")
    assert ("set", "net.core.somaxconn", "4096") in kernel.calls


def test_image_mode_writes_the_files_only(host):
    kernel = FakeKernel(host)
    result, warnings = sysctl_dropin.run(params(apply=False), kernel)
    assert kernel.actions() == ["write", "write"]
    assert result["changed"] is True and result["applied"] is False and result["modules_loaded"] == []
    assert live(host, "net.ipv4.ip_forward") == "0"
    assert "kernel module br_netfilter is not active, so its keys are not checked yet: net.bridge.bridge-nf-call-iptables" in warnings
    assert not [w for w in warnings if "drift" in w]
    again = FakeKernel(host)
    second, _warnings = sysctl_dropin.run(params(apply=False), again)
    assert again.calls == [] and second["changed"] is False


def test_a_complaint_about_another_file_is_a_warning(host):
    write_file(host, "/etc/sysctl.d/50-other.conf", "net.ipv4.ip_local_port_range = 60999 32768\n")
    result, warnings = sysctl_dropin.run(params(), FakeKernel(host))
    assert result["applied"] is True
    assert 'sysctl --system reported (about other files): sysctl: setting key "net.ipv4.ip_local_port_range": Invalid argument' in warnings


def test_main_refuses_to_apply_under_another_root(host, monkeypatch):
    outcome = run_module(monkeypatch, dropin_module.main, {"settings": {"net.core.somaxconn": 4096}, "root": str(host)})
    assert outcome.failed and "apply=true changes the running kernel, so it needs root=/" in outcome.result["msg"]
    assert text(host, CONF) is None


def test_main_writes_under_a_root_in_image_mode_with_diff(host, monkeypatch):
    outcome = run_module(monkeypatch, dropin_module.main, {
        "settings": {"net.core.somaxconn": 4096, "net.bridge.bridge-nf-call-iptables": 0},
        "root": str(host), "apply": False, "labels": LABELS})
    assert not outcome.failed, outcome.result
    assert outcome.result["changed"] is True and outcome.result["files"] == {MODLOAD: True, CONF: True}
    assert [d["after_header"] for d in outcome.result["diff"]] == [MODLOAD, CONF]
    assert text(host, CONF) == outcome.result["content"]
    check = run_module(monkeypatch, dropin_module.main, {
        "settings": {"net.core.somaxconn": 4096, "net.bridge.bridge-nf-call-iptables": 0},
        "root": str(host), "apply": False}, check_mode=True)
    assert check.result["changed"] is False and check.result["diff"] == []


def tree_files(root):
    """Every file under ``root``, relative to it (to see what a run wrote)."""
    found = set()
    for directory, _dirs, names in os.walk(str(root)):
        for name in names:
            found.add(os.path.relpath(os.path.join(directory, name), str(root)))
    return found


@pytest.fixture
def no_commands(monkeypatch):
    """main() may not run a command nor build the host of the real machine: record any try."""
    tried = []

    def refuse(*args, **_kwargs):
        tried.append(args)
        raise AssertionError("a command under a root other than /: %r" % (args,))

    monkeypatch.setattr(dropin_module.AnsibleModule, "run_command", refuse)
    monkeypatch.setattr(dropin_module.AnsibleModule, "get_bin_path", refuse)
    monkeypatch.setattr(steps, "LiveHost", refuse)  # the module's host is built there
    return tried


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_root_other_than_slash_runs_no_command_and_stays_under_root(host, monkeypatch, no_commands, check_mode):
    write_file(host, "/proc/sys/net/core/somaxconn", "1024\n")  # drift, and br_netfilter not loaded
    before = tree_files(host)
    args = {"settings": {"net.core.somaxconn": 4096, "net.bridge.bridge-nf-call-iptables": 0},
            "root": str(host), "apply": False}
    outcome = run_module(monkeypatch, dropin_module.main, args, check_mode=check_mode)
    assert not outcome.failed, outcome.result
    assert no_commands == []
    assert outcome.result["applied"] is False and outcome.result["modules_loaded"] == []
    written = tree_files(host) - before
    assert written == (set() if check_mode else {CONF.lstrip("/"), MODLOAD.lstrip("/")})
    assert live(host, "net.core.somaxconn") == "1024"

    refused = run_module(monkeypatch, dropin_module.main, dict(args, apply=True), check_mode=check_mode)
    assert refused.failed and "needs root=/" in refused.result["msg"] and no_commands == []


def test_the_host_of_another_root_is_a_tree_that_refuses_the_kernel(host):
    tree = sysctl_dropin.TreeHost(str(host))
    assert tree.live is False and tree.reader().root == str(host)
    for call in (lambda: tree.modprobe("br_netfilter"), tree.sysctl_system, lambda: tree.set_value("net.core.somaxconn", "1")):
        with pytest.raises(SysctlError) as err:
            call()
        assert "no running kernel under root %s" % host in str(err.value)
    assert live(host, "net.core.somaxconn") == "4096"
    with pytest.raises(SysctlError) as err:
        sysctl_dropin.run(params(), tree)
    assert "apply=true changes the running kernel, so it needs root=/" in str(err.value)


# --- an empty profile: no drop-in ------------------------------------------------------

def test_an_empty_profile_removes_the_drop_in_and_applies_nothing(host):
    sysctl_dropin.run(params(settings={"net.core.somaxconn": 8192}, ip_forward=None), FakeKernel(host))
    old = text(host, CONF)
    assert "net.core.somaxconn = 8192" in old and live(host, "net.core.somaxconn") == "8192"
    empty = params(settings={"net.core.somaxconn": 8192}, removals=["net.core.somaxconn"], ip_forward=None)

    kernel = FakeKernel(host)
    check, _warnings = sysctl_dropin.run(empty, kernel, check_mode=True)
    assert kernel.calls == [] and text(host, CONF) == old
    assert check["changed"] is True and check["files"] == {CONF: True} and check["applied"] is False
    assert check["diff"] == [{"before_header": CONF, "after_header": "%s (absent)" % CONF, "before": old, "after": ""}]

    result, warnings = sysctl_dropin.run(empty, kernel)
    assert kernel.calls == [("remove", CONF)] and text(host, CONF) is None
    assert result["changed"] is True and result["applied"] is False and result["files"] == {CONF: True}
    assert result["profile"] == {} and result["entries"] == [] and result["content"] == ""
    assert result["modules"] == [] and result["modules_loaded"] == [] and result["differ"] == []
    assert result["diff"] == check["diff"]
    assert live(host, "net.core.somaxconn") == "8192"  # running values stay until the next boot
    assert warnings == []

    again = FakeKernel(host)
    second, _warnings = sysctl_dropin.run(empty, again)
    assert again.calls == [] and second["changed"] is False and second["files"] == {CONF: False}
    assert second["diff"] == []


def test_a_profile_emptied_by_ignore_unknown_writes_no_drop_in(host):
    kernel = FakeKernel(host)
    result, warnings = sysctl_dropin.run(
        params(settings={"net.core.somaxconm": 1, "net.core.rmem_max": 1}, ip_forward=None, ignore_unknown=True), kernel)
    assert kernel.calls == [] and text(host, CONF) is None
    assert result["changed"] is False and result["files"] == {CONF: False} and result["applied"] is False
    assert result["unknown"] == ["net.core.somaxconm"] and result["readonly"] == ["net.core.rmem_max"]
    assert any(w.startswith("left out of the profile") for w in warnings)


def test_a_module_loaded_for_keys_that_are_then_left_out_is_unloaded_again(host):
    kernel = FakeKernel(host)
    result, _warnings = sysctl_dropin.run(
        params(settings={"net.bridge.bridge-nf-call-nothing": 0}, ip_forward=None, ignore_unknown=True), kernel)
    assert kernel.calls == [("modprobe", "br_netfilter"), ("modprobe -r", "br_netfilter")]
    assert result["changed"] is False and result["modules_loaded"] == [] and result["files"] == {CONF: False}
    assert not os.path.exists(str(host / "proc" / "sys" / "net" / "bridge"))


def test_main_removes_the_drop_in_of_an_empty_profile_under_a_root(host, monkeypatch, no_commands):
    write_file(host, CONF, "net.core.somaxconn = 4096\n")
    args = {"settings": {}, "root": str(host), "apply": False}
    outcome = run_module(monkeypatch, dropin_module.main, args)
    assert not outcome.failed, outcome.result
    assert outcome.result["changed"] is True and outcome.result["files"] == {CONF: True}
    assert outcome.result["diff"][0]["before"] == "net.core.somaxconn = 4096\n"
    assert text(host, CONF) is None and no_commands == []
    again = run_module(monkeypatch, dropin_module.main, args)
    assert again.result["changed"] is False


# --- another role's profile, side by side with the network one ------------------------

NUMA = "/etc/sysctl.d/90-kvmops-numa.conf"


def numa_params(**extra):
    """Another role's profile with the module's defaults: no labels, no ip_forward, no sources."""
    data = {"settings": {"kernel.numa_balancing": 0}, "overrides": {}, "removals": [], "ip_forward": None,
            "libvirt_networks": [], "ignore_unknown": True, "sources": {},
            "header": "Managed by kvmops.hypervisor.numa_pinning", "path": NUMA, "labels": {},
            "modules_load_dir": "/etc/modules-load.d", "apply": True}
    data.update(extra)
    return data


@pytest.fixture
def numa_host(host):
    write_file(host, "/proc/sys/kernel/numa_balancing", "1\n")
    return host


@pytest.mark.parametrize("apply", [True, False])
def test_another_profile_needs_no_kernel_module_and_no_modules_load_file(numa_host, apply):
    kernel = FakeKernel(numa_host)
    settings = {"kernel.numa_balancing": 0, "kernel.no_such_key": 1}
    result, warnings = sysctl_dropin.run(numa_params(settings=settings, apply=apply), kernel)
    assert kernel.calls == [("write", NUMA)] + ([("sysctl --system",)] if apply else [])
    assert result["changed"] is True and result["applied"] is apply
    assert result["files"] == {NUMA: True} and result["modules"] == [] and result["modules_loaded"] == []
    assert result["profile"] == {"kernel.numa_balancing": "0"} and result["unknown"] == ["kernel.no_such_key"]
    assert "kernel.no_such_key (from settings)" in " ".join(warnings)  # labels default to the option names
    assert text(numa_host, NUMA) == ("# Managed by kvmops.hypervisor.numa_pinning\n\n"
                                     "# Documentation/admin-guide/sysctl/kernel.rst\nkernel.numa_balancing = 0\n")
    assert not os.path.exists(str(numa_host / "etc" / "modules-load.d"))
    assert live(numa_host, "kernel.numa_balancing") == ("0" if apply else "1")
    again = FakeKernel(numa_host)
    second, _warnings = sysctl_dropin.run(numa_params(settings=settings, apply=apply), again)
    assert again.calls == [] and second["changed"] is False


def test_another_profile_names_the_option_in_errors(numa_host):
    with pytest.raises(SysctlError) as err:
        sysctl_dropin.run(numa_params(overrides={"kernel.numa_balancing": 1.5}), FakeKernel(numa_host))
    assert str(err.value).startswith("overrides['kernel.numa_balancing']: must be")


def test_two_drop_ins_side_by_side_each_run_touches_only_its_own(numa_host):
    sysctl_dropin.run(params(), FakeKernel(numa_host))
    sysctl_dropin.run(numa_params(), FakeKernel(numa_host))
    net_text, modload_text = text(numa_host, CONF), text(numa_host, MODLOAD)
    assert sorted(os.listdir(str(numa_host / "etc" / "sysctl.d"))) == ["90-kvmops-net.conf", "90-kvmops-numa.conf"]

    # both converged: neither run does anything, neither sees the other as a conflict
    for run_params in (params(), numa_params()):
        kernel = FakeKernel(numa_host)
        result, _warnings = sysctl_dropin.run(run_params, kernel)
        assert kernel.calls == [] and result["changed"] is False and result["shadowed"] == {}

    # the numa profile changes: only its file is written
    kernel = FakeKernel(numa_host)
    result, _warnings = sysctl_dropin.run(numa_params(settings={"kernel.numa_balancing": 1}), kernel)
    assert kernel.calls == [("write", NUMA), ("sysctl --system",)] and result["files"] == {NUMA: True}
    assert live(numa_host, "kernel.numa_balancing") == "1"
    assert text(numa_host, CONF) == net_text and text(numa_host, MODLOAD) == modload_text

    # the numa profile becomes empty: only its file is removed
    kernel = FakeKernel(numa_host)
    result, _warnings = sysctl_dropin.run(numa_params(settings={}), kernel)
    assert kernel.calls == [("remove", NUMA)] and result["files"] == {NUMA: True}
    assert text(numa_host, NUMA) is None
    assert text(numa_host, CONF) == net_text and text(numa_host, MODLOAD) == modload_text

    # the network profile changes: its files only, the numa one stays absent
    kernel = FakeKernel(numa_host)
    result, _warnings = sysctl_dropin.run(params(overrides={"net.core.somaxconn": 8192}), kernel)
    assert kernel.calls == [("write", CONF), ("sysctl --system",)]
    assert result["files"] == {MODLOAD: False, CONF: True} and text(numa_host, NUMA) is None

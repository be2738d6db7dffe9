import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.kvmops.hypervisor.plugins.modules import sysctl_check
from sysfs_builder import write_file

ROLE_LABELS = {"settings": "sysctl_net_baseline", "overrides": "sysctl_net_overrides",
               "removals": "sysctl_net_removals", "ip_forward": "sysctl_net_ip_forward"}


def write(root, relpath, text, mode=0o644):
    return write_file(root, relpath, text, mode)


@pytest.fixture
def host(tmp_path):
    """A /proc/sys tree like a hypervisor without br_netfilter loaded, and a sysctl.d."""
    for relpath, value in {
        "net/ipv4/ip_forward": "0",
        "net/core/somaxconn": "4096",
        "net/ipv4/tcp_rmem": "4096\t131072\t6291456",
        "net/ipv4/conf/all/rp_filter": "0",
        "vm/max_map_count": "65530",
    }.items():
        write(tmp_path, "/proc/sys/" + relpath, value + "\n")
    write(tmp_path, "/proc/sys/net/core/rmem_max", "212992\n", mode=0o444)
    write(tmp_path, "/etc/sysctl.d/99-local.conf", "net.ipv4.conf.all.rp_filter = 1\n")
    return tmp_path


def call(args, capsys):
    """Run the module's main() like Ansible does; returns (failed, result)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            sysctl_check.main()
    result = json.loads(capsys.readouterr().out)
    return bool(result.get("failed")), result


def test_profile_live_differ_and_content(host, capsys):
    failed, result = call({
        "root": str(host),
        "settings": {"net.core.somaxconn": 4096, "net.ipv4.tcp_rmem": [4096, 131072, 33554432],
                     "net.ipv4.conf.all.rp_filter": 2, "vm.max_map_count": 262144},
        "removals": ["vm.max_map_count"],
        "ip_forward": "auto",
        "libvirt_networks": [{"name": "default", "forward_mode": "nat"}],
        "sources": {"net.core.somaxconn": "listen backlog"},
    }, capsys)
    assert not failed, result
    assert result["changed"] is False
    assert result["profile"] == {"net.ipv4.ip_forward": "1", "net.core.somaxconn": "4096",
                                 "net.ipv4.tcp_rmem": "4096 131072 33554432", "net.ipv4.conf.all.rp_filter": "2"}
    assert result["live"]["net.ipv4.tcp_rmem"] == "4096 131072 6291456"
    assert result["differ"] == ["net.ipv4.ip_forward", "net.ipv4.tcp_rmem", "net.ipv4.conf.all.rp_filter"]
    assert result["ip_forward"]["value"] is True and "default (nat)" in result["ip_forward"]["reason"]
    assert result["shadowed"] == {"net.ipv4.conf.all.rp_filter": "/etc/sysctl.d/99-local.conf"}
    _result, warnings = sysctl_check.run(result["invocation"]["module_args"])
    assert warnings == ["net.ipv4.conf.all.rp_filter is set again in /etc/sysctl.d/99-local.conf, "
                        "which sysctl --system and boot apply later"]
    assert "# Documentation/admin-guide/sysctl/net.rst: listen backlog\nnet.core.somaxconn = 4096\n" in result["content"]
    assert result["content"].index("net.ipv4.ip_forward = 1") < result["content"].index("net.core.somaxconn")
    assert "default (nat)" in result["content"]


def test_unknown_key_fails_naming_it_and_its_variable(host, capsys):
    failed, result = call({
        "root": str(host),
        "settings": {"net.core.somaxconn": 4096},
        "overrides": {"net.core.somaxconm": 1},
        "labels": ROLE_LABELS,
    }, capsys)
    assert failed
    assert "net.core.somaxconm (from sysctl_net_overrides)" in result["msg"]
    assert "sysctl_net_removals" in result["msg"]


def test_readonly_key_fails(host, capsys):
    failed, result = call({"root": str(host), "settings": {"net.core.rmem_max": 33554432}, "labels": ROLE_LABELS}, capsys)
    assert failed
    assert "read-only sysctl keys" in result["msg"] and "net.core.rmem_max (from sysctl_net_baseline)" in result["msg"]


def test_ignore_unknown_leaves_keys_out_with_a_warning(host, capsys):
    failed, result = call({
        "root": str(host),
        "settings": {"net.core.somaxconn": 4096, "net.core.rmem_max": 33554432},
        "overrides": {"net.core.somaxconm": 1},
        "ignore_unknown": True,
    }, capsys)
    assert not failed, result
    assert result["profile"] == {"net.core.somaxconn": "4096"}
    assert result["unknown"] == ["net.core.somaxconm"] and result["readonly"] == ["net.core.rmem_max"]
    assert "somaxconm" not in result["content"] and "rmem_max" not in result["content"]
    assert result["differ"] == [] and "net.core.rmem_max" not in result["live"]
    _result, warnings = sysctl_check.run(result["invocation"]["module_args"])
    assert [w for w in warnings if w.startswith("left out of the profile")] == [
        "left out of the profile: unknown sysctl keys, no /proc/sys entry on this kernel: net.core.somaxconm "
        "(from overrides); read-only sysctl keys, they cannot be set here: net.core.rmem_max (from settings)"]


def test_bad_value_type_fails_naming_the_variable(host, capsys):
    failed, result = call({
        "root": str(host),
        "settings": {"net.core.somaxconn": 4096},
        "overrides": {"net.ipv4.tcp_rmem": {"min": 4096}},
        "labels": ROLE_LABELS,
    }, capsys)
    assert failed
    assert result["msg"].startswith("sysctl_net_overrides['net.ipv4.tcp_rmem']")


def test_bad_ip_forward_fails_naming_the_variable(host, capsys):
    failed, result = call({"root": str(host), "settings": {}, "ip_forward": "sometimes", "labels": ROLE_LABELS}, capsys)
    assert failed
    assert "sysctl_net_ip_forward must be auto, true or false" in result["msg"]


def test_bridge_keys_unchecked_until_br_netfilter(host, capsys):
    args = {"root": str(host), "settings": {"net.bridge.bridge-nf-call-iptables": 0, "net.core.somaxconn": 4096}}
    failed, result = call(args, capsys)
    assert not failed, result
    assert result["modules"] == ["br_netfilter"] and result["modules_missing"] == ["br_netfilter"]
    assert result["unchecked"] == {"net.bridge.bridge-nf-call-iptables": "br_netfilter"}
    assert result["profile"]["net.bridge.bridge-nf-call-iptables"] == "0"
    _result, warnings = sysctl_check.run(result["invocation"]["module_args"])
    assert warnings == ["kernel module br_netfilter is not active, so its keys are not checked yet: net.bridge.bridge-nf-call-iptables"]

    write(host, "/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n")
    failed, result = call(args, capsys)
    assert not failed, result
    assert result["modules_missing"] == [] and result["differ"] == ["net.bridge.bridge-nf-call-iptables"]


def test_no_proc_means_not_checked(tmp_path, capsys):
    failed, result = call({"root": str(tmp_path), "settings": {"net.core.somaxconn": 4096}}, capsys)
    assert not failed, result
    assert result["checked"] is False and result["unknown"] == []
    assert result["profile"] == {"net.core.somaxconn": "4096"}
    _result, warnings = sysctl_check.run(result["invocation"]["module_args"])
    assert warnings == ["no /proc/sys under %s: the keys were not checked against a kernel" % tmp_path]


def test_fail_on_differ_reports_live_wanted_and_shadowing_file(host, capsys):
    failed, result = call({"root": str(host), "fail_on_differ": True,
                           "settings": {"net.core.somaxconn": 4096, "net.ipv4.conf.all.rp_filter": 2}}, capsys)
    assert failed
    assert result["msg"] == ("running values differ from the profile: net.ipv4.conf.all.rp_filter is '0', "
                             "want '2' (set again in /etc/sysctl.d/99-local.conf)")
    failed, result = call({"root": str(host), "fail_on_differ": True, "settings": {"net.core.somaxconn": 4096}}, capsys)
    assert not failed, result


def test_check_mode_is_the_same_and_writes_nothing(host, capsys):
    before = sorted(os.path.join(d, f) for d, _s, files in os.walk(str(host)) for f in files)
    failed, result = call({"root": str(host), "_ansible_check_mode": True,
                           "settings": {"net.core.somaxconn": 1024}}, capsys)
    assert not failed, result
    assert result["changed"] is False and result["differ"] == ["net.core.somaxconn"]
    after = sorted(os.path.join(d, f) for d, _s, files in os.walk(str(host)) for f in files)
    assert before == after
    with open(os.path.join(str(host), "proc/sys/net/core/somaxconn")) as handle:
        assert handle.read() == "4096\n"

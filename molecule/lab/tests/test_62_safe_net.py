# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 13, network items, on the lab host after playbooks/site.yml with no sysctl_net
policy: forwarding never written 0, br_netfilter never loaded by us, rp_filter/arp_filter
on conf.default only, and a second `sysctl --system` changes nothing of the sort."""

import pytest

CONF = "/etc/sysctl.d/90-kvmops-net.conf"
MODULES_LOAD = "/etc/modules-load.d/kvmops-br_netfilter.conf"


def dropin(host):
    """key -> value of the drop-in (comments and blank lines skipped)."""
    text = host.file(CONF).content_string
    return dict((part.strip() for part in line.split("=", 1))
                for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def live(host, key):
    return host.file("/proc/sys/" + key.replace(".", "/")).content_string.split()


def br_netfilter_loaded(host):
    return any(line.split()[0] == "br_netfilter" for line in host.file("/proc/modules").content_string.splitlines()
               if line.strip())


def routed_networks(host):
    """Active libvirt networks whose forward mode routes (nat, route, open)."""
    names = host.check_output("virsh -c qemu:///system net-list --name").split()
    routed = []
    for name in names:
        xml = host.check_output("virsh -c qemu:///system net-dumpxml %s" % name)
        switched = ("bridge", "passthrough", "private", "vepa", "hostdev")
        if "<forward" in xml and not any("mode='%s'" % mode in xml for mode in switched):
            routed.append(name)
    return routed


def test_ip_forward_never_written_0(host):
    keys = dropin(host)
    assert keys.get("net.ipv4.ip_forward") in (None, "1")
    assert keys.get("net.ipv6.conf.all.forwarding") in (None, "1")
    if routed_networks(host):
        assert keys["net.ipv4.ip_forward"] == "1" and live(host, "net.ipv4.ip_forward") == ["1"]


def test_forwarding_survives_sysctl_system(host):
    """Something else turned forwarding on: our drop-in must not turn it off."""
    before = live(host, "net.ipv4.ip_forward")
    # the lab connects as root (no sudo in the image)
    host.run_expect([0], "sysctl -w net.ipv4.ip_forward=1")
    host.run("sysctl -e --system")
    assert live(host, "net.ipv4.ip_forward") == ["1"]
    host.run_expect([0], "sysctl -w net.ipv4.ip_forward=%s" % before[0])


def test_role_never_loads_br_netfilter(host):
    assert not host.file(MODULES_LOAD).exists
    keys = dropin(host)
    bridge = sorted(key for key in keys if key.startswith("net.bridge."))
    if not br_netfilter_loaded(host):
        assert bridge == []
        assert not host.file("/proc/sys/net/bridge").exists
        host.run("sysctl -e --system")  # must not load it either
        assert not br_netfilter_loaded(host)
    else:
        assert bridge == ["net.bridge.bridge-nf-call-arptables", "net.bridge.bridge-nf-call-ip6tables",
                          "net.bridge.bridge-nf-call-iptables"]


def test_rp_filter_and_arp_filter_on_default_only(host):
    keys = dropin(host)
    assert keys["net.ipv4.conf.default.rp_filter"] == "2"
    assert keys["net.ipv4.conf.default.arp_filter"] == "1"
    assert "net.ipv4.conf.all.rp_filter" not in keys and "net.ipv4.conf.all.arp_filter" not in keys
    assert live(host, "net.ipv4.conf.default.rp_filter") == ["2"]


@pytest.mark.parametrize("doc, key", [
    ("Documentation/admin-guide/sysctl/net.rst", "net.core.netdev_max_backlog"),
    ("Documentation/networking/ip-sysctl.rst", "net.ipv4.tcp_rmem"),
    ("Documentation/networking/ip-sysctl.rst", "net.ipv4.conf.default.rp_filter"),
    ("Documentation/admin-guide/sysctl/vm.rst", "vm.max_map_count"),
])
def test_every_key_names_its_kernel_documentation(host, doc, key):
    text = host.file(CONF).content_string
    block = text.split("\n%s = " % key)[0].rsplit("\n\n", 1)[-1]
    assert "# %s: " % doc in block
    assert "default since 6.x" not in text and "guest tap traffic goes through" not in text


def test_facts_report_br_netfilter_and_nwfilter_users(host):
    facts = host.ansible("kvmops.hypervisor.kvm_host_facts", "gather_subset=kernel,libvirt",
                         check=False)["ansible_facts"]["kvm_host"]
    assert facts["kernel"]["br_netfilter_loaded"] is br_netfilter_loaded(host)
    assert isinstance(facts["libvirt"]["nwfilter_users"], list)
    assert all("ipv6" in net for net in facts["libvirt"]["networks"])

import os

import pytest
from hypothesis import given, strategies as st

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    canonical_key,
    merge_profile,
    normalize_value,
    proc_path,
    resolve_ip_forward,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_conf import (
    doc_for,
    parse_conf,
    render,
    shadowed,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_proc import (
    inspect,
    module_for,
)
from sysfs_builder import write_file

LABELS = {"settings": "sysctl_net_baseline", "overrides": "sysctl_net_overrides",
          "removals": "sysctl_net_removals", "ip_forward": "sysctl_net_ip_forward"}


def write(root, relpath, text, mode=0o644):
    return write_file(root, relpath, text, mode)


def proc_tree(root, values):
    for key, value in values.items():
        write(root, proc_path(key), "%s\n" % value)


# --- keys -----------------------------------------------------------------------------

@pytest.mark.parametrize("key, canonical, path", [
    ("net.core.somaxconn", "net.core.somaxconn", "/proc/sys/net/core/somaxconn"),
    (" net.core.somaxconn ", "net.core.somaxconn", "/proc/sys/net/core/somaxconn"),
    ("net/core/somaxconn", "net.core.somaxconn", "/proc/sys/net/core/somaxconn"),
    ("net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0/100.rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"),
    ("net.ipv4.conf.eth0/100.rp_filter", "net.ipv4.conf.eth0/100.rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"),
    ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-iptables", "/proc/sys/net/bridge/bridge-nf-call-iptables"),
])
def test_key_forms(key, canonical, path):
    assert canonical_key(key) == canonical
    assert proc_path(key) == path


@pytest.mark.parametrize("key", [
    "", "   ", "net..core", "net.core.", ".net.core", "net/../../etc/passwd", "net.core.some maxconn",
    "net.core.somaxconn=1", "-net.core.somaxconn", 5, None, "net/core//x",
])
def test_bad_keys_name_the_variable(key):
    with pytest.raises(SysctlError, match="sysctl_net_overrides"):
        merge_profile({}, {key: 1}, labels=LABELS)


# --- values ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    (4096, "4096"),
    (0, "0"),
    (-1, "-1"),
    (True, "1"),
    (False, "0"),
    ([4096, 131072, 33554432], "4096 131072 33554432"),
    ((1, 2), "1 2"),
    ("4096\t131072   6291456", "4096 131072 6291456"),
    (" bbr ", "bbr"),
])
def test_normalize(value, text):
    assert normalize_value(value) == text


@pytest.mark.parametrize("value, fragment", [
    ({"a": 1}, "got dict"),
    (None, "got NoneType"),
    (1.5, "got float"),
    ([], "empty list"),
    ([1, "2"], "integers only"),
    ([1, True], "integers only"),
    ("", "empty string"),
    ("  ", "empty string"),
    ("1\n2", "single line"),
])
def test_bad_values_name_the_variable_and_key(value, fragment):
    with pytest.raises(SysctlError) as err:
        merge_profile({"net.core.somaxconn": 1}, {"net.core.somaxconn": value}, labels=LABELS)
    assert "sysctl_net_overrides['net.core.somaxconn']" in str(err.value)
    assert fragment in str(err.value)


def test_bad_value_in_baseline_names_the_baseline():
    with pytest.raises(SysctlError, match=r"sysctl_net_baseline\['vm.max_map_count'\]"):
        merge_profile({"vm.max_map_count": {"x": 1}}, labels=LABELS)


@pytest.mark.parametrize("variable, kwargs", [
    ("sysctl_net_baseline", {"settings": ["net.core.somaxconn"]}),
    ("sysctl_net_overrides", {"settings": {}, "overrides": "net.core.somaxconn=1"}),
    ("sysctl_net_removals", {"settings": {}, "removals": "vm.max_map_count"}),
    ("sysctl_net_removals", {"settings": {}, "removals": ["bad key"]}),
])
def test_bad_container_types_name_the_variable(variable, kwargs):
    with pytest.raises(SysctlError, match=variable):
        merge_profile(labels=LABELS, **kwargs)


@given(st.one_of(st.integers(), st.lists(st.integers(min_value=0), min_size=1, max_size=3)))
def test_normalised_value_round_trips_through_the_kernel_format(value):
    # the kernel prints integer vectors separated by tabs; live comparison collapses them
    text = normalize_value(value)
    kernel = "\t".join(text.split(" "))
    assert " ".join(kernel.split()) == text


# --- merge ----------------------------------------------------------------------------

def test_merge_overrides_removals_and_order():
    baseline = {"net.core.somaxconn": 4096, "vm.max_map_count": 262144, "net.ipv4.tcp_fastopen": 1}
    overrides = {"net/core/somaxconn": 8192, "net.ipv4.conf.all.log_martians": True}
    profile, origins, warnings = merge_profile(baseline, overrides, ["vm.max_map_count"], True, LABELS)
    assert list(profile.items()) == [
        ("net.ipv4.ip_forward", "1"),
        ("net.core.somaxconn", "8192"),
        ("net.ipv4.tcp_fastopen", "1"),
        ("net.ipv4.conf.all.log_martians", "1"),
    ]
    assert origins["net.core.somaxconn"] == "sysctl_net_overrides"
    assert origins["net.ipv4.tcp_fastopen"] == "sysctl_net_baseline"
    assert origins["net.ipv4.ip_forward"] == "sysctl_net_ip_forward"
    assert warnings == []


def test_removal_of_a_baseline_key_and_of_an_absent_key():
    profile, _origins, warnings = merge_profile(
        {"net.core.somaxconn": 4096, "net.ipv4.neigh.default.gc_thresh3": 8192},
        removals=["net/ipv4/neigh/default/gc_thresh3", "net.core.nope"], labels=LABELS)
    assert list(profile) == ["net.core.somaxconn"]
    assert warnings == ["sysctl_net_removals: net.core.nope is not in the profile, nothing to remove"]


def test_removal_wins_over_an_override():
    profile, _o, _w = merge_profile({}, {"net.core.somaxconn": 1}, ["net.core.somaxconn"], labels=LABELS)
    assert dict(profile) == {}


def test_ip_forward_in_overrides_conflicts_with_the_setting():
    with pytest.raises(SysctlError, match="sysctl_net_overrides sets net.ipv4.ip_forward; set sysctl_net_ip_forward"):
        merge_profile({}, {"net.ipv4.ip_forward": 1}, ip_forward=False, labels=LABELS)


def test_ip_forward_setting_replaces_a_baseline_value():
    profile, origins, _w = merge_profile({"net.core.somaxconn": 1, "net.ipv4.ip_forward": 1}, ip_forward=False)
    assert list(profile.items()) == [("net.ipv4.ip_forward", "0"), ("net.core.somaxconn", "1")]
    assert origins["net.ipv4.ip_forward"] == "ip_forward"


def test_ip_forward_unmanaged_keeps_overrides():
    profile, _o, _w = merge_profile({}, {"net.ipv4.ip_forward": 1})
    assert dict(profile) == {"net.ipv4.ip_forward": "1"}


def test_removing_ip_forward_leaves_it_unmanaged():
    profile, _o, warnings = merge_profile({"net.core.somaxconn": 1}, removals=["net.ipv4.ip_forward"], ip_forward=True)
    assert "net.ipv4.ip_forward" not in profile
    assert warnings == []


def test_two_spellings_of_one_key_are_an_error():
    with pytest.raises(SysctlError, match="given twice"):
        merge_profile({"net.core.somaxconn": 1, "net/core/somaxconn": 2}, labels=LABELS)


# --- ip_forward -----------------------------------------------------------------------

@pytest.mark.parametrize("networks, expected", [
    ([], None),
    (None, None),
    ([{"name": "default", "forward_mode": "nat"}], True),
    ([{"name": "routed", "forward_mode": "route"}], True),
    ([{"name": "open", "forward_mode": "open"}], True),
    ([{"name": "br0", "forward_mode": "bridge"}, {"name": "iso", "forward_mode": None}], None),
    ([{"name": "hostdev", "forward_mode": "hostdev"}, {"name": "nat", "forward_mode": "NAT"}], True),
])
def test_ip_forward_auto_is_on_or_left_out_never_off(networks, expected):
    value, reason = resolve_ip_forward("auto", networks, "sysctl_net_ip_forward")
    assert value is expected
    assert reason.startswith("sysctl_net_ip_forward=auto")
    if expected:
        assert "nat" in reason.lower() or "route" in reason or "open" in reason
    else:
        assert reason.endswith("so the key is left out (never written 0)")


@pytest.mark.parametrize("networks, expected", [
    ([{"name": "default", "forward_mode": "nat"}], None),              # IPv4 only
    ([{"name": "default", "forward_mode": "nat", "ipv6": False}], None),
    ([{"name": "v6", "forward_mode": "route", "ipv6": True}], True),
    ([{"name": "v6br", "forward_mode": "bridge", "ipv6": True}], None),  # layer 2: no routing
    ([{"name": "iso6", "forward_mode": None, "ipv6": True}], None),      # isolated
])
def test_ipv6_forward_auto_needs_a_routed_network_with_an_ipv6_address(networks, expected):
    value, reason = resolve_ip_forward("auto", networks, "sysctl_net_ipv6_forward", ipv6=True)
    assert value is expected
    if expected:
        assert reason == "sysctl_net_ipv6_forward=auto: libvirt network(s) route guest IPv6 traffic: v6 (route)"


def test_auto_left_out_drops_a_baseline_value_and_forbids_overrides():
    profile, _o, _w = merge_profile({"net.ipv4.ip_forward": 0, "net.core.somaxconn": 1},
                                    decided={"net.ipv4.ip_forward": None}, labels=LABELS)
    assert list(profile.items()) == [("net.core.somaxconn", "1")]
    with pytest.raises(SysctlError, match="^sysctl_net_overrides sets net.ipv4.ip_forward; set sysctl_net_ip_forward"):
        merge_profile({}, {"net.ipv4.ip_forward": 0}, decided={"net.ipv4.ip_forward": None}, labels=LABELS)


@pytest.mark.parametrize("setting, expected", [(True, True), (False, False), ("true", True), ("no", False)])
def test_ip_forward_forced_ignores_networks(setting, expected):
    value, _reason = resolve_ip_forward(setting, [{"name": "default", "forward_mode": "nat"}])
    assert value is expected


@pytest.mark.parametrize("setting", ["maybe", None, 2, "Auto", {"auto": True}])
def test_ip_forward_bad_setting_names_the_variable(setting):
    with pytest.raises(SysctlError, match="sysctl_net_ip_forward must be auto, true or false"):
        resolve_ip_forward(setting, [], "sysctl_net_ip_forward")


@pytest.mark.parametrize("networks", ["default", [["default", "nat"]]])
def test_ip_forward_bad_networks(networks):
    with pytest.raises(SysctlError, match="kvm_host.libvirt.networks"):
        resolve_ip_forward("auto", networks)


# --- inspect against a /proc/sys tree --------------------------------------------------

def test_inspect_live_differ_unknown(tmp_path):
    proc_tree(tmp_path, {
        "net.core.somaxconn": "4096",
        "net.ipv4.tcp_rmem": "4096\t131072\t6291456",
        "net.ipv4.conf.eth0.100.rp_filter": "0",
    })
    # a VLAN interface name with a dot: the directory is literally "eth0.100"
    os.rename(os.path.join(str(tmp_path), "proc/sys/net/ipv4/conf/eth0/100"),
              os.path.join(str(tmp_path), "proc/sys/net/ipv4/conf/eth0.100"))
    profile, _o, _w = merge_profile({
        "net.core.somaxconn": 4096,
        "net.ipv4.tcp_rmem": [4096, 131072, 33554432],
        "net/ipv4/conf/eth0.100/rp_filter": 2,
        "net.ipv4.tcp_nope": 1,
    })
    state = inspect(Reader(str(tmp_path)), profile)
    assert state["checked"] is True
    assert state["unknown"] == ["net.ipv4.tcp_nope"]
    assert state["live"] == {
        "net.core.somaxconn": "4096",
        "net.ipv4.tcp_rmem": "4096 131072 6291456",
        "net.ipv4.conf.eth0/100.rp_filter": "0",
    }
    assert state["differ"] == ["net.ipv4.tcp_rmem", "net.ipv4.conf.eth0/100.rp_filter"]
    assert state["modules"] == [] and state["modules_missing"] == []


def test_inspect_readonly_entry(tmp_path):
    write(tmp_path, "/proc/sys/net/core/rmem_max", "4194304\n", mode=0o444)
    write(tmp_path, "/proc/sys/net/core/somaxconn", "4096\n")
    profile, _o, _w = merge_profile({"net.core.rmem_max": 33554432, "net.core.somaxconn": 4096})
    state = inspect(Reader(str(tmp_path)), profile)
    assert state["readonly"] == ["net.core.rmem_max"]
    assert state["unknown"] == []


def test_bridge_keys_wait_for_br_netfilter(tmp_path):
    proc_tree(tmp_path, {"net.core.somaxconn": "4096"})
    profile, _o, _w = merge_profile({"net.bridge.bridge-nf-call-iptables": 0, "net.core.somaxconn": 4096})
    state = inspect(Reader(str(tmp_path)), profile)
    assert state["modules"] == ["br_netfilter"]
    assert state["modules_missing"] == ["br_netfilter"]
    assert state["unchecked"] == {"net.bridge.bridge-nf-call-iptables": "br_netfilter"}
    assert state["unknown"] == []

    # module loaded: its keys are checked, a misspelt one is unknown
    proc_tree(tmp_path, {"net.bridge.bridge-nf-call-iptables": "1"})
    profile["net.bridge.bridge-nf-call-iptablez"] = "0"
    state = inspect(Reader(str(tmp_path)), profile)
    assert state["modules_missing"] == [] and state["unchecked"] == {}
    assert state["unknown"] == ["net.bridge.bridge-nf-call-iptablez"]
    assert state["differ"] == ["net.bridge.bridge-nf-call-iptables"]


def test_inspect_without_proc(tmp_path):
    profile, _o, _w = merge_profile({"net.core.somaxconn": 4096, "net.bridge.bridge-nf-call-iptables": 0})
    state = inspect(Reader(str(tmp_path)), profile)
    assert state["checked"] is False
    assert state["unknown"] == [] and state["live"] == {}
    assert state["modules"] == ["br_netfilter"]


@pytest.mark.parametrize("key, module", [
    ("net.bridge.bridge-nf-call-arptables", "br_netfilter"),
    ("net.netfilter.nf_conntrack_max", "nf_conntrack"),
    ("net.nf_conntrack_max", "nf_conntrack"),
    ("net.core.somaxconn", None),
])
def test_module_for(key, module):
    assert module_for(key) == module


# --- sysctl.d precedence ------------------------------------------------------------------

def test_shadowed_by_later_files_only(tmp_path):
    ours = "/etc/sysctl.d/90-kvmops-net.conf"
    write(tmp_path, ours, "net.core.somaxconn = 4096\n")
    write(tmp_path, "/etc/sysctl.d/10-early.conf", "net.core.somaxconn = 128\n")
    write(tmp_path, "/etc/sysctl.d/99-late.conf", "# comment\n; other\n-net.core.somaxconn=1024\nnet.ipv4.tcp_fastopen = 3\n")
    # same name in /usr/lib is masked by /etc/sysctl.d
    write(tmp_path, "/usr/lib/sysctl.d/99-late.conf", "vm.max_map_count = 1\n")
    write(tmp_path, "/usr/lib/sysctl.d/95-vendor.conf", "net/ipv4/conf/all/rp_filter = 1\n")
    write(tmp_path, "/etc/sysctl.conf", "vm.max_map_count=65530\n")
    found = shadowed(Reader(str(tmp_path)), ours, [
        "net.core.somaxconn", "net.ipv4.tcp_fastopen", "vm.max_map_count", "net.ipv4.conf.all.rp_filter", "net.core.rmem_max"])
    assert found == {
        "net.core.somaxconn": "/etc/sysctl.d/99-late.conf",
        "net.ipv4.tcp_fastopen": "/etc/sysctl.d/99-late.conf",
        "net.ipv4.conf.all.rp_filter": "/usr/lib/sysctl.d/95-vendor.conf",
        "vm.max_map_count": "/etc/sysctl.conf",
    }


def test_parse_conf():
    assert dict(parse_conf(["a.b = 1", "  # x", "bad key = 2", "net/core/x=  3  4 ", "noequals"])) == {
        "a.b": "1", "net.core.x": "3 4"}


# --- render -------------------------------------------------------------------------------

def test_render_comments_each_key_with_its_source():
    profile, _o, _w = merge_profile({"net.core.somaxconn": 4096, "vm.max_map_count": 262144,
                                     "net.bridge.bridge-nf-call-iptables": 0}, ip_forward=True)
    text = render(profile, {"net/core/somaxconn": "listen backlog"}, "header line\n\nsecond")
    assert text == (
        "# header line\n#\n# second\n\n"
        "# Documentation/networking/ip-sysctl.rst\nnet.ipv4.ip_forward = 1\n\n"
        "# Documentation/admin-guide/sysctl/net.rst: listen backlog\nnet.core.somaxconn = 4096\n\n"
        "# Documentation/admin-guide/sysctl/vm.rst\nvm.max_map_count = 262144\n\n"
        "# Documentation/networking/ip-sysctl.rst\nnet.bridge.bridge-nf-call-iptables = 0\n"
    )
    # what sysctl would read back is exactly the profile
    assert dict(parse_conf(text.splitlines())) == dict(profile)


def test_doc_for_prefixes():
    assert doc_for("net.core.netdev_max_backlog") == "Documentation/admin-guide/sysctl/net.rst"
    assert doc_for("net.ipv6.neigh.default.gc_thresh3") == "Documentation/networking/ip-sysctl.rst"
    assert doc_for("vm.max_map_count") == "Documentation/admin-guide/sysctl/vm.rst"


def test_role_baseline_is_valid_and_sourced():
    """The planner's baseline merges cleanly and every baseline key has a reason."""
    from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections import sysctl_net
    sources = dict((key, reason) for key, _value, reason in sysctl_net.BASELINE if reason)
    sources["net.ipv4.ip_forward"] = sysctl_net.IP_FORWARD_SOURCE
    profile, _o, _w = merge_profile(sysctl_net.baseline(), {}, [], False)
    assert len(profile) >= 20
    missing = [key for key in profile if canonical_key(key) not in set(canonical_key(k) for k in sources)]
    assert missing == []
    # the neighbour thresholds are ordered as the kernel documentation describes them
    for family in ("ipv4", "ipv6"):
        values = [int(profile["net.%s.neigh.default.gc_thresh%d" % (family, n)]) for n in (1, 2, 3)]
        assert values == sorted(values)
    for key in ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"):
        triple = [int(v) for v in profile[key].split()]
        assert len(triple) == 3 and triple == sorted(triple) and triple[0] >= 1


def test_origins_from_the_caller_name_the_variable_a_key_came_from():
    """A plan section merged the profile itself: its origins name the variable in errors."""
    from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import prepare
    params = {"settings": {"net.core.somaxconn": 1, "vm.swappiness": 10},
              "origins": {"vm/swappiness": "hugepages_swappiness", "not.in.profile": "x"},
              "labels": {"settings": "kvm_host_plan.hugepages"}}
    _profile, origins, _sources, _labels, _result, _warnings = prepare(params)
    assert origins == {"net.core.somaxconn": "kvm_host_plan.hugepages", "vm.swappiness": "hugepages_swappiness"}

"""ZFS, libvirt and QEMU process facts."""

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import services
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

from .facts_helpers import Tree

ARCSTATS = """13 1 0x01 123 33456 6170739829 1018397398455779
name                            type data
hits                            4    1234
c                               4    4294967296
c_min                           4    1073741824
c_max                           4    8589934592
size                            4    2147483648
"""

QEMU_CONF = """# comment
security_driver = "apparmor"
seccomp_sandbox = 1
#user = "root"
user = "libvirt-qemu"   # trailing comment
group = 'kvm'
dynamic_ownership = 0
hugetlbfs_mount = ["/dev/hugepages2M", "/dev/hugepages1G"]
cgroup_device_acl = [
    "/dev/null", "/dev/full",
    "/dev/kvm",
]
"""

NETWORK = """<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
</network>
"""


def test_zfs(tmp_path):
    Tree(tmp_path).files({
        "/proc/spl/kstat/zfs/arcstats": ARCSTATS,
        "/proc/spl/kstat/zfs/tank/state": "ONLINE",
        "/proc/spl/kstat/zfs/vmpool/state": "ONLINE",
        "/proc/spl/kstat/zfs/dbufstats": "x",
        "/sys/module/zfs/parameters/zfs_arc_max": "8589934592",
        "/sys/module/zfs/parameters/zfs_arc_min": "0",
    })
    reader = Reader(str(tmp_path))
    zfs = services.gather_zfs(reader)
    assert zfs["present"] is True and zfs["pools"] == ["tank", "vmpool"]
    assert zfs["arc"] == {"max": 8589934592, "min": 1073741824, "size": 2147483648,
                          "target": 4294967296}
    assert zfs["parameters"] == {"zfs_arc_max": 8589934592, "zfs_arc_min": 0}
    assert reader.warnings == []


def test_no_zfs(tmp_path):
    assert services.gather_zfs(Reader(str(tmp_path))) == {
        "present": False, "pools": [], "arc": None, "parameters": {}, "block_devices": []}


def test_zfs_block_devices_for_planned_pools(tmp_path):
    # gathered without ZFS too: a planned pool's devices are checked before ZFS is used
    Tree(tmp_path).files({
        "/sys/class/block/vda/dev": "254:0",
        "/sys/class/block/vdb/dev": "254:16",
        "/dev/disk/by-id/virtio-kvmops-scratch": "",
        "/dev/disk/by-path/pci-0000:00:05.0": "",
    })
    zfs = services.gather_zfs(Reader(str(tmp_path)))
    assert zfs["block_devices"] == ["/dev/disk/by-id/virtio-kvmops-scratch", "/dev/disk/by-path/pci-0000:00:05.0",
                                    "/dev/vda", "/dev/vdb"]


def test_libvirt(tmp_path):
    Tree(tmp_path).files({
        "/etc/libvirt/qemu.conf": QEMU_CONF,
        "/etc/libvirt/qemu/networks/default.xml": NETWORK,
        "/etc/libvirt/qemu/networks/isolated.xml": "<network><name>iso</name></network>",
        "/etc/libvirt/qemu/networks/routed.xml":
            "<network><name>lab</name><forward/></network>",
        "/etc/libvirt/qemu/networks/autostart/default.xml": NETWORK,
    })
    reader = Reader(str(tmp_path))
    libvirt = services.gather_libvirt(reader)
    assert libvirt["present"] is True and libvirt["qemu_conf_present"] is True
    assert libvirt["qemu_conf"] == {
        "security_driver": "apparmor", "seccomp_sandbox": 1, "user": "libvirt-qemu",
        "group": "kvm", "dynamic_ownership": 0,
        "hugetlbfs_mount": ["/dev/hugepages2M", "/dev/hugepages1G"],
        "cgroup_device_acl": ["/dev/null", "/dev/full", "/dev/kvm"]}
    assert libvirt["networks"] == [
        {"name": "default", "forward_mode": "nat", "ipv6": False, "bridge": "virbr0", "autostart": True},
        {"name": "iso", "forward_mode": None, "ipv6": False, "bridge": None, "autostart": False},
        {"name": "lab", "forward_mode": "nat", "ipv6": False, "bridge": None, "autostart": False}]
    assert libvirt["nwfilter_users"] == []
    assert reader.warnings == []


DOMAIN = """<domain type='kvm'>
  <name>web1</name>
  <devices>
    <interface type='bridge'>
      <source bridge='br0'/>
      <filterref filter='clean-traffic'>
        <parameter name='IP' value='192.0.2.10'/>
      </filterref>
    </interface>
    <interface type='network'>
      <source network='default'/>
      <filterref filter='no-ip-spoofing'/>
    </interface>
    <interface type='network'><source network='default'/><filterref filter='clean-traffic'/></interface>
  </devices>
</domain>
"""


def test_ipv6_networks_and_nwfilter_users_of_defined_and_running_domains(tmp_path):
    Tree(tmp_path).files({
        "/etc/libvirt/qemu/networks/v6.xml":
            "<network><name>v6</name><forward mode='route'/>"
            "<ip address='192.0.2.1' prefix='24'/><ip family='ipv6' address='2001:db8::1' prefix='64'/></network>",
        "/etc/libvirt/qemu/networks/nofamily.xml":
            "<network><name>nofamily</name><ip address='fd00::1' prefix='64'/></network>",
        "/etc/libvirt/qemu/web1.xml": DOMAIN,
        "/etc/libvirt/qemu/plain.xml": "<domain><name>plain</name><devices><interface type='network'/></devices></domain>",
        # a transient domain: only its status file under /run
        "/run/libvirt/qemu/tmp1.xml":
            "<domstatus state='running'><domain><name>tmp1</name><devices><interface type='bridge'>"
            "<filterref filter='allow-dhcp'/></interface></devices></domain></domstatus>",
        "/run/libvirt/qemu/web1.xml": "<domstatus><domain><name>web1</name>" + DOMAIN[DOMAIN.index("<devices>"):] + "</domstatus>",
        "/run/libvirt/qemu/broken.xml": "<domstatus><domain>",
        "/run/libvirt/qemu/web1.pid": "1234",
    })
    reader = Reader(str(tmp_path))
    libvirt = services.gather_libvirt(reader)
    assert [(net["name"], net["ipv6"]) for net in libvirt["networks"]] == [("nofamily", True), ("v6", True)]
    assert libvirt["nwfilter_users"] == [
        {"kind": "domain", "name": "tmp1", "filter": "allow-dhcp"},
        {"kind": "domain", "name": "web1", "filter": "clean-traffic"},
        {"kind": "domain", "name": "web1", "filter": "no-ip-spoofing"}]
    assert len(reader.warnings) == 1 and reader.warnings[0].startswith("cannot parse /run/libvirt/qemu/broken.xml: ")


def test_no_libvirt_has_no_nwfilter_users(tmp_path):
    libvirt = services.gather_libvirt(Reader(str(tmp_path)))
    assert libvirt["present"] is False and libvirt["networks"] == [] and libvirt["nwfilter_users"] == []


@pytest.mark.parametrize("text, expected, errors", [
    ('a = 1\nb = "x"', {"a": 1, "b": "x"}, 0),
    ('a = \nb = "x"', {"b": "x"}, 1),
    ('a = [1, 2\nb = 3', {"b": 3}, 1),
    ('garbage here\nc = 0x10', {"c": 16}, 1),
    ('s = "with \\"quote\\""', {"s": 'with "quote"'}, 0),
    ("", {}, 0),
])
def test_parse_libvirt_conf(text, expected, errors):
    seen = []
    assert services.parse_libvirt_conf(text, seen.append) == expected
    assert len(seen) >= errors and (errors or not seen)


@pytest.mark.parametrize("argv, name", [
    (["/usr/bin/qemu-system-x86_64", "-name", "guest=web01,debug-threads=on"], "web01"),
    (["qemu-system-x86_64", "-name", "plain"], "plain"),
    (["qemu-kvm", "-name", "a,,b,process=x"], "a,b"),
    (["qemu-kvm", "-name", "guest=a,,b"], "a,b"),
    (["qemu-system-aarch64", "-m", "1024"], None),
])
def test_guest_name(argv, name):
    assert services.guest_name(argv) == name


def test_qemu_processes(tmp_path):
    tree = Tree(tmp_path)
    argv = (b"/usr/bin/qemu-system-x86_64\0-name\0guest=web01,debug-threads=on\0-uuid\0u-1\0"
            b"-sandbox\0on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny\0")
    tree.files({
        "/proc/4242/cmdline": argv,
        "/proc/4242/status": "Name:\tqemu-system-x86\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n",
        "/proc/4242/task/4242/status": "NoNewPrivs:\t1\nSeccomp:\t2\n",
        "/proc/4242/task/4250/status": "NoNewPrivs:\t1\nSeccomp:\t2\n",
        "/proc/4242/task/4251/status": "NoNewPrivs:\t0\nSeccomp:\t0\n",
        "/proc/4242/attr/current": b"libvirt-u-1 (enforce)\0",
        "/proc/4242/attr/apparmor/current": b"libvirt-u-1 (enforce)\n",
        "/proc/77/cmdline": b"/usr/sbin/libvirtd\0--timeout\0120\0",
        "/proc/78/cmdline": b"",
        "/proc/79/cmdline": b"/usr/bin/qemu-kvm\0-name\0db\0-netdev\0bridge,id=n0,br=br0\0"
                            b"-object\0{\"qom-type\":\"memory-backend-ram\"}\0-object\0thread-context,id=tc1\0",
        "/proc/self/cmdline": b"x",
    })
    reader = Reader(str(tmp_path))
    procs = services.gather_qemu(reader)
    assert procs == [
        {"pid": 79, "name": "db", "uuid": None, "binary": "/usr/bin/qemu-kvm", "seccomp": None,
         "no_new_privs": None, "threads": 1, "seccomp_threads": {"unknown": 1},
         "no_new_privs_threads": {"unknown": 1}, "sandbox": None,
         "security_label": None, "apparmor_label": None, "bridge_helper": True, "thread_context": True},
        {"pid": 4242, "name": "web01", "uuid": "u-1", "binary": "/usr/bin/qemu-system-x86_64",
         "seccomp": 2, "no_new_privs": 1, "threads": 3, "seccomp_threads": {"2": 2, "0": 1},
         "no_new_privs_threads": {"1": 2, "0": 1},
         "sandbox": "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
         "security_label": "libvirt-u-1 (enforce)", "apparmor_label": "libvirt-u-1 (enforce)",
         "bridge_helper": False, "thread_context": False}]
    assert reader.warnings == []


def test_selinux_context_is_not_taken_for_an_apparmor_label(tmp_path):
    Tree(tmp_path).files({
        "/proc/5/cmdline": b"/usr/libexec/qemu-kvm\0-name\0guest=a\0-sandbox\0off\0",
        "/proc/5/attr/current": b"system_u:system_r:svirt_t:s0:c1,c2\0",
    })
    procs = services.gather_qemu(Reader(str(tmp_path)))
    assert procs[0]["security_label"] == "system_u:system_r:svirt_t:s0:c1,c2"
    assert procs[0]["apparmor_label"] is None
    assert procs[0]["sandbox"] == "off"


@pytest.mark.parametrize("argv, expected", [
    (["q", "-object", '{"qom-type":"thread-context","id":"tc-ram-node0","node-affinity":[0]}'],
     {"bridge_helper": False, "thread_context": True}),
    (["q", "-object", '{"qom-type":"memory-backend-ram","id":"ram"}'], {"bridge_helper": False, "thread_context": False}),
    (["q", "-netdev", '{"type":"tap","fd":"30","id":"hostnet0"}'], {"bridge_helper": False, "thread_context": False}),
    (["q", "-netdev", "tap,id=n1,helper=/usr/lib/qemu/qemu-bridge-helper"], {"bridge_helper": True, "thread_context": False}),
    (["q", "-nic", "bridge,br=virbr0"], {"bridge_helper": True, "thread_context": False}),
    (["q", "-object", "{not json"], {"bridge_helper": False, "thread_context": False}),
])
def test_sandbox_breakers(argv, expected):
    assert services.breakers(argv) == expected

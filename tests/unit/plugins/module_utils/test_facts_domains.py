"""kvm_host.domains: libvirt domains read from /etc/libvirt/qemu and /run/libvirt/qemu."""

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.domains import gather_domains
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import kvm_host_facts

from .facts_helpers import Tree

# As virsh define leaves it (trimmed): sizes in KiB, 4 vCPUs, 1 GiB huge pages, strict numatune.
G1 = """<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:
  virsh edit g1
-->
<domain type='kvm'>
  <name>g1</name>
  <uuid>0b1c4c1e-5a4f-4d2b-9a49-0d3f8e1b2c01</uuid>
  <memory unit='KiB'>8388608</memory>
  <currentMemory unit='KiB'>4194304</currentMemory>
  <memoryBacking>
    <hugepages>
      <page size='1048576' unit='KiB'/>
    </hugepages>
  </memoryBacking>
  <vcpu placement='static'>4</vcpu>
  <numatune>
    <memory mode='strict' nodeset='1'/>
  </numatune>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
</domain>
"""

# Other units, no currentMemory, no vcpu element (libvirt: 1 vCPU), no tuning.
G2 = """<domain type='kvm'>
  <name>g2</name>
  <uuid>0b1c4c1e-5a4f-4d2b-9a49-0d3f8e1b2c02</uuid>
  <memory unit='GiB'>2</memory>
</domain>
"""

G2_STATUS = """<!--
WARNING: THIS IS AN AUTO-GENERATED FILE.
-->
<domstatus state='running' reason='booted' pid='4242'>
  <taint flag='high-privileges'/>
  <monitor path='/var/lib/libvirt/qemu/domain-3-g2/monitor.sock' type='unix'/>
  <vcpus>
    <vcpu id='0' pid='4250'/>
  </vcpus>
  <domain type='kvm' id='3'>
    <name>g2</name>
    <uuid>0b1c4c1e-5a4f-4d2b-9a49-0d3f8e1b2c02</uuid>
    <memory unit='KiB'>2097152</memory>
    <currentMemory unit='KiB'>2097152</currentMemory>
    <vcpu placement='static'>1</vcpu>
  </domain>
</domstatus>
"""

# A transient domain (virsh create): a status file and no definition.
T1_STATUS = """<domstatus state='paused' reason='user' pid='5151'>
  <domain type='kvm' id='4'>
    <name>t1</name>
    <uuid>0b1c4c1e-5a4f-4d2b-9a49-0d3f8e1b2c03</uuid>
    <memory unit='MiB'>512</memory>
    <vcpu>2</vcpu>
  </domain>
</domstatus>
"""


def test_defined_running_and_transient_domains(tmp_path):
    Tree(tmp_path).files({
        "/etc/libvirt/qemu/g1.xml": G1,
        "/etc/libvirt/qemu/g2.xml": G2,
        "/etc/libvirt/qemu/networks/default.xml": "<network><name>default</name></network>",
        "/etc/libvirt/qemu/autostart/g1.xml": G1,  # a directory entry's file, not a domain
        "/run/libvirt/qemu/g2.xml": G2_STATUS,
        "/run/libvirt/qemu/g2.pid": "4242",
        "/run/libvirt/qemu/t1.xml": T1_STATUS,
    })
    reader = Reader(str(tmp_path))
    facts = gather_domains(reader)
    assert reader.warnings == []
    assert facts == {
        "config_dir": True,
        "defined": [
            {"name": "g1", "uuid": "0b1c4c1e-5a4f-4d2b-9a49-0d3f8e1b2c01", "persistent": True,
             "state": "shutoff", "pid": None, "vcpus": 4, "memory_kib": 8388608,
             "current_memory_kib": 4194304, "hugepages": True,
             "numatune": {"mode": "strict", "placement": "static", "nodeset": [1]},
             "source": "/etc/libvirt/qemu/g1.xml"},
            {"name": "g2", "uuid": "0b1c4c1e-5a4f-4d2b-9a49-0d3f8e1b2c02", "persistent": True,
             "state": "running", "pid": 4242, "vcpus": 1, "memory_kib": 2097152,
             "current_memory_kib": 2097152, "hugepages": False, "numatune": None,
             "source": "/etc/libvirt/qemu/g2.xml"},
            {"name": "t1", "uuid": "0b1c4c1e-5a4f-4d2b-9a49-0d3f8e1b2c03", "persistent": False,
             "state": "paused", "pid": 5151, "vcpus": 2, "memory_kib": 524288,
             "current_memory_kib": 524288, "hugepages": False, "numatune": None,
             "source": "/run/libvirt/qemu/t1.xml"},
        ],
    }


def test_pid_file_when_the_status_has_no_pid(tmp_path):
    Tree(tmp_path).files({
        "/etc/libvirt/qemu/g2.xml": G2,
        "/run/libvirt/qemu/g2.xml": "<domstatus state='running'><domain><name>g2</name></domain></domstatus>",
        "/run/libvirt/qemu/g2.pid": "777",
    })
    (entry,) = gather_domains(Reader(str(tmp_path)))["defined"]
    assert (entry["state"], entry["pid"]) == ("running", 777)


def test_no_libvirt(tmp_path):
    assert gather_domains(Reader(str(tmp_path))) == {"config_dir": False, "defined": []}


def test_empty_config_dir(tmp_path):
    Tree(tmp_path).mkdir("/etc/libvirt/qemu/networks")
    assert gather_domains(Reader(str(tmp_path))) == {"config_dir": True, "defined": []}


def test_malformed_files_are_warnings(tmp_path):
    Tree(tmp_path).files({
        "/etc/libvirt/qemu/bad.xml": "<domain><name>bad</name>",
        "/etc/libvirt/qemu/odd.xml": "<domain><name>odd</name><memory unit='parsec'>1</memory></domain>",
        "/etc/libvirt/qemu/net.xml": "<network><name>x</name></network>",
        "/etc/libvirt/qemu/g2.xml": G2,
        "/run/libvirt/qemu/g2.xml": "<domain/>",
    })
    reader = Reader(str(tmp_path))
    facts = gather_domains(reader)
    assert [(d["name"], d["state"]) for d in facts["defined"]] == [("g2", "shutoff")]
    assert len(reader.warnings) == 4
    assert any(w.startswith("cannot parse /etc/libvirt/qemu/bad.xml") for w in reader.warnings)
    assert any("/etc/libvirt/qemu/odd.xml" in w and "parsec" in w for w in reader.warnings)
    assert any("net.xml" in w and "<network>" in w for w in reader.warnings)
    assert any("/run/libvirt/qemu/g2.xml" in w and "<domstatus>" in w for w in reader.warnings)


def test_subset_domains(tmp_path):
    Tree(tmp_path).files({"/etc/libvirt/qemu/g2.xml": G2})
    facts = kvm_host_facts(str(tmp_path), ["domains"])
    assert set(facts) == {"domains", "warnings"}
    assert [d["name"] for d in facts["domains"]["defined"]] == ["g2"]

"""libvirt_domain_tuning against libvirt's test driver (no daemon needed).

A ``test:///path/node.xml`` connection keeps its state only while it is open and is
private to that connection, so these tests open it, hand it to the module through
``run_module(conn=...)`` and read the result back through the same connection.
``test:///default`` is shared by every open connection of the process: the test of the
real ``main()`` path (the module opens its own connection) holds one open meanwhile.
The test driver offers 8 host CPUs to pinning (virNodeGetCPUMap); libvirt 9.0's file
driver does not model the host <numa> cells of NODE_XML (its capabilities list none),
which is fine: this module reads no host topology, the guest cells are in domain XML.
"""

import contextlib
import io
import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import parse_domain
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.live import cpus_of_map
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import tuning_state
from ansible_collections.kvmops.hypervisor.plugins.modules import libvirt_domain_tuning

libvirt = pytest.importorskip("libvirt")

INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE

NODE_XML = """<node>
  <cpu>
    <nodes>2</nodes>
    <sockets>2</sockets>
    <cores>2</cores>
    <threads>2</threads>
    <active>8</active>
    <mhz>2000</mhz>
    <model>x86_64</model>
    <numa>
      <cells num='2'>
        <cell id='0' memory='4194304' unit='KiB'><cpus num='4'>
          <cpu id='0'/><cpu id='1'/><cpu id='2'/><cpu id='3'/></cpus></cell>
        <cell id='1' memory='4194304' unit='KiB'><cpus num='4'>
          <cpu id='4'/><cpu id='5'/><cpu id='6'/><cpu id='7'/></cpus></cell>
      </cells>
    </numa>
  </cpu>
  <memory>8388608</memory>
  <domain type='test'>
    <name>web1</name>
    <memory unit='KiB'>1048576</memory>
    <memoryBacking><locked/></memoryBacking>
    <vcpu placement='static'>2</vcpu>
    <iothreads>1</iothreads>
    <cputune><shares>2048</shares></cputune>
    <os><type>hvm</type></os>
    <cpu><numa>
      <cell id='0' cpus='0' memory='524288' unit='KiB'/>
      <cell id='1' cpus='1' memory='524288' unit='KiB'/>
    </numa></cpu>
    <devices><graphics type='vnc' port='-1' passwd='s3cret-vnc'/></devices>
  </domain>
  <domain type='test'>
    <name>bystander</name>
    <memory unit='KiB'>524288</memory>
    <vcpu placement='static'>1</vcpu>
    <cputune><vcpupin vcpu='0' cpuset='5'/></cputune>
    <os><type>hvm</type></os>
  </domain>
</node>
"""

STOPPED_XML = """<domain type='test'>
  <name>db1</name>
  <memory unit='GiB'>2</memory>
  <vcpu placement='auto'>2</vcpu>
  <os><type>hvm</type></os>
</domain>
"""

WEB1 = {"name": "web1", "numa_node": 1, "memory_node": 1, "vcpus": 2, "memory_mb": 1024,
        "hugepages": True, "hugepage_size_kb": 2048, "vcpupin": {"0": 6, "1": 7},
        "emulatorpin": [4], "spans_nodes": False}
DB1 = {"name": "db1", "numa_node": 0, "memory_node": 0, "vcpus": 2, "memory_mb": 2048,
       "hugepages": True, "hugepage_size_kb": 1048576, "vcpupin": {"0": 2, "1": 3},
       "emulatorpin": [1], "spans_nodes": False}


@pytest.fixture
def conn(tmp_path):
    path = tmp_path / "node.xml"
    path.write_text(NODE_XML)
    connection = libvirt.open("test://%s" % path)
    connection.defineXML(STOPPED_XML)
    yield connection
    connection.close()


def run(args, conn=None, check=False, diff=True):
    """Run the module as Ansible would; return its JSON result."""
    args = dict(args)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit):
            if conn is None:
                libvirt_domain_tuning.main()
            else:
                libvirt_domain_tuning.run_module(conn=conn)
    return json.loads(out.getvalue())


def snapshot(conn):
    """Persistent and live XML of every domain, and the live pins of running ones."""
    result = {}
    for dom in conn.listAllDomains():
        entry = {"inactive": dom.XMLDesc(INACTIVE)}
        if dom.isActive():
            entry["live"] = dom.XMLDesc(0)
            entry["pins"] = live_pins(dom)
        result[dom.name()] = entry
    return result


def live_pins(dom):
    return {
        "vcpu": [cpus_of_map(item) for item in dom.vcpuPinInfo(LIVE)],
        "emulator": cpus_of_map(dom.emulatorPinInfo(LIVE)),
        "iothread": dict((thread, cpus_of_map(cpus)) for thread, cpus in dom.ioThreadInfo(LIVE)),
    }


def state(conn, name, flags=INACTIVE):
    return tuning_state(parse_domain(conn.lookupByName(name).XMLDesc(flags)))


def test_pins_running_and_stopped_domains_as_planned(conn):
    before = snapshot(conn)
    result = run({"guests": [WEB1, DB1]}, conn)

    assert result["changed"] is True
    assert result["missing"] == []
    web1 = conn.lookupByName("web1")
    root = parse_domain(web1.XMLDesc(INACTIVE))
    assert [(pin.get("vcpu"), pin.get("cpuset")) for pin in root.findall("cputune/vcpupin")] == [
        ("0", "6"), ("1", "7")]
    assert root.find("cputune/emulatorpin").get("cpuset") == "4"
    assert root.find("cputune/iothreadpin").attrib == {"iothread": "1", "cpuset": "4"}
    assert root.findtext("cputune/shares") == "2048"
    assert root.find("numatune/memory").attrib == {"mode": "strict", "nodeset": "1"}
    assert [node.attrib for node in root.findall("numatune/memnode")] == [
        {"cellid": "0", "mode": "strict", "nodeset": "1"},
        {"cellid": "1", "mode": "strict", "nodeset": "1"}]
    assert [child.tag for child in root.find("memoryBacking")] == ["hugepages", "locked"]
    assert root.find("memoryBacking/hugepages/page").attrib == {"size": "2048", "unit": "KiB"}

    # running: pins now, the rest at the next start
    assert live_pins(web1) == {"vcpu": [[6], [7]], "emulator": [4], "iothread": {1: [4]}}
    assert state(conn, "web1", 0)["numatune"]["memory"] is None
    assert result["guests"]["web1"] == {
        "changed": True, "active": True,
        "sections": ["vcpupin", "emulatorpin", "iothreadpin", "numatune", "memoryBacking"],
        "live_applied": ["vcpupin", "emulatorpin", "iothreadpin"],
        "pending_restart": ["numatune", "memoryBacking"]}

    db1 = state(conn, "db1")
    assert db1["vcpu"] == {"placement": "static", "cpuset": None}
    assert db1["vcpupin"] == {0: [2], 1: [3]}
    assert db1["memoryBacking"]["hugepages"] == [{"size_kib": 1048576, "nodeset": None}]
    assert result["guests"]["db1"]["active"] is False
    assert result["guests"]["db1"]["live_applied"] == []
    assert result["guests"]["db1"]["pending_restart"] == []

    # the domain the plan does not name is untouched, live and persistent
    assert snapshot(conn)["bystander"] == before["bystander"]
    assert [entry["before_header"] for entry in result["diff"]] == [
        "domain web1 (persistent XML)", "domain db1 (persistent XML)"]


def test_graphics_password_survives_and_stays_out_of_the_diff(conn):
    secure = INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
    result = run({"guests": [WEB1]}, conn)
    assert result["changed"] is True
    graphics = parse_domain(conn.lookupByName("web1").XMLDesc(secure)).find("devices/graphics")
    assert graphics.get("passwd") == "s3cret-vnc"
    diff = result["diff"][0]
    assert "s3cret" not in diff["before"] + diff["after"]
    assert 'passwd="********"' in diff["after"]


def test_check_mode_changes_nothing_and_predicts(conn):
    before = snapshot(conn)
    predicted = run({"guests": [WEB1, DB1]}, conn, check=True)
    assert snapshot(conn) == before
    assert predicted["changed"] is True
    assert predicted["guests"]["web1"]["live_applied"] == ["vcpupin", "emulatorpin",
                                                           "iothreadpin"]
    diff = predicted["diff"][0]
    assert "<vcpupin" not in diff["before"]
    assert '<vcpupin vcpu="0" cpuset="6" />' in diff["after"]

    applied = run({"guests": [WEB1, DB1]}, conn)
    assert applied["diff"] == predicted["diff"]
    assert applied["guests"] == predicted["guests"]


def test_second_run_reports_no_change(conn):
    assert run({"guests": [WEB1, DB1]}, conn)["changed"] is True
    after_first = snapshot(conn)
    second = run({"guests": [WEB1, DB1]}, conn)
    assert second["changed"] is False
    assert second["diff"] == []
    assert all(not entry["changed"] and not entry["live_applied"]
               for entry in second["guests"].values())
    # still pending: the running guest has not been restarted
    assert second["guests"]["web1"]["pending_restart"] == ["numatune", "memoryBacking"]
    assert snapshot(conn) == after_first
    assert run({"guests": [WEB1, DB1]}, conn, check=True)["changed"] is False


def test_restart_clears_pending(conn):
    run({"guests": [WEB1]}, conn)
    dom = conn.lookupByName("web1")
    dom.destroy()
    dom.create()
    result = run({"guests": [WEB1]}, conn)
    assert result["changed"] is False
    assert result["guests"]["web1"]["pending_restart"] == []
    assert live_pins(dom)["vcpu"] == [[6], [7]]


def test_live_false_leaves_the_running_domain_alone(conn):
    pins_before = live_pins(conn.lookupByName("web1"))
    result = run({"guests": [WEB1], "live": False}, conn)
    assert live_pins(conn.lookupByName("web1")) == pins_before
    assert state(conn, "web1")["vcpupin"] == {0: [6], 1: [7]}
    assert result["guests"]["web1"]["live_applied"] == []
    assert result["guests"]["web1"]["pending_restart"] == [
        "vcpupin", "emulatorpin", "iothreadpin", "numatune", "memoryBacking"]
    # a later run with live pinning catches up without redefining
    later = run({"guests": [WEB1]}, conn)
    assert later["changed"] is True and later["diff"] == []
    assert later["guests"]["web1"]["sections"] == []
    assert later["guests"]["web1"]["live_applied"] == ["vcpupin", "emulatorpin", "iothreadpin"]


def test_hugepages_false_removes_ours_and_keeps_locked(conn):
    run({"guests": [WEB1]}, conn)
    result = run({"guests": [dict(WEB1, hugepages=False)]}, conn)
    assert result["guests"]["web1"]["sections"] == ["memoryBacking"]
    root = parse_domain(conn.lookupByName("web1").XMLDesc(INACTIVE))
    assert [child.tag for child in root.find("memoryBacking")] == ["locked"]


def test_missing_guest_is_reported_or_fails_when_strict(conn):
    ghost = dict(DB1, name="ghost")
    result = run({"guests": [ghost, WEB1]}, conn)
    assert result["missing"] == ["ghost"]
    assert sorted(result["guests"]) == ["web1"]
    assert result["changed"] is True

    before = snapshot(conn)
    failed = run({"guests": [ghost, DB1], "strict": True}, conn)
    assert failed["failed"] is True
    assert "ghost" in failed["msg"] and "strict" in failed["msg"]
    assert snapshot(conn) == before


def test_mismatch_fails_before_any_domain_changes(conn):
    before = snapshot(conn)
    wrong = dict(WEB1, vcpus=4, vcpupin={"0": 4, "1": 5, "2": 6, "3": 7})
    result = run({"guests": [DB1, wrong]}, conn)
    assert result["failed"] is True
    assert result["errors"] == [
        "domain web1 has 2 vCPUs but the plan pins 4: change the domain or the plan "
        "(this module never changes the vCPU count)"]
    assert snapshot(conn) == before


def test_cpus_the_host_lacks_fail_before_changes(conn):
    before = snapshot(conn)
    result = run({"guests": [DB1, dict(WEB1, emulatorpin=[8, 9])]}, conn)
    assert result["failed"] is True
    assert "planned CPUs 8-9 do not exist on this host (CPUs 0-7)" in result["msg"]
    assert snapshot(conn) == before


def test_bad_input_names_the_variable(conn):
    before = snapshot(conn)
    result = run({"guests": [DB1, dict(WEB1, vcpupin={"0": 6})]}, conn)
    assert result["failed"] is True
    assert result["msg"].startswith("guests[1] (web1).vcpupin must pin every vCPU 0-1")
    assert snapshot(conn) == before


def test_transient_domain_is_refused(conn):
    conn.createXML(STOPPED_XML.replace("db1", "scratch"), 0)
    result = run({"guests": [dict(DB1, name="scratch")]}, conn)
    assert result["failed"] is True
    assert "scratch is transient" in result["msg"]


def test_takes_a_plan_entry_as_host_plan_writes_it(conn):
    # The shape plugins/module_utils/plan/planner.py emits, extra keys included, after a trip
    # through JSON (int dict keys become strings).
    entry = {"name": "web1", "numa_node": 1, "memory_node": 1, "vcpus": 2, "memory_mb": 1024,
             "smt": "exclusive", "hugepages": False, "hugepage_size_kb": None,
             "vcpupin": {"0": 5, "1": 6}, "emulatorpin": [4], "spans_nodes": True,
             "nodes": [0, 1], "memory_mb_by_node": {"0": 512, "1": 512}}
    result = run({"guests": json.loads(json.dumps([entry]))}, conn)
    assert result["changed"] is True
    got = state(conn, "web1")
    assert got["vcpupin"] == {0: [5], 1: [6]}
    assert got["numatune"]["memory"]["nodeset"] == [0, 1]
    assert got["memoryBacking"]["hugepages"] is None


def test_iothreadpin_option(conn):
    run({"guests": [WEB1], "iothreadpin": [0, 1]}, conn)
    assert state(conn, "web1")["iothreadpin"] == {1: [0, 1]}
    assert live_pins(conn.lookupByName("web1"))["iothread"] == {1: [0, 1]}


def test_main_opens_its_own_connection_to_the_uri():
    held = libvirt.open("test:///default")  # keeps the shared default state alive
    try:
        held.defineXML(STOPPED_XML.replace("db1", "kvmops-tuning"))
        untouched = held.lookupByName("test").XMLDesc(INACTIVE)
        guest = dict(DB1, name="kvmops-tuning")
        result = run({"guests": [guest], "uri": "test:///default"})
        assert result["changed"] is True
        assert state(held, "kvmops-tuning")["vcpupin"] == {0: [2], 1: [3]}
        assert held.lookupByName("test").XMLDesc(INACTIVE) == untouched
        again = run({"guests": [guest], "uri": "test:///default"})
        assert again["changed"] is False
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            held.lookupByName("kvmops-tuning").undefine()
        held.close()


def test_connection_failure_is_reported():
    result = run({"guests": [DB1], "uri": "test:///nonexistent/node.xml"})
    assert result["failed"] is True
    assert result["msg"].startswith("cannot connect to libvirt at test:///nonexistent/node.xml")


def test_missing_libvirt_python_fails_clearly(monkeypatch):
    monkeypatch.setattr(libvirt_domain_tuning, "libvirt", None)
    result = run({"guests": [DB1]})
    assert result["failed"] is True
    assert "libvirt-python" in result["msg"]

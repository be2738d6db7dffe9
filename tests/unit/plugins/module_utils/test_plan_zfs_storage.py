# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section zfs_storage: one test per decision, expected values written out by hand."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import PlanError, plan

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("kvmops_plan_zfs_helpers", os.path.join(HERE, "test_plan.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
make_facts = _helpers.make_facts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
HWLOC = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "hwloc")

MIB = 1048576
SCRATCH = "/dev/disk/by-id/virtio-kvmops-scratch"
MODPROBE = "/etc/modprobe.d/zfs.conf"


def lab_facts(arc_max=3 * 1024 * MIB, arc_min=128 * MIB, pools=(), present=True):
    """Like the lab: 2 nodes of 2 GiB, ZFS loaded with its default ARC."""
    facts = make_facts(sockets=2, cores=1, smt=2, node_memory_mb=2048)
    facts["zfs"] = {"present": present, "pools": list(pools), "arc": {"max": arc_max, "min": arc_min},
                    "block_devices": ["/dev/vda", "/dev/vdb", SCRATCH]}
    return facts


LAB_POLICY = {"zfs_arc_max_mb": 256, "hugepage_size": "2M", "hugepages_per_node": {"0": 16, "1": 80}}


def zfs(options=None, policy=None, facts=None):
    result = plan(facts or lab_facts(), LAB_POLICY if policy is None else policy,
                  sections={"zfs_storage": options or {}})
    return result["zfs_storage"]


def error(options=None, policy=None, facts=None):
    with pytest.raises(PlanError) as info:
        zfs(options, policy, facts)
    return str(info.value)


def volume(**kwargs):
    item = {"name": "tank/vm/disk0", "type": "volume", "size": "10G"}
    item.update(kwargs)
    return item


# --------------------------------------------------------------------------- ARC

def test_arc_from_the_plan_budget_and_default_min():
    result = zfs()
    # max: kvmops_plan_zfs_arc_max_mb 256 MiB; min: max(RAM/32 = 128, 32) capped at max/2 = 128
    assert result["arc"]["max_bytes"] == 268435456
    assert result["arc"]["min_bytes"] == 134217728
    assert result["files"] == {MODPROBE: result["files"][MODPROBE]}
    text = result["files"][MODPROBE]
    assert text.startswith("# Managed by Ansible (kvmops.hypervisor.zfs_storage)")
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "options zfs zfs_arc_max=268435456 zfs_arc_min=134217728"]


def test_arc_lowering_sets_min_then_max():
    # current c_max 3 GiB > 256 MiB: lowering
    assert zfs()["arc"]["order"] == [["zfs_arc_min", "134217728"], ["zfs_arc_max", "268435456"]]


def test_arc_raising_sets_max_then_min():
    result = zfs(facts=lab_facts(arc_max=100 * MIB, arc_min=40 * MIB))
    assert result["arc"]["order"] == [["zfs_arc_max", "268435456"], ["zfs_arc_min", "134217728"]]


def test_arc_sysfs_items_for_the_audit():
    assert zfs()["sysfs"] == {"/sys/module/zfs/parameters/zfs_arc_max": "268435456",
                              "/sys/module/zfs/parameters/zfs_arc_min": "134217728"}


def test_arc_without_zfs_loaded_writes_only_the_file():
    result = zfs(facts=lab_facts(present=False))
    assert result["sysfs"] == {} and MODPROBE in result["files"]


@pytest.mark.parametrize("present", [True, False])
def test_arc_left_alone_without_policy_value(present):
    # the running c_max is what the planner counts then, but pinning it would freeze the default
    result = zfs(policy={"hugepage_size": "2M"}, facts=lab_facts(present=present))
    assert result["arc"] is None and result["files"] == {} and result["sysfs"] == {}


def test_arc_option_without_policy_value_is_checked_against_the_running_max():
    result = zfs({"arc_max_mb": 512}, policy={"hugepage_size": "2M"})
    assert result["arc"]["max_bytes"] == 512 * MIB
    assert error({"arc_max_mb": 512}, policy={"hugepage_size": "2M"},
                 facts=lab_facts(present=False)).startswith("zfs_storage_arc_max_mb: the plan budgets no ARC")


def test_arc_option_below_budget_is_taken():
    result = zfs({"arc_max_mb": 128, "arc_min_mb": 64})
    assert (result["arc"]["max_bytes"], result["arc"]["min_bytes"]) == (128 * MIB, 64 * MIB)


def test_arc_option_above_budget_is_refused():
    assert error({"arc_max_mb": 512}).startswith("zfs_storage_arc_max_mb: 512 MiB is more than the plan budgets")


@pytest.mark.parametrize("options, start", [
    ({"arc_max_mb": 128, "arc_min_mb": 128}, "zfs_storage_arc_max_mb: 128 MiB is not above the ARC minimum"),
    ({"arc_max_mb": 100, "arc_min_mb": 200}, "zfs_storage_arc_max_mb: 100 MiB is not above the ARC minimum"),
    ({"arc_min_mb": 16}, "zfs_storage_arc_min_mb: 16 MiB is below 32 MiB"),
    ({"arc_max_mb": 48}, "zfs_storage_arc_max_mb: 48 MiB is below 64 MiB"),
])
def test_arc_limits_refused(options, start):
    assert error(options).startswith(start)


def test_arc_and_huge_pages_over_the_node_are_refused_by_the_planner():
    policy = dict(LAB_POLICY, zfs_arc_max_mb=2048)
    assert error(policy=policy).startswith("hugepages_per_node: node 0")


# --------------------------------------------------------------------------- datasets

def test_zvol_defaults():
    result = zfs({"datasets": [volume()]})
    assert result["datasets"] == [{
        "name": "tank/vm/disk0", "pool": "tank", "type": "volume", "state": "present",
        "size": 10737418240, "sparse": False,
        "properties": {"compression": "lz4", "logbias": "latency", "primarycache": "all",
                       "sync": "standard", "volmode": "dev"},
        "creation_properties": {"volblocksize": "16384"},
    }]


def test_filesystem_defaults():
    result = zfs({"datasets": [{"name": "tank/images", "type": "filesystem"}]})
    assert result["datasets"][0]["properties"] == {
        "atime": "off", "compression": "lz4", "logbias": "latency", "primarycache": "all",
        "recordsize": "65536", "sync": "standard"}
    assert result["datasets"][0]["creation_properties"] == {}


def test_properties_override_defaults_and_sizes_become_bytes():
    result = zfs({"datasets": [{"name": "tank/images", "properties": {
        "recordsize": "1M", "primarycache": "metadata", "quota": "2T", "atime": True}}]})
    props = result["datasets"][0]["properties"]
    assert props["recordsize"] == "1048576" and props["quota"] == "2199023255552"
    assert props["primarycache"] == "metadata" and props["atime"] == "on"


def test_creation_only_properties_are_split():
    result = zfs({"datasets": [{"name": "tank/sec", "properties": {"encryption": "aes-256-gcm",
                                                                   "casesensitivity": "sensitive"}}]})
    assert result["datasets"][0]["creation_properties"] == {"casesensitivity": "sensitive",
                                                            "encryption": "aes-256-gcm"}
    assert "encryption" not in result["datasets"][0]["properties"]


def test_volume_size_and_block_given_in_bytes_or_suffix():
    result = zfs({"datasets": [volume(size=1073741824, volblocksize="64K", sparse=True)]})
    item = result["datasets"][0]
    assert (item["size"], item["creation_properties"], item["sparse"]) == (1073741824, {"volblocksize": "65536"}, True)


def test_user_property_is_kept_as_text():
    result = zfs({"datasets": [volume(properties={"org.kvmops:guest": "db1"})]})
    assert result["datasets"][0]["properties"]["org.kvmops:guest"] == "db1"


@pytest.mark.parametrize("dataset, message", [
    (volume(properties={"sync": "async"}),
     "zfs_storage_datasets[0].properties.sync: 'async' is not a ZFS value; use standard, always or disabled"),
    (volume(properties={"compresion": "lz4"}),
     "zfs_storage_datasets[0].properties: 'compresion' is not a ZFS property this role knows"),
    (volume(volblocksize="12K"), "zfs_storage_datasets[0].volblocksize: '12K' is not a power of two from 512 to 128K"),
    (volume(volblocksize="256K"), "zfs_storage_datasets[0].volblocksize: '256K' is not a power of two from 512 to 128K"),
    (volume(volblocksize=256), "zfs_storage_datasets[0].volblocksize: 256 is not a power of two from 512 to 128K"),
    (volume(size=None), "zfs_storage_datasets[0].size: a volume needs a size"),
    (volume(size="10X"), "zfs_storage_datasets[0].size: '10X' is not a size"),
    (volume(size=1000), "zfs_storage_datasets[0].size: 1000 bytes is not a positive multiple of volblocksize 16384"),
    (volume(properties={"recordsize": "64K"}), "zfs_storage_datasets[0].properties.recordsize: recordsize applies "
                                               "to filesystem only"),
    (volume(properties={"volblocksize": "8K"}), "zfs_storage_datasets[0].properties.volblocksize: give it as "
                                                "zfs_storage_datasets[0].volblocksize"),
    ({"name": "tank/fs", "size": "1G"}, "zfs_storage_datasets[0].size: applies to volumes only"),
    ({"name": "tank", "type": "filesystem"}, "zfs_storage_datasets[0].name: 'tank' is not a dataset name"),
    ({"name": "tank/x", "type": "zvol"}, "zfs_storage_datasets[0].type: 'zvol' is neither filesystem nor volume"),
    ({"name": "tank/x", "colour": "red"}, "zfs_storage_datasets[0]: unknown key 'colour'"),
    ({"name": "tank/x", "properties": {"recordsize": "3K"}},
     "zfs_storage_datasets[0].properties.recordsize: '3K' is not a power of two"),
])
def test_dataset_errors_name_the_variable(dataset, message):
    assert error({"datasets": [dataset]}).startswith(message)


def test_dataset_declared_twice():
    assert error({"datasets": [volume(), volume()]}).startswith("zfs_storage_datasets[1].name: tank/vm/disk0 is "
                                                                "declared twice")


def test_dataset_on_unknown_pool_warns():
    result = plan(lab_facts(), LAB_POLICY, sections={"zfs_storage": {"datasets": [volume()]}})
    assert any("pool tank neither exists nor is declared" in w for w in result["warnings"])


def test_absent_volume_needs_no_size():
    result = zfs({"datasets": [volume(size=None, state="absent")], "allow_destroy": True})
    assert result["datasets"][0]["state"] == "absent" and result["allow_destroy"] is True


# --------------------------------------------------------------------------- pools

def test_pools_default_to_none():
    assert zfs()["pools"] == []


def test_pool_with_ashift_default_12():
    result = zfs({"pools": [{"name": "tank", "vdevs": [SCRATCH]}]})
    assert result["pools"] == [{"name": "tank", "vdevs": [SCRATCH], "devices": [SCRATCH], "ashift": 12,
                                "properties": {}, "filesystem_properties": {}, "force": [], "exists": False}]


def test_pool_layout_keywords_are_not_devices():
    result = zfs({"pools": [{"name": "tank", "vdevs": "mirror /dev/vda /dev/vdb"}]})
    assert result["pools"][0]["devices"] == ["/dev/vda", "/dev/vdb"]
    assert result["pools"][0]["vdevs"] == ["mirror", "/dev/vda", "/dev/vdb"]


def test_pool_device_missing_is_refused():
    message = error({"pools": [{"name": "tank", "vdevs": ["/dev/disk/by-id/nope"]}]})
    assert message.startswith("zfs_storage_pools[0].vdevs: device /dev/disk/by-id/nope does not exist")


def test_existing_pool_devices_are_not_checked():
    result = zfs({"pools": [{"name": "tank", "vdevs": ["/dev/gone"]}]}, facts=lab_facts(pools=["tank"]))
    assert result["pools"][0]["exists"] is True


@pytest.mark.parametrize("pool, start", [
    ({"name": "tank", "vdevs": [SCRATCH], "ashift": 8}, "zfs_storage_pools[0].ashift: must be an integer from 9 to 16"),
    ({"name": "tank", "vdevs": [SCRATCH], "force": "/dev/vda"}, "zfs_storage_pools[0].force: '/dev/vda' is not one"),
    ({"name": "mirror", "vdevs": [SCRATCH]}, "zfs_storage_pools[0].name: 'mirror' is not a pool name"),
    ({"name": "tank", "vdevs": ["vdb"]}, "zfs_storage_pools[0].vdevs: 'vdb': give devices as /dev paths"),
    ({"name": "tank", "vdevs": ["mirror"]}, "zfs_storage_pools[0].vdevs: names no device"),
])
def test_pool_errors_name_the_variable(pool, start):
    assert error({"pools": [pool]}).startswith(start)


# --------------------------------------------------------------------------- the budget on real machines

def _hwloc_cases():
    if not os.path.isdir(HWLOC):
        return []
    return sorted(name[:-len(".expected.json")] for name in os.listdir(HWLOC) if name.endswith(".expected.json"))


def _hwloc_facts(name):
    with open(os.path.join(HWLOC, name + ".expected.json")) as handle:
        expected = json.load(handle)
    nodes = [{"id": n["id"], "cpus": n["cpus"], "memory_kb": n["memory_kb"], "hugepages": {}}
             for n in expected["numa"]]
    return {
        "cpu": {"vendor": "GenuineIntel", "flags": {"pdpe1gb": False}, "online": expected["pus"],
                "core_groups": expected["cores"], "package_groups": expected["packages"]},
        "numa": {"nodes": nodes},
        "memory": {"total_kb": sum(n["memory_kb"] for n in nodes), "hugepage_sizes_kb": [2048]},
        "kernel": {"release": "6.1.0"},
        "zfs": {"present": True, "pools": [], "arc": {"max": 1 << 40, "min": 32 * MIB}, "block_devices": []},
    }


@pytest.mark.hwloc
@pytest.mark.skipif(not os.path.isdir(HWLOC), reason="../shared/fixtures/hwloc is absent")
@pytest.mark.parametrize("name", _hwloc_cases() or ["none"])
@pytest.mark.parametrize("arc_share", [0.05, 0.25])
def test_arc_plus_hugepages_plus_reserve_fit_memtotal(name, arc_share):
    facts = _hwloc_facts(name)
    total_mb = facts["memory"]["total_kb"] // 1024
    arc_mb = max(64, int(total_mb * arc_share))
    policy = {"zfs_arc_max_mb": arc_mb, "hugepage_size": "2M", "hugepages_percent": 100}
    result = plan(facts, policy, sections={"zfs_storage": {}})
    pool_mb = dict((node, count * 2) for node, count in result["hugepage_pool"]["2048"].items())
    for node in facts["numa"]["nodes"]:
        key = str(node["id"])
        # reserved_memory_mb is the node's host reserve plus its ARC share
        assert pool_mb[key] + result["reserved_memory_mb"][key] <= node["memory_kb"] // 1024, key
    assert result["zfs_storage"]["arc"]["max_bytes"] == arc_mb * MIB
    host_reserve = sum(result["reserved_memory_mb"].values())
    assert sum(pool_mb.values()) + host_reserve <= total_mb
    assert arc_mb <= host_reserve  # every MiB of the ARC maximum is counted in a node's reserve


# --------------------------------------------------------------------------- libvirt pools

GUESTS = [{"name": "kvmlab/guests", "type": "filesystem"},
          {"name": "kvmlab/guests/disk0", "type": "volume", "size": "1G"},
          {"name": "kvmlab/guests/disk1", "type": "volume", "size": "2G", "sparse": True}]
KVMLAB = [{"name": "kvmlab", "vdevs": [SCRATCH]}]


def with_guests(**options):
    result = {"pools": KVMLAB, "datasets": GUESTS}
    result.update(options)
    return result


def test_no_libvirt_pool_and_no_snapshots_by_default():
    result = zfs()
    assert result["libvirt_pools"] == [] and result["snapshots"] == []
    assert result["packages"] == [] and result["services"] == [] and result["snapshot_files"] == {}
    assert "/etc/sanoid/sanoid.conf" not in result["files"]


def test_libvirt_pool_over_the_guest_dataset():
    result = zfs(with_guests(libvirt_pools=[{"name": "guests-zfs", "dataset": "kvmlab/guests"}]))
    assert result["libvirt_pools"] == [{
        "name": "guests-zfs", "dataset": "kvmlab/guests", "autostart": True,
        "xml": ("<pool type='zfs'>\n  <name>guests-zfs</name>\n  <source>\n    <name>kvmlab/guests</name>\n"
                "  </source>\n</pool>\n"),
        "volumes": ["disk0", "disk1"], "absent_volumes": [], "variable": "zfs_storage_libvirt_pools[0]"}]


def test_libvirt_pool_volumes_are_every_zvol_below_by_last_name():
    datasets = GUESTS + [{"name": "kvmlab/guests/db/data", "type": "volume", "size": "1G"},
                         {"name": "kvmlab/guests/old", "type": "volume", "state": "absent"},
                         {"name": "kvmlab/other/disk9", "type": "volume", "size": "1G"}]
    result = zfs({"pools": KVMLAB, "datasets": datasets,
                  "libvirt_pools": [{"name": "guests-zfs", "dataset": "kvmlab/guests", "autostart": False}]})
    pool = result["libvirt_pools"][0]
    assert (pool["volumes"], pool["absent_volumes"], pool["autostart"]) == (["data", "disk0", "disk1"], ["old"], False)


def test_libvirt_pool_over_a_pool_root_dataset():
    result = zfs({"libvirt_pools": [{"name": "tank", "dataset": "tank"}]}, facts=lab_facts(pools=["tank"]))
    assert result["libvirt_pools"][0]["dataset"] == "tank" and result["libvirt_pools"][0]["volumes"] == []


def test_libvirt_pool_warns_without_libvirt():
    result = plan(lab_facts(), LAB_POLICY, sections={"zfs_storage": with_guests(
        libvirt_pools=[{"name": "guests-zfs", "dataset": "kvmlab/guests"}])})
    assert any(w.startswith("zfs_storage_libvirt_pools: libvirt is not installed") for w in result["warnings"])
    facts = lab_facts()
    facts["libvirt"] = {"present": True}
    result = plan(facts, LAB_POLICY, sections={"zfs_storage": with_guests(
        libvirt_pools=[{"name": "guests-zfs", "dataset": "kvmlab/guests"}])})
    assert not any("libvirt is not installed" in w for w in result["warnings"])


@pytest.mark.parametrize("pools, start", [
    ([{"name": "guests-zfs", "dataset": "kvmlab/nope"}],
     "zfs_storage_libvirt_pools[0].dataset: kvmlab/nope is neither a dataset of zfs_storage_datasets nor a pool's "
     "root dataset"),
    ([{"name": "guests-zfs", "dataset": "kvmlab/guests/disk0"}],
     "zfs_storage_libvirt_pools[0].dataset: kvmlab/guests/disk0 is a volume; give a filesystem"),
    ([{"name": "guests-zfs", "dataset": "tank"}],
     "zfs_storage_libvirt_pools[0].dataset: tank is neither a dataset"),
    ([{"name": "guests-zfs"}], "zfs_storage_libvirt_pools[0].dataset: must be a dataset name, got None"),
    ([{"name": "guests/zfs", "dataset": "kvmlab/guests"}],
     "zfs_storage_libvirt_pools[0].name: 'guests/zfs' is not a libvirt pool name"),
    ([{"name": "", "dataset": "kvmlab/guests"}], "zfs_storage_libvirt_pools[0].name: '' is not a libvirt pool name"),
    ([{"name": "a", "dataset": "kvmlab/guests"}, {"name": "a", "dataset": "kvmlab"}],
     "zfs_storage_libvirt_pools[1].name: pool a is also zfs_storage_libvirt_pools[0]"),
    ([{"name": "a", "dataset": "kvmlab/guests"}, {"name": "b", "dataset": "kvmlab/guests"}],
     "zfs_storage_libvirt_pools[1].dataset: kvmlab/guests is already the source of zfs_storage_libvirt_pools[0]"),
    ([{"name": "a", "dataset": "kvmlab/guests", "autostart": "yes"}],
     "zfs_storage_libvirt_pools[0].autostart: must be true or false"),
    ([{"name": "a", "dataset": "kvmlab/guests", "type": "zfs"}],
     "zfs_storage_libvirt_pools[0]: unknown key 'type' (known: name, dataset, autostart)"),
    (["guests-zfs"], "zfs_storage_libvirt_pools: Elements value for option 'libvirt_pools' is of type str"),
])
def test_libvirt_pool_errors_name_the_variable(pools, start):
    assert error(with_guests(libvirt_pools=pools)).startswith(start)


def test_libvirt_pool_over_a_dataset_being_destroyed_is_refused():
    datasets = [{"name": "kvmlab/guests", "state": "absent"}]
    message = error({"pools": KVMLAB, "datasets": datasets, "allow_destroy": True,
                     "libvirt_pools": [{"name": "a", "dataset": "kvmlab/guests"}]})
    assert message.startswith("zfs_storage_libvirt_pools[0].dataset: kvmlab/guests has state absent")


def test_libvirt_pool_two_zvols_of_one_name_are_refused():
    datasets = GUESTS + [{"name": "kvmlab/guests/b/disk0", "type": "volume", "size": "1G"}]
    message = error({"pools": KVMLAB, "datasets": datasets,
                     "libvirt_pools": [{"name": "a", "dataset": "kvmlab/guests"}]})
    assert message.startswith("zfs_storage_libvirt_pools[0].dataset: zvols kvmlab/guests/disk0 and "
                              "kvmlab/guests/b/disk0 are both volume disk0")


def test_libvirt_pool_name_is_escaped_in_the_xml():
    # names are restricted, datasets may hold ':' only; the escape is still applied
    result = zfs({"datasets": [{"name": "kvmlab/a:b"}], "pools": KVMLAB,
                  "libvirt_pools": [{"name": "p+1", "dataset": "kvmlab/a:b"}]})
    assert "<name>p+1</name>" in result["libvirt_pools"][0]["xml"]
    assert "<name>kvmlab/a:b</name>" in result["libvirt_pools"][0]["xml"]


# --------------------------------------------------------------------------- sanoid

SANOID = "/etc/sanoid/sanoid.conf"


def sanoid_body(text):
    """The non-comment lines of sanoid.conf."""
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_sanoid_policy_written_with_every_key_and_its_source():
    result = zfs(with_guests(snapshots=[{"dataset": "kvmlab/guests", "recursive": True, "hourly": 24, "daily": 7,
                                         "monthly": 0, "autoprune": True}]))
    text = result["files"][SANOID]
    assert result["snapshot_files"] == {SANOID: text}
    assert text.startswith("# Managed by Ansible (kvmops.hypervisor.zfs_storage); local changes are overwritten.\n")
    # sanoid 2.1.0's sanoid.defaults.conf: frequently 0, weekly 0, yearly 0, autosnap yes
    assert sanoid_body(text) == ["[kvmlab/guests]", "recursive = yes", "frequently = 0", "hourly = 24", "daily = 7",
                                 "weekly = 0", "monthly = 0", "yearly = 0", "autosnap = yes", "autoprune = yes"]
    lines = text.splitlines()
    assert lines[lines.index("hourly = 24") - 1] == "# zfs_storage_snapshots[0].hourly"
    assert lines[lines.index("weekly = 0") - 1] == \
        "# sanoid 2.1.0 default (/usr/share/sanoid/sanoid.defaults.conf)"


def test_sanoid_defaults_are_sanoids_own():
    # hourly 48, daily 90, monthly 6 (sanoid.defaults.conf 2.1.0); recursive unset: no
    result = zfs(with_guests(snapshots=[{"dataset": "kvmlab"}]))
    assert sanoid_body(result["files"][SANOID]) == [
        "[kvmlab]", "recursive = no", "frequently = 0", "hourly = 48", "daily = 90", "weekly = 0", "monthly = 6",
        "yearly = 0", "autosnap = yes", "autoprune = yes"]


def test_sanoid_zfs_recursion_and_a_zvol():
    result = zfs(with_guests(snapshots=[{"dataset": "kvmlab/guests", "recursive": "zfs", "autosnap": False},
                                        {"dataset": "kvmlab/guests/disk0", "autoprune": False, "frequently": 4}]))
    body = sanoid_body(result["files"][SANOID])
    assert body[:2] == ["[kvmlab/guests]", "recursive = zfs"] and "autosnap = no" in body[:10]
    assert body[10:] == ["[kvmlab/guests/disk0]", "recursive = no", "frequently = 4", "hourly = 48", "daily = 90",
                         "weekly = 0", "monthly = 6", "yearly = 0", "autosnap = yes", "autoprune = no"]


def test_sanoid_policy_installs_and_enables_the_timer():
    result = zfs(with_guests(snapshots=[{"dataset": "kvmlab/guests", "hourly": 2}]))
    assert result["packages"] == ["sanoid"]
    assert [(s["unit"], s["state"], s["enabled"]) for s in result["services"]] == [("sanoid.timer", "started", True)]


def test_sanoid_and_modprobe_files_are_both_in_files():
    result = zfs(with_guests(snapshots=[{"dataset": "kvmlab/guests"}]))
    assert sorted(result["files"]) == [MODPROBE, SANOID]
    assert result["modprobe_files"] == {MODPROBE: result["files"][MODPROBE]}


@pytest.mark.parametrize("snapshots, start", [
    ([{"dataset": "kvmlab/guests", "hourly": -1}],
     "zfs_storage_snapshots[0].hourly: must be a count of snapshots to keep (0 or more), got -1"),
    ([{"dataset": "kvmlab/guests", "daily": "7"}], "zfs_storage_snapshots[0].daily: must be a count"),
    ([{"dataset": "kvmlab/guests", "monthly": True}], "zfs_storage_snapshots[0].monthly: must be a count"),
    ([{"dataset": "kvmlab/guests", "use_template": "production"}],
     "zfs_storage_snapshots[0]: unknown key 'use_template' (known: dataset, recursive, frequently"),
    ([{"dataset": "kvmlab/guests", "hourly_warn": "90m"}], "zfs_storage_snapshots[0]: unknown key 'hourly_warn'"),
    ([{"dataset": "kvmlab/guests", "recursive": "yes"}],
     "zfs_storage_snapshots[0].recursive: must be true, false or zfs"),
    ([{"dataset": "kvmlab/guests", "autoprune": "yes"}], "zfs_storage_snapshots[0].autoprune: must be true or false"),
    ([{"dataset": "kvmlab/elsewhere"}], "zfs_storage_snapshots[0].dataset: kvmlab/elsewhere is neither a dataset"),
    ([{"hourly": 2}], "zfs_storage_snapshots[0].dataset: must be a dataset name, got None"),
    ([{"dataset": "kvmlab/guests"}, {"dataset": "kvmlab/guests", "daily": 1}],
     "zfs_storage_snapshots[1].dataset: kvmlab/guests already has a policy (zfs_storage_snapshots[0])"),
    (["kvmlab/guests"], "zfs_storage_snapshots: Elements value for option 'snapshots' is of type str"),
])
def test_sanoid_errors_name_the_variable(snapshots, start):
    assert error(with_guests(snapshots=snapshots)).startswith(start)


def test_sanoid_on_an_existing_pool_root():
    result = zfs({"snapshots": [{"dataset": "tank", "daily": 3}]}, facts=lab_facts(pools=["tank"]))
    assert sanoid_body(result["files"][SANOID])[:1] == ["[tank]"]

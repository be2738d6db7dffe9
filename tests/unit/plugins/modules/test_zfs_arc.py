"""zfs_arc: writes the ARC parameters in the plan's order and checks arcstats afterwards."""

import os

from ansible_collections.kvmops.hypervisor.plugins.modules import zfs_arc
from module_runner import run_module

MIB = 1048576
PARAMS = "sys/module/zfs/parameters"
ORDER_LOWER = [["zfs_arc_min", str(128 * MIB)], ["zfs_arc_max", str(256 * MIB)]]


def host(root, arc_max="0", arc_min="0", c_max=256 * MIB, c_min=128 * MIB):
    os.makedirs(os.path.join(str(root), PARAMS), exist_ok=True)
    os.makedirs(os.path.join(str(root), "proc/spl/kstat/zfs"), exist_ok=True)
    for name, value in (("zfs_arc_max", arc_max), ("zfs_arc_min", arc_min)):
        with open(os.path.join(str(root), PARAMS, name), "w") as handle:
            handle.write(value + "\n")
    with open(os.path.join(str(root), "proc/spl/kstat/zfs/arcstats"), "w") as handle:
        handle.write("13 1 0x01 123 33456 6170739829 1018397398455779\nname type data\n"
                     "c_min 4 %d\nc_max 4 %d\n" % (c_min, c_max))


def param(root, name):
    with open(os.path.join(str(root), PARAMS, name)) as handle:
        return handle.read().strip()


def run(monkeypatch, root, order=None, check_mode=False):
    return run_module(monkeypatch, zfs_arc.main, {"order": ORDER_LOWER if order is None else order, "max_bytes": 256 * MIB, "min_bytes": 128 * MIB,
                                                  "root": str(root)}, check_mode=check_mode)


def test_writes_in_the_given_order_and_verifies(monkeypatch, tmp_path):
    host(tmp_path)
    result = run(monkeypatch, tmp_path)
    assert not result.failed and result.result["changed"] is True
    assert result.result["written"] == [["zfs_arc_min", "0", str(128 * MIB)], ["zfs_arc_max", "0", str(256 * MIB)]]
    assert param(tmp_path, "zfs_arc_max") == str(256 * MIB)
    assert result.result["arcstats"] == {"c_max": 256 * MIB, "c_min": 128 * MIB}


def test_raising_order_is_kept(monkeypatch, tmp_path):
    host(tmp_path)
    result = run(monkeypatch, tmp_path, order=list(reversed(ORDER_LOWER)))
    assert [item[0] for item in result.result["written"]] == ["zfs_arc_max", "zfs_arc_min"]


def test_nothing_written_when_equal(monkeypatch, tmp_path):
    host(tmp_path, arc_max=str(256 * MIB), arc_min=str(128 * MIB))
    result = run(monkeypatch, tmp_path)
    assert result.result["changed"] is False and result.result["written"] == []


def test_silently_ignored_value_fails(monkeypatch, tmp_path):
    # the parameter file takes the value, the ARC keeps its old c_max ("ignoring tunable")
    host(tmp_path, c_max=3072 * MIB)
    result = run(monkeypatch, tmp_path)
    assert result.failed and "arcstats c_max %d, wanted %d" % (3072 * MIB, 256 * MIB) in result.result["msg"]


def test_check_mode_writes_nothing(monkeypatch, tmp_path):
    host(tmp_path, c_max=3072 * MIB)
    result = run(monkeypatch, tmp_path, check_mode=True)
    assert not result.failed and result.result["changed"] is True and param(tmp_path, "zfs_arc_max") == "0"


def test_zfs_not_loaded_fails(monkeypatch, tmp_path):
    result = run(monkeypatch, tmp_path)
    assert result.failed and "not loaded" in result.result["msg"]


def test_bad_pair_refused(monkeypatch, tmp_path):
    host(tmp_path)
    result = run(monkeypatch, tmp_path, order=[["zfs_arc_meta_limit", "1"]])
    assert result.failed and param(tmp_path, "zfs_arc_max") == "0"

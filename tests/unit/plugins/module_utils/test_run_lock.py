"""The host-side run lock (issue 21: two runs against one host at once)."""

import json
import multiprocessing
import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import run_lock
from ansible_collections.kvmops.hypervisor.plugins.modules import run_lock as run_lock_module
from module_runner import run_module

NOW = 1_800_000_000.0


def record(run_id, when=NOW):
    return {"run_id": run_id, "controller": "ctl", "pid": 1, "time": when, "time_text": "t"}


def test_first_run_acquires_and_holds(tmp_path):
    path = str(tmp_path / "kvmops" / "run.lock")
    assert run_lock.acquire(path, record("a"), NOW, 7200) == ("acquired", None)
    assert json.loads(open(path).read())["run_id"] == "a"
    status, holder = run_lock.acquire(path, record("a", NOW + 5), NOW + 5, 7200)
    assert status == "held" and holder["time"] == NOW  # the first record stays


def test_second_run_is_busy_and_changes_nothing(tmp_path):
    path = str(tmp_path / "run.lock")
    run_lock.acquire(path, record("a"), NOW, 7200)
    before = open(path).read()
    status, holder = run_lock.acquire(path, record("b", NOW + 60), NOW + 60, 7200)
    assert status == "busy" and holder["run_id"] == "a"
    assert open(path).read() == before


def test_stale_lock_is_taken_over(tmp_path):
    path = str(tmp_path / "run.lock")
    run_lock.acquire(path, record("a"), NOW, 7200)
    status, holder = run_lock.acquire(path, record("b", NOW + 7201), NOW + 7201, 7200)
    assert status == "taken-over" and holder["run_id"] == "a"
    assert json.loads(open(path).read())["run_id"] == "b"
    assert sorted(os.listdir(str(tmp_path))) == ["run.lock"]


def test_break_run_id_takes_over_only_that_run(tmp_path):
    path = str(tmp_path / "run.lock")
    run_lock.acquire(path, record("a"), NOW, 7200)
    assert run_lock.acquire(path, record("b"), NOW, 7200, break_run_id="zzz")[0] == "busy"
    assert run_lock.acquire(path, record("b"), NOW, 7200, break_run_id="a")[0] == "taken-over"


def test_torn_or_foreign_file_is_stale(tmp_path):
    path = str(tmp_path / "run.lock")
    with open(path, "w") as handle:
        handle.write("{trunc")
    assert run_lock.acquire(path, record("b"), NOW, 7200)[0] == "taken-over"


def test_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "run.lock")
    assert run_lock.acquire(path, record("a"), NOW, 7200, check=True) == ("would-acquire", None)
    assert not os.path.exists(path)
    assert run_lock.release(path, "a", check=True) is False


def test_release_only_by_the_holder(tmp_path):
    path = str(tmp_path / "run.lock")
    run_lock.acquire(path, record("a"), NOW, 7200)
    assert run_lock.release(path, "b") is False and os.path.exists(path)
    assert run_lock.release(path, "a") is True and not os.path.exists(path)


def _race(path, run_id, out):
    out.put((run_id, run_lock.acquire(path, record(run_id), NOW, 7200)[0]))


def test_two_runs_at_the_same_instant_one_wins(tmp_path):
    """Real processes racing on O_EXCL (and on taking over a stale lock): exactly one
    acquires, the others are busy, and the file is the winner's."""
    for stale in (False, True):
        path = str(tmp_path / ("stale.lock" if stale else "fresh.lock"))
        if stale:
            run_lock.create(path, record("old", NOW - 10000))
        out = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=_race, args=(path, "r%d" % i, out)) for i in range(8)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(30)
        results = dict(out.get(timeout=5) for _proc in procs)
        winners = [run_id for run_id, status in results.items() if status in ("acquired", "taken-over")]
        assert len(winners) == 1, results
        assert json.loads(open(path).read())["run_id"] == winners[0]
        assert [name for name in os.listdir(str(tmp_path)) if ".stale." in name] == []


def test_module_refuses_a_short_stale_after(monkeypatch, tmp_path):
    outcome = run_module(monkeypatch, run_lock_module.main,
                         {"run_id": "a", "stale_after": 5, "root": str(tmp_path)})
    assert outcome.failed and outcome.result["msg"].startswith("kvmops_lock_stale_after:")


def test_module_never_reports_changed(monkeypatch, tmp_path):
    first = run_module(monkeypatch, run_lock_module.main, {"run_id": "a", "root": str(tmp_path)})
    assert not first.failed and first.result["status"] == "acquired" and first.result["changed"] is False
    assert os.path.exists(str(tmp_path / "var/lib/kvmops/run.lock"))
    busy = run_module(monkeypatch, run_lock_module.main, {"run_id": "b", "root": str(tmp_path)})
    assert busy.result["status"] == "busy" and busy.result["holder"]["run_id"] == "a"
    gone = run_module(monkeypatch, run_lock_module.main, {"run_id": "a", "state": "released", "root": str(tmp_path)})
    assert gone.result["status"] == "released" and not os.path.exists(str(tmp_path / "var/lib/kvmops/run.lock"))


@pytest.mark.parametrize("stat, start", [
    ("1234 (ansible-playbook) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 10 1\n", "98765"),
    ("1234 (a b) c)) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 4242 10 1\n", "4242"),
])
def test_process_start_reads_field_22(tmp_path, stat, start):
    from ansible_collections.kvmops.hypervisor.plugins.action.run_lock import holder_is_gone, process_start
    (tmp_path / "1234").mkdir()
    (tmp_path / "1234" / "stat").write_text(stat)
    assert process_start(1234, str(tmp_path)) == start
    assert holder_is_gone("ctl:1234:%s" % start, host="ctl", proc=str(tmp_path)) is False
    assert holder_is_gone("ctl:1234:1", host="ctl", proc=str(tmp_path)) is True  # pid reused
    assert holder_is_gone("ctl:999:1", host="ctl", proc=str(tmp_path)) is True  # gone
    assert holder_is_gone("other:999:1", host="ctl", proc=str(tmp_path)) is False  # not ours to judge

"""The module shell: arguments in, report out, fail/warn per allow_partial."""

import os

from ansible_collections.kvmops.hypervisor.plugins.modules import hugepages_runtime
from module_runner import run_module
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import hugepages as hp


def run(monkeypatch, args, check_mode=False, diff=False):
    return run_module(monkeypatch, hugepages_runtime.main, args, check_mode=check_mode, diff=diff)


def pool(root, size_kb, node, count=None):
    path = os.path.join(str(root), hp.NODE_POOL.lstrip("/") % (node, size_kb))
    if count is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write("%d\n" % count)
    with open(path) as handle:
        return int(handle.read())


def test_allocates_and_reports_diff(monkeypatch, tmp_path):
    pool(tmp_path, 2048, 0, 0)
    outcome = run(monkeypatch, {"pages": {"2048": {"0": 64}}, "root": str(tmp_path)}, diff=True)
    assert not outcome.failed and outcome.result["changed"] is True
    assert pool(tmp_path, 2048, 0) == 64
    assert outcome.result["diff"]["after"] == "2048 kB node 0: 64\n"


def test_check_mode_writes_nothing(monkeypatch, tmp_path):
    pool(tmp_path, 2048, 0, 0)
    outcome = run(monkeypatch, {"pages": {"2048": {"0": 64}}, "root": str(tmp_path)}, check_mode=True)
    assert outcome.result["changed"] is True and pool(tmp_path, 2048, 0) == 0


def test_a_pool_the_host_lacks_is_refused_before_any_write(monkeypatch, tmp_path):
    """A plan for another host (a node or size this one has not): nothing is allocated."""
    pool(tmp_path, 2048, 0, 0)
    pool(tmp_path, 1048576, 0, 0)
    outcome = run(monkeypatch, {"pages": {"2048": {"0": 4}, "1048576": {"1": 2}}, "root": str(tmp_path)})
    assert outcome.failed and pool(tmp_path, 2048, 0) == 0
    assert outcome.result["msg"] == (
        "pages: no pool for 1048576 kB pages on node 1 (%s); this host has 2048 kB and 1048576 kB pages "
        "on node 0: plan those, or set allow_partial to allocate the others" % (hp.NODE_POOL % (1, 1048576)))


def test_short_allocation_is_a_warning_when_allowed(monkeypatch, tmp_path):
    pool(tmp_path, 2048, 0, 0)
    outcome = run(monkeypatch, {"pages": {"2048": {"0": 4}, "1048576": {"1": 2}},
                                "root": str(tmp_path), "allow_partial": True})
    assert not outcome.failed and pool(tmp_path, 2048, 0) == 4
    assert outcome.result["short_summary"] == [
        "node 1: 1048576 kB pages 0 of 2 (no such pool: %s)" % (hp.NODE_POOL % (1, 1048576))]


def test_short_allocation_fails_unless_allowed(monkeypatch, tmp_path):
    pool(tmp_path, 2048, 0, 0)

    def stingy(path, text):  # the kernel finds room for 3 pages only
        with open(path, "w") as handle:
            handle.write("%d\n" % min(int(text), 3))
    monkeypatch.setattr(hp, "write_file", stingy)
    outcome = run(monkeypatch, {"pages": {"2048": {"0": 4}}, "root": str(tmp_path)})
    assert outcome.failed and "allow_partial" in outcome.result["msg"]
    assert outcome.result["short_summary"] == ["node 0: 2048 kB pages 3 of 4"]


def test_bad_pages_fail_with_name(monkeypatch, tmp_path):
    outcome = run(monkeypatch, {"pages": {"2000": {"0": 4}}, "root": str(tmp_path)})
    assert outcome.failed and outcome.result["msg"].startswith("pages:")

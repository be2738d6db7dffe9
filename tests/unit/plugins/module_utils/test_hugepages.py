"""Runtime huge page allocation on real file trees under tmp_path."""

import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import hugepages as hp

G1 = 1048576
M2 = 2048


def make_tree(root, pools, compact=True):
    """pools: {(size_kb, node): count} -> nr_hugepages files under root."""
    for (size_kb, node), count in pools.items():
        path = os.path.join(str(root), hp.NODE_POOL.lstrip("/") % (node, size_kb))
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as handle:
            handle.write("%d\n" % count)
    if compact:
        path = os.path.join(str(root), hp.COMPACT_MEMORY.lstrip("/"))
        os.makedirs(os.path.dirname(path))
        open(path, "w").close()


def read(root, size_kb, node):
    with open(os.path.join(str(root), hp.NODE_POOL.lstrip("/") % (node, size_kb))) as handle:
        return int(handle.read())


class FakeKernel(object):
    """A writer that behaves like the kernel: grants at most `free` pages per pool until
    memory is compacted, which frees `after_compaction` more."""

    def __init__(self, root, free, after_compaction=None):
        self.root = str(root)
        self.free = dict(free)
        self.after = dict(after_compaction or {})
        self.compactions = 0
        self.writes = []

    def __call__(self, path, text):
        rel = "/" + os.path.relpath(path, self.root)
        self.writes.append((rel, text))
        if rel == hp.COMPACT_MEMORY:
            self.compactions += 1
            for key, extra in self.after.items():
                self.free[key] = self.free.get(key, 0) + extra
            self.after = {}
            return
        for (size_kb, node), limit in self.free.items():
            if rel == hp.NODE_POOL % (node, size_kb):
                with open(path, "w") as handle:
                    handle.write("%d\n" % min(int(text), limit))
                return
        with open(path, "w") as handle:
            handle.write(text)


def test_normalize_accepts_plan_json_keys():
    assert hp.normalize_pages({"1048576": {"1": 2, "0": "3"}, 2048: {0: 0}}) == [
        (2048, 0, 0), (G1, 0, 3), (G1, 1, 2)]


@pytest.mark.parametrize("pages, word", [
    ({"3000": {"0": 1}}, "power of two"),
    ({"2048": {"x": 1}}, "NUMA node"),
    ({"2048": {"0": -1}}, "negative"),
    ({"2048": {"0": "-1"}}, "non-negative"),
    ({"2048": {"0": True}}, "integer"),
    ({"2048": [1]}, "mapping of NUMA node"),
    (["2048"], "mapping of page size"),
    ({"2048": {"0": 1, 0: 2}}, "given twice"),
])
def test_normalize_rejects_bad_input(pages, word):
    with pytest.raises(hp.HugepagesError, match=word):
        hp.normalize_pages(pages)


@pytest.mark.parametrize("size, label", [(2048, "2M"), (G1, "1G"), (64, "64K"), (16384, "16M"), (16 * G1, "16G")])
def test_size_label(size, label):
    assert hp.size_label(size) == label


def test_mounts_skip_unplanned_and_put_default_first():
    pages = {"2048": {"0": 512, "1": 0}, "1048576": {"0": 2, "1": 2}, "32768": {"0": 0}}
    result = hp.mounts(pages, prefix="/mnt/hp/", default_size_kb="1048576")
    assert [m["path"] for m in result] == ["/mnt/hp1G", "/mnt/hp2M"]
    assert result[0]["opts"] == "pagesize=1G" and result[0]["pages"] == 4
    assert [m["size_kb"] for m in hp.mounts(pages)] == [2048, G1]
    assert hp.mounts({}) == []


def test_allocate_writes_only_what_differs(tmp_path):
    make_tree(tmp_path, {(G1, 0): 2, (G1, 1): 0, (M2, 0): 0})
    kernel = FakeKernel(tmp_path, {})
    report = hp.allocate({"1048576": {"0": 2, "1": 4}, "2048": {"0": 0}}, root=str(tmp_path),
                         writer=kernel)
    assert report["changed"] is True
    assert report["short"] == []
    assert read(tmp_path, G1, 1) == 4
    assert [w[0] for w in kernel.writes] == [hp.NODE_POOL % (1, G1)]
    again = hp.allocate({"1048576": {"0": 2, "1": 4}}, root=str(tmp_path), writer=kernel)
    assert again["changed"] is False and len(kernel.writes) == 1


def test_check_mode_predicts_and_writes_nothing(tmp_path):
    make_tree(tmp_path, {(G1, 0): 0})
    kernel = FakeKernel(tmp_path, {})
    report = hp.allocate({"1048576": {"0": 8}}, root=str(tmp_path), check_mode=True, writer=kernel)
    assert report["changed"] is True
    assert report["nodes"][0]["got"] == 8 and report["nodes"][0]["before"] == 0
    assert kernel.writes == [] and read(tmp_path, G1, 0) == 0


def test_compaction_retry_fills_the_short_node(tmp_path):
    make_tree(tmp_path, {(G1, 0): 0, (G1, 1): 0})
    kernel = FakeKernel(tmp_path, {(G1, 1): 1}, after_compaction={(G1, 1): 5})
    report = hp.allocate({"1048576": {"0": 4, "1": 4}}, root=str(tmp_path), writer=kernel)
    assert report["compactions"] == 1 and kernel.compactions == 1
    assert report["short"] == []
    assert read(tmp_path, G1, 1) == 4


def test_partial_allocation_is_reported_per_node(tmp_path):
    make_tree(tmp_path, {(G1, 0): 0, (G1, 1): 0})
    kernel = FakeKernel(tmp_path, {(G1, 1): 3})
    report = hp.allocate({"1048576": {"0": 4, "1": 4}}, root=str(tmp_path),
                         compaction_retries=2, writer=kernel)
    assert kernel.compactions == 2
    assert [(e["node"], e["got"], e["planned"]) for e in report["short"]] == [(1, 3, 4)]
    assert hp.describe_short(report["short"]) == ["node 1: 1048576 kB pages 3 of 4"]


def test_no_compaction_without_the_sysctl(tmp_path):
    make_tree(tmp_path, {(G1, 0): 0}, compact=False)
    kernel = FakeKernel(tmp_path, {(G1, 0): 1})
    report = hp.allocate({"1048576": {"0": 2}}, root=str(tmp_path), writer=kernel)
    assert report["compactions"] == 0 and len(report["short"]) == 1


def test_missing_pool_is_short_unless_zero(tmp_path):
    make_tree(tmp_path, {(M2, 0): 0})
    report = hp.allocate({"1048576": {"0": 1, "1": 0}}, root=str(tmp_path))
    assert [(e["node"], e["missing"]) for e in report["short"]] == [(0, True)]
    assert "no such pool" in hp.describe_short(report["short"])[0]
    assert report["changed"] is False


def test_shrinks_before_growing_and_large_before_small(tmp_path):
    make_tree(tmp_path, {(G1, 0): 0, (M2, 0): 1024})
    kernel = FakeKernel(tmp_path, {})
    hp.allocate({"1048576": {"0": 2}, "2048": {"0": 0}}, root=str(tmp_path), writer=kernel)
    assert [w[0] for w in kernel.writes] == [hp.NODE_POOL % (0, M2), hp.NODE_POOL % (0, G1)]


def test_write_error_is_reported(tmp_path):
    make_tree(tmp_path, {(M2, 0): 0})

    def refuse(path, text):
        raise OSError(22, "Invalid argument")

    report = hp.allocate({"2048": {"0": 4}}, root=str(tmp_path), compaction_retries=0, writer=refuse)
    assert "Invalid argument" in report["short"][0]["error"]


def test_real_writer_on_files(tmp_path):
    make_tree(tmp_path, {(M2, 0): 0})
    report = hp.allocate({"2048": {"0": 16}}, root=str(tmp_path))
    assert report["changed"] and read(tmp_path, M2, 0) == 16
    assert hp.render_state(report["nodes"], "before") == "2048 kB node 0: 0\n"
    assert hp.render_state(report["nodes"], "got") == "2048 kB node 0: 16\n"


try:
    from hypothesis import given, settings, HealthCheck
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    POOLS = st.dictionaries(
        st.tuples(st.sampled_from([M2, G1]), st.integers(0, 3)),
        st.tuples(st.integers(0, 64), st.integers(0, 64), st.integers(0, 64)),  # before, planned, limit
        min_size=1, max_size=6)

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(pools=POOLS, retries=st.integers(0, 3))
    def test_allocation_invariants(tmp_path_factory, pools, retries):
        """Whatever the kernel grants: pools already right are never written, nothing gets
        more than planned from a grow, short lists exactly the pools below plan, and
        compaction runs only while something is short."""
        root = tmp_path_factory.mktemp("tree")
        make_tree(root, dict((key, value[0]) for key, value in pools.items()))
        kernel = FakeKernel(root, dict((key, value[2]) for key, value in pools.items()))
        pages = {}
        for (size, node), (dummy, planned, dummy2) in pools.items():
            pages.setdefault(str(size), {})[str(node)] = planned
        report = hp.allocate(pages, root=str(root), compaction_retries=retries, writer=kernel)
        written = set(path for path, dummy in kernel.writes if path != hp.COMPACT_MEMORY)
        for entry in report["nodes"]:
            before, planned, limit = pools[(entry["size_kb"], entry["node"])]
            if before == planned:
                assert entry["path"] not in written and entry["got"] == before
            else:
                assert entry["got"] == min(planned, limit)
            assert read(root, entry["size_kb"], entry["node"]) == entry["got"]
        short = set((e["size_kb"], e["node"]) for e in report["short"])
        assert short == set(key for key, (b, planned, limit) in pools.items()
                            if b != planned and limit < planned)
        assert report["compactions"] == (retries if short else 0)
        assert report["changed"] == any(e["got"] != e["before"] for e in report["nodes"])

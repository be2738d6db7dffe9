"""Compare-then-write of sysfs attributes on tmp_path trees."""

import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import sysfs_attr as sa
from sysfs_builder import write_file

THP = "/sys/kernel/mm/transparent_hugepage/enabled"
KSM = "/sys/kernel/mm/ksm/run"
ZSWAP = "/sys/module/zswap/parameters/enabled"
COMP = "/sys/module/zswap/parameters/compressor"


put = write_file


def get(root, path):
    with open(os.path.join(str(root), path.lstrip("/"))) as handle:
        return handle.read()


def choice_kernel(root):
    """Writer that keeps the bracket format, like the kernel's THP attribute."""
    writes = []

    def write(full, text):
        writes.append((full, text))
        with open(full) as handle:
            current = handle.read()
        dummy, options = sa.parse_choice(current)
        if options is None:
            with open(full, "w") as handle:
                handle.write(text)
            return
        if text not in options:
            raise OSError(22, "Invalid argument")
        with open(full, "w") as handle:
            handle.write(" ".join("[%s]" % o if o == text else o for o in options) + "\n")
    return write, writes


@pytest.mark.parametrize("text, expected", [
    ("always [madvise] never\n", ("madvise", ["always", "madvise", "never"])),
    ("[always] madvise never", ("always", ["always", "madvise", "never"])),
    ("madvise", (None, None)),
    ("[never]", (None, None)),
    ("always madvise never", (None, None)),
    ("[a] [b]", (None, None)),
    (None, (None, None)),
])
def test_parse_choice(text, expected):
    assert sa.parse_choice(text) == expected


def test_matches_choice_bool_and_text():
    assert sa.matches("always [madvise] never", "madvise")
    assert not sa.matches("always [madvise] never", "never")
    with pytest.raises(sa.SysfsAttrError, match="always, madvise, never"):
        sa.matches("always [madvise] never", "sometimes")
    assert sa.matches("Y", True) and sa.matches("Y", "1") and not sa.matches("Y", 0)
    with pytest.raises(sa.SysfsAttrError, match="boolean"):
        sa.matches("N", "lz4")
    assert sa.matches("20\n", 20) and not sa.matches("lzo", "lz4")


@pytest.mark.parametrize("path", ["/etc/passwd", "sys/kernel", "/sys/../etc/shadow", "/proc/1/mem"])
def test_paths_are_confined(tmp_path, path):
    with pytest.raises(sa.SysfsAttrError, match="below /sys"):
        sa.apply({path: "1"}, root=str(tmp_path))


def test_apply_writes_only_differences_and_reads_back(tmp_path):
    put(tmp_path, THP, "[always] madvise never\n")
    put(tmp_path, KSM, "0\n")
    write, writes = choice_kernel(tmp_path)
    report = sa.apply({THP: "madvise", KSM: 0, ZSWAP: None}, root=str(tmp_path), writer=write)
    assert report["errors"] == [] and report["changed"] is True
    assert [os.path.basename(w[0]) for w in writes] == ["enabled"]
    assert get(tmp_path, THP) == "always [madvise] never\n"
    assert report["attributes"][THP] == {"wanted": "madvise", "before": "always",
                                         "after": "madvise", "missing": False}
    assert ZSWAP not in report["attributes"]
    again = sa.apply({THP: "madvise", KSM: 0}, root=str(tmp_path), writer=write)
    assert again["changed"] is False and len(writes) == 1


def test_bad_value_changes_nothing(tmp_path):
    put(tmp_path, THP, "[always] madvise never\n")
    put(tmp_path, KSM, "1\n")
    write, writes = choice_kernel(tmp_path)
    report = sa.apply({THP: "sometimes", KSM: 0}, root=str(tmp_path), writer=write)
    assert report["errors"] == ["attributes[%s]: 'sometimes' is not one of the values the kernel offers "
                                "(always, madvise, never)" % THP]
    assert writes == [] and get(tmp_path, KSM) == "1\n"


def test_check_mode_predicts(tmp_path):
    put(tmp_path, ZSWAP, "N\n")
    report = sa.apply({ZSWAP: True}, root=str(tmp_path), check_mode=True)
    assert report["changed"] and report["attributes"][ZSWAP]["after"] == "1"
    assert get(tmp_path, ZSWAP) == "N\n"


@pytest.mark.parametrize("missing, errors, warnings", [("fail", 1, 0), ("warn", 0, 1), ("ignore", 0, 0)])
def test_missing_attribute(tmp_path, missing, errors, warnings):
    report = sa.apply({COMP: "lz4"}, root=str(tmp_path), missing=missing)
    assert len(report["errors"]) == errors and len(report["warnings"]) == warnings
    assert report["changed"] is False


def test_kernel_refusing_value_is_an_error(tmp_path):
    put(tmp_path, COMP, "lzo\n")

    def refuse(full, text):
        raise OSError(2, "No such file or directory")

    report = sa.apply({COMP: "zstd"}, root=str(tmp_path), writer=refuse)
    assert report["errors"] and "zstd" in report["errors"][0]
    assert report["changed"] is False


def test_value_not_taken_is_an_error(tmp_path):
    put(tmp_path, KSM, "1\n")

    def ignore(full, text):
        return None

    report = sa.apply({KSM: 0}, root=str(tmp_path), writer=ignore)
    assert report["errors"] == ["%s holds '1' after writing '0'" % KSM]


def test_render():
    report = {THP: {"before": "always", "after": "madvise"}, KSM: {"before": None, "after": None}}
    assert sa.render(report, "after") == "%s = (absent)\n%s = madvise\n" % (KSM, THP)


@pytest.mark.parametrize("shown, wanted, same", [
    ("0f\n", "f", True),                      # 8 possible CPUs: two digits, zero-padded
    ("00000000,00000111\n", "111", True),     # 64 possible CPUs: 32-bit chunks
    ("1,00000001\n", "1,00000001", True),
    ("0f\n", "1f", False),
    ("00000001,00000000\n", "1", False),
    ("0-3\n", "f", False),                    # a cpulist is not a mask
])
def test_cpumasks_compare_as_numbers(shown, wanted, same):
    assert sa.matches(shown, wanted) is same


def test_format_cpumask_takes_32_bit_chunks():
    from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpumask
    assert format_cpumask([0, 4, 8, 12]) == "1111"
    assert format_cpumask([0, 1, 33]) == "2,00000003"
    assert format_cpumask([0, 32, 64]) == "1,00000001,00000001"

"""Kernel command line tokens: tokenizing, the arguments accepted, merging per owner."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.args import (
    normalize_args,
    validate_owner,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.merge import (
    edit_tokens,
    merge_owner,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.pending import reboot_required
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    join_cmdline,
    make_token,
    project,
    split_arg,
    split_cmdline,
)


# --------------------------------------------------------------------------- tokenizing

@pytest.mark.parametrize("text, tokens", [
    ("", []),
    (None, []),
    ("  ro   quiet\n", ["ro", "quiet"]),
    ("BOOT_IMAGE=/vmlinuz root=UUID=ab-cd ro", ["BOOT_IMAGE=/vmlinuz", "root=UUID=ab-cd", "ro"]),
    # values holding '=': only the first '=' separates name and value
    ("a=b=c x==y", ["a=b=c", "x==y"]),
    # name="value with spaces": quotes group and are dropped from the value
    ('dyndbg="file a.c +p" quiet', ["dyndbg=file a.c +p", "quiet"]),
    # a whole argument in quotes
    ('"acpi_osi=!Windows 2015" x', ["acpi_osi=!Windows 2015", "x"]),
    ('"flag with space"', ["flag with space"]),
    # quotes in the middle stay (the kernel keeps them) but still group
    ('a"b c"d e', ['a"b c"d', "e"]),
    # tabs and newlines separate too
    ("a\tb\nc", ["a", "b", "c"]),
    # -- is a token of its own; init's arguments follow
    ("ro quiet -- single splash=1", ["ro", "quiet", "--", "single", "splash=1"]),
    # an unterminated quote runs to the end, as in the kernel
    ('a="b c', ["a=b c"]),
])
def test_split_cmdline_follows_next_arg(text, tokens):
    assert split_cmdline(text) == tokens


@pytest.mark.parametrize("tokens", [
    ["ro", "quiet", "dyndbg=file a.c +p", "x y", "a=b=c", "--", "single"],
    [],
    ["hugepagesz=1G", "hugepages=0:4", "hugepagesz=2M"],
])
def test_join_then_split_round_trips(tokens):
    assert split_cmdline(join_cmdline(tokens)) == tokens


def test_split_arg():
    assert split_arg("a=b=c") == ("a", "b=c")
    assert split_arg("flag") == ("flag", None)
    assert split_arg("empty=") == ("empty", "")


# --------------------------------------------------------------------------- args

def test_normalize_mapping_keeps_order_and_flags():
    assert normalize_args({"isolcpus": "2-5", "nosoftlockup": None, "iommu": "pt",
                           "hugepages": 4, "x": 1.5}) == [
        "isolcpus=2-5", "nosoftlockup", "iommu=pt", "hugepages=4", "x=1.5"]


def test_normalize_list_forms_repeat_names_in_order():
    args = ["default_hugepagesz=1G", ["hugepagesz", "1G"], ["hugepages", "0:4"],
            {"hugepagesz": "2M"}, "hugepages=0:512", ["nosoftlockup"], ["quiet", None]]
    assert normalize_args(args) == [
        "default_hugepagesz=1G", "hugepagesz=1G", "hugepages=0:4", "hugepagesz=2M",
        "hugepages=0:512", "nosoftlockup", "quiet"]


def test_value_with_equals_is_kept():
    assert normalize_args(["root=UUID=ab-cd"]) == ["root=UUID=ab-cd"]
    assert normalize_args({"root": "UUID=ab-cd"}) == ["root=UUID=ab-cd"]


@pytest.mark.parametrize("args, fragment", [
    ({"bad name": "1"}, "args.bad name: argument name 'bad name' is not valid"),
    ({"x": 'a"b'}, "args.x: value of 'x'"),
    ({"x": "a b"}, "contains ' '"),
    ({"x": "a\nb"}, "contains '\\n'"),
    ({"memmap": "4G$4G"}, "contains '$'"),
    ({"x": "a'b"}, "contains \"'\""),
    ({"x": "a;b"}, "contains ';'"),
    ({"intel_iommu": True}, "boolean True"),
    ({"x": ["a"]}, "must be a string, a number or null"),
    (["--"], "'--'"),
    (["-x"], "not starting with '-'"),
    (["a=1", "b c"], "args[1]: 'b c' holds whitespace"),
    ([["a", "1", "2"]], "args[0]"),
    (["quiet", "quiet"], "args[1]: 'quiet' is given twice"),
    ("isolcpus=1", "must be a mapping or a list"),
])
def test_bad_args_name_the_argument(args, fragment):
    with pytest.raises(CmdlineError) as info:
        normalize_args(args)
    assert fragment in str(info.value)


@pytest.mark.parametrize("owner", ["", "Hugepages", "a/b", "../x", "-x", "x" * 65, None])
def test_bad_owner(owner):
    with pytest.raises(CmdlineError, match="owner"):
        validate_owner(owner)


# --------------------------------------------------------------------------- merging

def test_merge_same_key_two_owners_names_both():
    with pytest.raises(CmdlineError) as info:
        merge_owner("hugepages", ["hugepages=4"], {"numa_pinning": ["isolcpus=2", "hugepages=8"]},
                    [], "base")
    assert "'numa_pinning'" in str(info.value) and "'hugepages'" in str(info.value)
    assert "hugepages" in str(info.value)


def test_merge_identical_base_token_is_not_duplicated():
    write, skipped = merge_owner("sriov", ["intel_iommu=on", "iommu=pt"], {},
                                 ["ro", "quiet", "intel_iommu=on"], "base")
    assert write == ["iommu=pt"] and skipped == ["intel_iommu=on"]


def test_merge_conflicting_base_value_fails_naming_both_sides():
    with pytest.raises(CmdlineError) as info:
        merge_owner("sriov", ["intel_iommu=on"], {}, ["intel_iommu=off"], "/etc/default/grub")
    assert "intel_iommu=on" in str(info.value) and "intel_iommu=off" in str(info.value)
    assert "/etc/default/grub" in str(info.value) and "'sriov'" in str(info.value)


def test_merge_ignores_init_arguments_after_separator():
    write, skipped = merge_owner("x", ["single"], {}, ["ro", "--", "single"], "base")
    assert write == ["single"] and skipped == []


def test_edit_tokens_keeps_init_arguments_after_separator():
    line = ["root=/dev/sda1", "ro", "isolcpus=1", "--", "single", "isolcpus=9"]
    assert edit_tokens(line, ["isolcpus=1"], ["isolcpus=2-3", "nohz_full=2-3"]) == [
        "root=/dev/sda1", "ro", "isolcpus=2-3", "nohz_full=2-3", "--", "single", "isolcpus=9"]


def test_edit_tokens_removes_one_owner_only():
    line = ["ro", "isolcpus=2", "hugepages=4", "quiet"]
    assert edit_tokens(line, ["isolcpus=2"], []) == ["ro", "hugepages=4", "quiet"]


def test_edit_tokens_is_idempotent():
    line = ["ro", "a=1"]
    once = edit_tokens(line, [], ["b=2", "c"])
    assert edit_tokens(once, ["b=2", "c"], ["b=2", "c"]) == once == ["ro", "a=1", "b=2", "c"]


def test_project_only_owned_kernel_tokens():
    line = ["BOOT_IMAGE=/v", "hugepagesz=1G", "hugepages=4", "quiet", "hugepagesz=2M", "--", "hugepages=9"]
    assert project(line, {"hugepagesz", "hugepages"}) == ["hugepagesz=1G", "hugepages=4", "hugepagesz=2M"]


def test_reboot_required_compares_owned_tokens_in_order():
    keys = {"hugepagesz", "hugepages"}
    running = ["BOOT_IMAGE=/a", "hugepagesz=1G", "hugepages=4"]
    assert not reboot_required(["BOOT_IMAGE=/b", "quiet", "hugepagesz=1G", "hugepages=4"], running, keys)
    assert reboot_required(["hugepages=4", "hugepagesz=1G"], running, keys)
    assert reboot_required(["hugepagesz=1G"], running, keys)
    assert not reboot_required(None, running, keys)
    assert not reboot_required(["x"], running, set())


# --------------------------------------------------------------------------- properties

NAMES = st.from_regex(r"\A[a-z_][a-z0-9_.]{0,8}\Z")
VALUES = st.none() | st.from_regex(r"\A[A-Za-z0-9_.,:/=-]{0,8}\Z")
TOKENS = st.lists(st.builds(make_token, NAMES, VALUES), max_size=6, unique=True)


@settings(max_examples=60, deadline=None)
@given(TOKENS, TOKENS, st.lists(st.sampled_from(["single", "splash", "x=1"]), max_size=3))
def test_edit_keeps_init_args_and_is_idempotent(base, new, init):
    new = [token for token in new if token not in base]
    line = base + ["--"] + init
    once = edit_tokens(line, [], new)
    assert once[once.index("--"):] == ["--"] + init
    assert edit_tokens(once, new, new) == once
    assert edit_tokens(once, new, []) == line
    assert split_cmdline(join_cmdline(once)) == once

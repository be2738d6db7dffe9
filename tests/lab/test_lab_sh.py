"""tools/lab/lab.sh turns the lab's shape settings into the QEMU machine asked for."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

LAB_SH = Path(__file__).resolve().parents[2] / "tools" / "lab" / "lab.sh"


def qemu_args(tmp_path, **shape):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVMOPS_LAB_")}
    env.update({"KVMOPS_LAB_" + k.upper(): str(v) for k, v in shape.items()})
    env["KVMOPS_LAB_RUN_DIR"] = str(tmp_path)
    return subprocess.run([str(LAB_SH), "qemu-args"], env=env, capture_output=True, text=True, check=False)


def options(args, name):
    """The values of every `name` option, in order."""
    return [args[i + 1] for i, arg in enumerate(args) if arg == name]


def numa_cpus(args):
    """{node: [(socket, core), ...]} from the -numa cpu options."""
    nodes = {}
    for value in options(args, "-numa"):
        match = re.fullmatch(r"cpu,node-id=(\d+),socket-id=(\d+),core-id=(\d+)", value)
        if match:
            node, socket, core = (int(x) for x in match.groups())
            nodes.setdefault(node, []).append((socket, core))
    return nodes


def test_default_shape(tmp_path):
    out = qemu_args(tmp_path)
    assert out.returncode == 0, out.stderr
    args = out.stdout.splitlines()
    assert options(args, "-smp") == ["4,sockets=1,cores=2,threads=2"]
    assert options(args, "-m") == ["4096M"]
    assert options(args, "-object") == ["memory-backend-ram,id=mem0,size=2048M", "memory-backend-ram,id=mem1,size=2048M"]
    assert numa_cpus(args) == {0: [(0, 0)], 1: [(0, 1)]}
    devices = options(args, "-device")
    assert devices[0] == "intel-iommu,intremap=on"
    assert any(d.startswith("igb,") for d in devices)
    assert any(d.startswith("nvme,") for d in devices) and any(d.startswith("nvme-ns,") for d in devices)
    assert options(args, "-machine") == ["q35"] and options(args, "-accel") == ["tcg,thread=multi"]
    assert "-kernel" not in args and "-append" not in args


def test_only_ssh_on_loopback(tmp_path):
    args = qemu_args(tmp_path).stdout.splitlines()
    netdevs = options(args, "-netdev")
    assert netdevs and all(n.startswith("user,") and "restrict=on" in n for n in netdevs)
    forwards = [f for n in netdevs for f in re.findall(r"hostfwd=([^,]+)", n)]
    assert forwards == ["tcp:127.0.0.1:2222-:22"]


def test_three_nodes_without_smt(tmp_path):
    out = qemu_args(tmp_path, sockets=1, cores=6, threads=1, numa_nodes=3, node_mem_mb=1024, nvme="off", sriov_nic="off")
    assert out.returncode == 0, out.stderr
    args = out.stdout.splitlines()
    assert options(args, "-smp") == ["6,sockets=1,cores=6,threads=1"]
    assert options(args, "-m") == ["3072M"]
    assert numa_cpus(args) == {0: [(0, 0), (0, 1)], 1: [(0, 2), (0, 3)], 2: [(0, 4), (0, 5)]}
    devices = options(args, "-device")
    assert not any(d.startswith(("igb", "nvme")) for d in devices)


def test_two_sockets_one_node_each(tmp_path):
    args = qemu_args(tmp_path, sockets=2, cores=2, threads=2, numa_nodes=2).stdout.splitlines()
    assert numa_cpus(args) == {0: [(0, 0), (0, 1)], 1: [(1, 0), (1, 1)]}


@pytest.mark.parametrize(
    "shape, variable",
    [
        ({"numa_nodes": 3}, "KVMOPS_LAB_NUMA_NODES"),
        ({"threads": "x"}, "KVMOPS_LAB_THREADS"),
        ({"cores": 0}, "KVMOPS_LAB_CORES"),
        ({"node_mem_mb": 100}, "KVMOPS_LAB_NODE_MEM_MB"),
    ],
)
def test_bad_shape_names_the_variable(tmp_path, shape, variable):
    out = qemu_args(tmp_path, **shape)
    assert out.returncode != 0
    assert variable in out.stderr
    assert out.stdout == ""


@pytest.mark.skipif(not shutil.which("qemu-system-x86_64") or not shutil.which("qemu-img"), reason="needs QEMU")
@pytest.mark.parametrize("shape", [{}, {"cores": 3, "threads": 1, "numa_nodes": 3, "node_mem_mb": 512}])
def test_qemu_accepts_the_machine(tmp_path, shape):
    """QEMU starts the machine (paused, no guest code runs) without an error."""
    for disk in ("root", "scratch", "nvme"):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / (disk + ".qcow2")), "1G"], check=True)
    args = qemu_args(tmp_path, **shape).stdout.splitlines()
    # Port 0: no forward can clash with a running lab host.
    args = [a.replace("127.0.0.1:2222-", "127.0.0.1:0-") for a in args] + ["-S"]
    proc = subprocess.Popen(["qemu-system-x86_64"] + args, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not (tmp_path / "qemu.pid").exists() and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        assert (tmp_path / "qemu.pid").read_text().strip() == str(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def lib_sh(expr, **env_over):
    """Evaluate `expr` in bash after sourcing tools/lab/lib.sh (and lab.conf's defaults)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVMOPS_LAB_")}
    env.update({"KVMOPS_LAB_" + k.upper(): str(v) for k, v in env_over.items()})
    script = '. "%s/lab.conf"; . "%s/lib.sh"; %s' % (LAB_SH.parent, LAB_SH.parent, expr)
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_cached_images_and_chroots_are_named_by_suite(tmp_path):
    names = {}
    for suite in ("bookworm", "trixie"):
        image = lib_sh("image_dir", suite=suite, cache=tmp_path)
        chroot = lib_sh("chroot_tarball", suite=suite, cache=tmp_path)
        assert Path(image).name.startswith("image-%s-" % suite), image
        assert Path(chroot).name.startswith("chroot-%s-" % suite), chroot
        names[suite] = (image, chroot)
    assert names["bookworm"][0] != names["trixie"][0] and names["bookworm"][1] != names["trixie"][1]


@pytest.mark.parametrize("kind", ["image", "chroot"])
def test_pruning_old_caches_keeps_the_other_suite_and_what_is_in_use(tmp_path, kind):
    """lib.sh's stale_caches + prune_stale (what build-image.sh and chroot.sh run) on a fake
    cache: this suite's stale entries and unnamed old ones go, except one a process has open
    (a running lab host's base image: removing it lost that host's SSH key)."""
    ext = ".tar.zst" if kind == "chroot" else ""
    keep_other = tmp_path / ("%s-bookworm-1111%s" % (kind, ext))
    stale_same = tmp_path / ("%s-trixie-2222%s" % (kind, ext))
    unnamed_old = tmp_path / ("%s-abcd0123%s" % (kind, ext))
    in_use = tmp_path / ("%s-fedcba98%s" % (kind, ext))
    out = tmp_path / ("%s-trixie-3333%s" % (kind, ext))
    for path in (keep_other, stale_same, unnamed_old, in_use, out):
        if kind == "image":
            path.mkdir()
            (path / "base.qcow2").write_text("x")
        else:
            path.write_text("x")
    held = in_use / "base.qcow2" if kind == "image" else in_use
    holder = subprocess.Popen(["bash", "-c", 'exec 3<"$0"; sleep 60', str(held)])
    try:
        time.sleep(0.3)
        lib_sh('mapfile -t stale < <(stale_caches %s "%s"); prune_stale "${stale[@]}"' % (kind, out),
               suite="trixie", cache=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([keep_other.name, in_use.name, out.name])

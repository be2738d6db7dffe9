"""The execution environment (execution-environment.yml, meta/execution-environment.yml).

make ee writes build/ee/kvmops-hypervisor.tar.gz and the build context; here the context
is written again without a network (a network namespace of its own, as root), it is
checked, and ansible-builder introspect must find the collection's dependencies once
the collection is installed where the image installs it. The image itself is not built
(no registry here).
"""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EE_DIR = REPO / "build" / "ee"
TARBALL = EE_DIR / "kvmops-hypervisor.tar.gz"


def offline(argv):
    """``argv`` in a network namespace with only a loopback (down), when root can make one."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        return ["unshare", "--net"] + argv
    return argv


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    assert TARBALL.is_file(), "run make ee first (the collection tarball the EE installs)"
    out = tmp_path_factory.mktemp("ee") / "context"
    proc = subprocess.run(offline([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml",
                                   "-c", str(out), "--output-filename", "Containerfile"]),
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_the_context_holds_the_containerfile_and_the_collection(context):
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert "ansible-core>=2.19.0,<2.20.0" in containerfile
    # the galaxy stage installs from _build (copied to /build), the builder stage introspects
    assert "COPY _build /build" in containerfile
    assert "introspect.py introspect" in containerfile
    assert (context / "_build" / "collections" / "kvmops-hypervisor.tar.gz").read_bytes() == TARBALL.read_bytes()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [
        {"name": "ansible.posix", "version": ">=1.5.0,<3.0.0"},
        {"name": "community.general", "version": ">=9.0.0,<12.0.0"},
        {"name": "/build/collections/kvmops-hypervisor.tar.gz", "type": "file"},
    ]
    assert "python3.11-devel [compile platform:rpm]" in (context / "_build" / "bindep.txt").read_text()


def test_the_galaxy_dependencies_are_galaxy_yml_s():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    from_galaxy = [c for c in ee["dependencies"]["galaxy"]["collections"] if c.get("type") != "file"]
    assert {c["name"]: c["version"] for c in from_galaxy} == galaxy["dependencies"]


def test_introspect_lists_the_collections_dependencies(tmp_path):
    """The collection installed from the tarball (as the galaxy stage does, without its
    dependencies: no Galaxy here); introspect reads its meta/execution-environment.yml."""
    with tarfile.open(TARBALL) as tar:
        names = tar.getnames()
        assert {"meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt"} <= set(names)
    proc = subprocess.run(offline([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "--offline", "--force",
                                   "-p", str(tmp_path), str(TARBALL)]), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([str(BIN / "ansible-builder"), "introspect", "--sanitize", str(tmp_path)],
                          capture_output=True, text=True, check=True)
    found = yaml.safe_load(proc.stdout.split("---", 1)[1])
    ours = "  # from collection kvmops.hypervisor"
    assert found["python"] == ["libvirt-python>=9.0.0" + ours]
    assert found["system"] == [line + ours for line in [
        "gcc [compile platform:rpm]", "pkgconf-pkg-config [compile platform:rpm]",
        "libvirt-devel [compile platform:rpm]", "python3-devel [compile platform:rpm]",
        "libvirt-libs [platform:rpm]",
        "gcc [compile platform:dpkg]", "pkg-config [compile platform:dpkg]",
        "libvirt-dev [compile platform:dpkg]", "python3-dev [compile platform:dpkg]",
        "libvirt0 [platform:dpkg]"]]


def test_bindep_selects_the_build_packages_per_platform():
    """bindep's own parser: what the builder stage (profile compile) and the final image
    install, on an RPM platform and on a dpkg one."""
    from bindep.depends import Depends

    depends = Depends((REPO / "meta" / "ee-bindep.txt").read_text())

    def packages(*profiles):
        return [rule[0] for rule in depends.active_rules(list(profiles) + ["default"])]

    assert packages("platform:rpm", "compile") == [
        "gcc", "pkgconf-pkg-config", "libvirt-devel", "python3-devel", "libvirt-libs"]
    assert packages("platform:rpm") == ["libvirt-libs"]
    assert packages("platform:dpkg", "compile") == ["gcc", "pkg-config", "libvirt-dev", "python3-dev", "libvirt0"]
    assert packages("platform:dpkg") == ["libvirt0"]


def test_bindep_on_this_debian_host_lists_the_dpkg_packages():
    proc = subprocess.run([str(BIN / "bindep"), "-f", str(REPO / "meta" / "ee-bindep.txt"), "-l", "newline",
                           "compile"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["gcc", "pkg-config", "libvirt-dev", "python3-dev", "libvirt0"]

#!/usr/bin/env bash
# Image-mode proof for the numa_pinning and hugepages roles against a Debian chroot:
#   converge -> second converge 0 changed -> check mode on a fresh copy changes no file;
#   then the role defaults: converge -> second converge 0 changed.
# Usage: run_image.sh PRISTINE_CHROOT [WORKDIR]
#   PRISTINE_CHROOT: e.g. made once with
#     debootstrap --variant=minbase --include=python3,irqbalance bookworm /tmp/bookworm
#   It is never modified; copies go to WORKDIR (default: a new directory under /tmp).
# Needs root (chroot) and the collection on ANSIBLE_COLLECTIONS_PATH (make link).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pristine=${1:?usage: run_image.sh PRISTINE_CHROOT [WORKDIR]}
work=${2:-$(mktemp -d /tmp/kvmops-image.XXXXXX)}
test -x "$pristine/usr/bin/python3" || { echo "no python3 in $pristine" >&2; exit 2; }

prepare() {  # a copy of the pristine tree with a qemu.conf as libvirt ships it (commented)
  rm -rf "$1" && cp -a "$pristine" "$1"
  mkdir -p "$1/etc/libvirt"
  printf '%s\n' '# qemu.conf (libvirt)' '#hugetlbfs_mount = "/dev/hugepages"' '#user = "root"' \
    > "$1/etc/libvirt/qemu.conf"
}
play() {  # play CHROOT LOG [ansible-playbook options]; PLAYBOOK picks the playbook
  local tree=$1 log=$2; shift 2
  ansible-playbook -i "$tree," -c community.general.chroot \
    -e ansible_python_interpreter=/usr/bin/python3 "$here/${PLAYBOOK:-converge.yml}" "$@" >"$log" 2>&1 \
    || { tail -30 "$log"; return 1; }
  grep -A1 '^PLAY RECAP' "$log" | tail -1
}
changed() { sed -n 's/.*changed=\([0-9]*\).*/\1/p' "$1" | tail -1; }
# Files and directories changed after STAMP, but Ansible's own temporary files (/root/.ansible, and /tmp's own time stamp).
snapshot() { (cd "$1" && find . -xdev -newer "$2" -not -path './root' -not -path './root/.ansible*' -not -path './tmp' -print | sort); }

prepare "$work/converge"
echo "== converge";          play "$work/converge" "$work/converge1.log" --diff
echo "== second converge";   play "$work/converge" "$work/converge2.log" --diff
test "$(changed "$work/converge2.log")" = 0 || { echo "second converge changed something" >&2; exit 1; }
echo "== check mode after converge"; play "$work/converge" "$work/check-after.log" --check --diff
test "$(changed "$work/check-after.log")" = 0 || { echo "check mode after converge predicts changes" >&2; exit 1; }

prepare "$work/check"
touch "$work/stamp"; sleep 1
echo "== check mode on a fresh tree"; play "$work/check" "$work/check.log" --check --diff
test "$(changed "$work/check.log")" -gt 0 || { echo "check mode predicted no change on a fresh tree" >&2; exit 1; }
written=$(snapshot "$work/check" "$work/stamp")
test -z "$written" || { echo "check mode wrote: $written" >&2; exit 1; }
diff -r --no-dereference "$pristine/etc" "$work/check/etc" | grep -v '^Only in .*/etc: libvirt$' \
  && { echo "check mode changed /etc" >&2; exit 1; }
prepare "$work/defaults"
echo "== converge with the role defaults"; PLAYBOOK=converge_defaults.yml play "$work/defaults" "$work/defaults1.log" --diff
echo "== second converge with the role defaults"; PLAYBOOK=converge_defaults.yml play "$work/defaults" "$work/defaults2.log" --diff
test "$(changed "$work/defaults2.log")" = 0 || { echo "second converge (defaults) changed something" >&2; exit 1; }

echo "image mode: converge ok, second converge 0 changed, check mode wrote nothing ($work)"

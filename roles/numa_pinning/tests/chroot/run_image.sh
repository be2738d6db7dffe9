#!/usr/bin/env bash
# Image-mode proof for the numa_pinning and hugepages roles against a Debian chroot:
#   converge -> second converge 0 changed -> check mode on a fresh copy changes no file;
#   then the role defaults: converge -> second converge 0 changed; then a bad variable and
#   an unplaceable guest are refused before any file changes.
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

# Refusals: a bad variable and a plan with an unplaced guest fail before any file changes.
refuse() {  # refuse NAME EXTRA_VARS_JSON EXPECTED_MESSAGE
  prepare "$work/refuse-$1"; touch "$work/stamp-$1"; sleep 1
  if play "$work/refuse-$1" "$work/refuse-$1.log" -e "$2" >/dev/null; then
    echo "expected a failure for $1" >&2; exit 1
  fi
  grep -q "$3" "$work/refuse-$1.log" || { echo "no '$3' in $work/refuse-$1.log" >&2; exit 1; }
  written=$(snapshot "$work/refuse-$1" "$work/stamp-$1")
  test -z "$written" || { echo "refused run wrote: $written" >&2; exit 1; }
  echo "refused ($1): $3, nothing written"
}
refuse bad-variable '{"numa_pinning_numa_balancing": "sometimes"}' 'numa_pinning_numa_balancing must be one of'
refuse unplaced '{"kvmops_plan_guest_spanning": false, "kvmops_plan_guests": [{"name": "big", "vcpus": 8, "memory_mb": 4096}]}' \
  'kvm_host_plan left guests unplaced'

echo "image mode: converge ok, second converge 0 changed, check mode wrote nothing ($work)"

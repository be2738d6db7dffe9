#!/usr/bin/env bash
# Runtime-mode proof for numa_pinning and hugepages without touching this machine: the
# roles run with kvmops_apply_runtime=true inside a chroot whose /sys and /proc are NOT
# mounted but plain directories holding a fake kernel interface (per-node nr_hugepages,
# THP, KSM, zswap, sysctls). The modules write those files as they would write the kernel's;
# the test then reads what they wrote, and a second run must report 0 changed.
# hugetlbfs mounts and libvirt are left out (a mount would be a real one on this machine).
# Usage: run_runtime.sh PRISTINE_CHROOT_WITH_SYSTEMD_AND_PROCPS [WORKDIR]
#   e.g. debootstrap --variant=minbase --include=python3,irqbalance,systemd,procps bookworm DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pristine=${1:?usage: run_runtime.sh PRISTINE_CHROOT [WORKDIR]}
work=${2:-$(mktemp -d /tmp/kvmops-runtime.XXXXXX)}
tree=$work/runtime
for tool in usr/bin/python3 usr/sbin/sysctl bin/systemctl; do
  test -x "$pristine/$tool" || { echo "no /$tool in $pristine" >&2; exit 2; }
done
# Never write into a mounted /proc or /sys.
mountpoint -q "$pristine/proc" && { echo "$pristine/proc is mounted" >&2; exit 2; }
mountpoint -q "$pristine/sys" && { echo "$pristine/sys is mounted" >&2; exit 2; }

rm -rf "$tree" && cp -a "$pristine" "$tree"
put() { mkdir -p "$(dirname "$tree$1")"; printf '%s\n' "$2" > "$tree$1"; }
for node in 0 1; do
  for size in 2048 1048576; do
    put /sys/devices/system/node/node$node/hugepages/hugepages-${size}kB/nr_hugepages 0
  done
done
put /proc/sys/vm/compact_memory ''
put /sys/kernel/mm/transparent_hugepage/enabled '[always] madvise never'
put /sys/kernel/mm/ksm/run 1
put /sys/module/zswap/parameters/enabled N
put /sys/module/zswap/parameters/compressor lzo
put /sys/module/zswap/parameters/max_pool_percent 25
put /proc/sys/vm/swappiness 60
put /proc/sys/kernel/numa_balancing 1

extra='{"kvmops_apply_runtime": true, "hugepages_mounts": false, "numa_pinning_domains": false}'
run() {  # run LOG [options]
  local log=$1; shift
  ansible-playbook -i "$tree," -c community.general.chroot \
    -e ansible_python_interpreter=/usr/bin/python3 -e "$extra" "$here/converge.yml" "$@" >"$log" 2>&1 \
    || { tail -40 "$log"; return 1; }
  grep -A1 '^PLAY RECAP' "$log" | tail -1
}
changed() { sed -n 's/.*changed=\([0-9]*\).*/\1/p' "$1" | tail -1; }
expect() {  # expect PATH VALUE
  local got; got=$(cat "$tree$1")
  test "$got" = "$2" || { echo "FAIL $1: expected '$2', got '$got'" >&2; exit 1; }
  echo "ok $1 = $2"
}

echo "== converge (runtime)";        run "$work/runtime1.log" --diff
expect /sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages 8
expect /sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages 0
expect /sys/kernel/mm/transparent_hugepage/enabled madvise
expect /sys/kernel/mm/ksm/run 0
expect /sys/module/zswap/parameters/enabled Y
expect /sys/module/zswap/parameters/compressor lz4
expect /sys/module/zswap/parameters/max_pool_percent 20
expect /proc/sys/vm/swappiness 10
expect /proc/sys/kernel/numa_balancing 0
echo "== second converge (runtime)"; run "$work/runtime2.log" --diff
test "$(changed "$work/runtime2.log")" = 0 || { echo "second converge changed something" >&2; exit 1; }
echo "== check mode (runtime)";      run "$work/runtime-check.log" --check --diff
test "$(changed "$work/runtime-check.log")" = 0 || { echo "check mode predicts changes" >&2; exit 1; }
echo "runtime mode over a fake /sys: converge ok, values written, second converge 0 changed ($work)"

# shellcheck shell=bash
# Shared helpers of the lab scripts: progress output, configuration, apt mirror.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LAB_DIR/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lab.conf
# shellcheck disable=SC1091
. "$LAB_DIR/lab.conf"

LAB_T0=$(date +%s)

log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# stage NAME CMD...: run CMD as a named, timed step of the progress output.
stage() {
    local name=$1 start rc
    shift
    start=$(date +%s)
    log "==> $name"
    # Not `if "$@"`: bash ignores set -e inside an if condition, even in functions.
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        log "<== $name: done in $(($(date +%s) - start)) s"
    else
        log "<== $name: FAILED (exit $rc) after $(($(date +%s) - start)) s"
    fi
    return "$rc"
}

elapsed() { echo "$(($(date +%s) - LAB_T0))"; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 needs root (loop devices, chroot, apt-get)"
}

# The Debian mirror this machine's apt already uses (so no host name is hard-coded here).
debian_mirror() {
    local uri
    uri=$(grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | grep -E '/debian/?$' | head -n1)
    if [ -z "$uri" ]; then
        uri=$(grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' | grep -E '/debian/?$' | head -n1)
    fi
    [ -n "$uri" ] || die "no Debian mirror found in the apt sources; set KVMOPS_LAB_MIRROR"
    echo "${KVMOPS_LAB_MIRROR:-${uri%/}}"
}

# Hash of the files that decide what the image contains: a change rebuilds it (comment
# lines do not count, so documenting the scripts costs no rebuild).
image_key() {
    {
        grep -hv '^[[:space:]]*#' "$LAB_DIR/build-image.sh" "$LAB_DIR/guest-setup.sh"
        echo "$KVMOPS_LAB_SUITE $KVMOPS_LAB_DISK_GB $KVMOPS_LAB_IMAGE_CMDLINE"
    } | sha256sum | cut -c1-16
}
# Named by suite, so the bookworm and trixie images live side by side (issue 20).
image_dir() { echo "$KVMOPS_LAB_CACHE/image-$KVMOPS_LAB_SUITE-$(image_key)"; }

chroot_key() {
    { grep -hv '^[[:space:]]*#' "$LAB_DIR/chroot.sh"; echo "$KVMOPS_LAB_SUITE"; } | sha256sum | cut -c1-16
}
chroot_tarball() { echo "$KVMOPS_LAB_CACHE/chroot-$KVMOPS_LAB_SUITE-$(chroot_key).tar.zst"; }

# Cache entries (image-* or chroot-*.tar.zst) of this suite other than $2, and unnamed ones
# from before entries were named by suite; other suites' entries are never listed.
stale_caches() {
    local kind=$1 keep=$2 ext=
    [ "$kind" = chroot ] && ext=.tar.zst
    find "$KVMOPS_LAB_CACHE" -maxdepth 1 \( -name "$kind-$KVMOPS_LAB_SUITE-*$ext" \
        -o -regex ".*/$kind-[0-9a-f]*${ext//./\\.}" \) ! -path "$keep"
}

# Remove the given cache entries, except one a running process holds a file of open: a
# lab host booted from an image reads its base.qcow2 (and its ssh_config names the key
# beside it), so removing it would strand that host.
prune_stale() {
    local path
    for path in "$@"; do
        if find /proc/[0-9]*/fd \( -lname "$path" -o -lname "$path/*" \) -print -quit 2>/dev/null | grep -q .; then
            log "keeping $path: a running process has it open"
            continue
        fi
        rm -rf -- "$path"
    done
}

run_dir() { echo "${KVMOPS_LAB_RUN_DIR:-$REPO_DIR/build/lab/$KVMOPS_LAB_NAME}"; }

# The venv's tools and the collection link, as `make` sets them, when run by hand.
use_venv() {
    if [ -x "$REPO_DIR/.venv/bin/ansible-playbook" ]; then
        PATH="$REPO_DIR/.venv/bin:$PATH"
    fi
    : "${ANSIBLE_COLLECTIONS_PATH:=$REPO_DIR/build/collections}"
    export PATH ANSIBLE_COLLECTIONS_PATH
}

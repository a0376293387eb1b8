#!/bin/sh
# aarch64 builds and tests under qemu-user-static, in a Debian arm64 root made by debootstrap
# (docs/design/packaging.md). Needs root (chroot, mounts), Debian's and PyPI's registries.
#
#   tools/arm64.sh root DIR                   make the arm64 root DIR (once; ~10 min)
#   tools/arm64.sh wheel DIR SDIST OUTDIR     build the aarch64 wheel from SDIST inside DIR
#   tools/arm64.sh run DIR COMMAND...         run COMMAND (sh -c) inside DIR, under qemu
set -eu

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the root holds: Python with its headers, a C compiler for the cffi extensions.
PACKAGES=python3,python3-venv,python3-dev,python3-pip,gcc,libc6-dev,libffi-dev,ca-certificates

need_qemu() {
    if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
        apt-get update -qq && apt-get install -y -qq qemu-user-static binfmt-support debootstrap
    fi
    # The kernel runs aarch64 programs through qemu once binfmt_misc knows it.
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        [ -e /proc/sys/fs/binfmt_misc/register ] \
            || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        update-binfmts --enable qemu-aarch64
    fi
}

# /proc, /dev and /dev/shm inside the root, for as long as one command runs.
mounted() {
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
    # The host's name servers and trust store: pip inside reaches PyPI as the host does.
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mkdir -p "$root/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    status=0
    "$@" || status=$?
    umount "$root/dev/shm" "$root/dev" "$root/proc"
    return $status
}

inside() {
    root=$1; shift
    mounted "$root" chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
        HOME=/root LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt /bin/sh -c "$*"
}

case ${1:-} in
root)
    root=$2
    need_qemu
    if [ ! -e "$root/opt/build/.ready" ]; then
        [ -x "$root/usr/bin/python3" ] || nice -n 15 debootstrap --arch=arm64 --variant=minbase \
            --include=$PACKAGES $SUITE "$root" "$MIRROR"
        # pyproject.toml wants a newer setuptools than Debian 12's (PEP 639 licence field).
        inside "$root" "python3 -m venv /opt/build && /opt/build/bin/pip install -q \
            'setuptools>=69' wheel 'cffi>=1.17' build && touch /opt/build/.ready"
    fi
    ;;
wheel)
    root=$2 sdist=$3 out=$4
    need_qemu
    rm -rf "$root/tmp/wheel" && mkdir -p "$root/tmp/wheel"
    cp "$sdist" "$root/tmp/wheel/"
    inside "$root" "cd /tmp/wheel && nice -n 15 /opt/build/bin/pip wheel -q --no-deps \
        --no-build-isolation -w /tmp/wheel/dist /tmp/wheel/$(basename "$sdist")"
    mkdir -p "$out"
    cp "$root"/tmp/wheel/dist/evstack-*.whl "$out/"
    ;;
run)
    root=$2; shift 2
    need_qemu
    inside "$root" "$*"
    ;;
*)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Builds Apptainer from its Go module, unprivileged (--without-suid), into
# $CACHE/apptainer-$VERSION, once per machine. Reused when present.
set -euo pipefail

VERSION=${APPTAINER_VERSION:-1.4.0}
CACHE=${HPCORCH_CACHE:-/var/cache/hpcorch}
PREFIX=$CACHE/apptainer-$VERSION

mkdir -p "$CACHE"
# One build at a time; a second caller waits, then finds it done.
exec 9>"$CACHE/apptainer.lock"
flock 9
if [ -x "$PREFIX/bin/apptainer" ]; then
	exit 0
fi

export GOPROXY=${GOPROXY:-https://proxy.golang.org} GOTOOLCHAIN=local GOFLAGS=-mod=mod
work=$(mktemp -d "$CACHE/apptainer-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The Makefile runs `go clean -cache`: give it a cache of its own.
export GOCACHE=$work/gocache GOMODCACHE=${GOMODCACHE:-$(go env GOMODCACHE)}

dir=$(go mod download -json "github.com/apptainer/apptainer@v$VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$dir" "$work/src"
# Module zips keep no mode bits: the build runs many of its own scripts.
chmod -R u+rwx "$work/src"
echo "$VERSION" >"$work/src/VERSION"

cd "$work/src"
./mconfig --without-suid --without-libsubid --without-network \
	-b "$work/build" -p "$PREFIX" >"$work/mconfig.log" 2>&1 ||
	{ cat "$work/mconfig.log" >&2; exit 1; }
make -C "$work/build" -j"$(nproc)" >"$work/make.log" 2>&1 ||
	{ tail -50 "$work/make.log" >&2; exit 1; }
make -C "$work/build" install >"$work/install.log" 2>&1 ||
	{ tail -50 "$work/install.log" >&2; exit 1; }
"$PREFIX/bin/apptainer" version

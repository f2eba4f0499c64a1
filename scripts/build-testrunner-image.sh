#!/usr/bin/env bash
# Builds the image of testrunner itself, testrunner:<version> and testrunner:latest,
# without a registry: no base image is pulled. A root filesystem is assembled from the
# built binaries and the host's (Debian bookworm) files, then `docker import`ed:
#   /usr/local/bin/testrunner, /usr/local/bin/halab   (this workspace's build)
#   /usr/local/bin/psql                               (/usr/lib/postgresql/15/bin/psql)
#   /usr/local/bin/kubectl                            (the host's, when it has one)
#   /bin/sleep, /bin/tar (for `kubectl cp`), the shared libraries they all link and the
#   dynamic loader, CA certificates,
#   /scenarios and /readiness (the shipped ones), /work (the working directory)
# With a registry, `Containerfile` builds the same layout from debian:bookworm-slim.
#
# Usage: scripts/build-testrunner-image.sh [IMAGE]   (default testrunner:<version>, also
# tagged testrunner:latest). BIN_DIR=target/debug uses a debug build instead of building
# target/release (the tests do).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n1)
image=${1:-testrunner:$version}
bin_dir=${BIN_DIR:-}
if [ -z "$bin_dir" ]; then
  cargo build --release --bins
  bin_dir=target/release
fi
for b in testrunner halab; do
  [ -x "$bin_dir/$b" ] || { echo "build-testrunner-image: $bin_dir/$b is missing (cargo build --bins)" >&2; exit 1; }
done
psql=/usr/lib/postgresql/15/bin/psql
[ -x "$psql" ] || { echo "build-testrunner-image: $psql is missing (scripts/setup.sh installs postgresql-client-15)" >&2; exit 1; }
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "build-testrunner-image: $ca is missing (apt-get install ca-certificates)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr/local/bin,etc/ssl/certs,tmp,work,scenarios,readiness}
chmod 1777 "$root/tmp"
chmod 0777 "$root/work"   # any --user can write its runs there (or mount a volume)
cp "$bin_dir/testrunner" "$bin_dir/halab" "$root/usr/local/bin/"
cp "$psql" "$root/usr/local/bin/psql"
kubectl=$(command -v kubectl || true)
if [ -n "$kubectl" ] && file -L "$kubectl" | grep -q 'statically linked'; then
  cp -L "$kubectl" "$root/usr/local/bin/kubectl"
else
  echo "build-testrunner-image: warning: no statically linked kubectl on this host; the image has none (kube.* actions need one: Containerfile installs it)" >&2
fi
# sleep and tar: what `kubectl cp` and a reports pod (deploy/kubernetes/fetch-reports.yaml) need.
mkdir -p "$root/bin"
cp -L "$(command -v sleep)" "$(command -v tar)" "$root/bin/"
cp "$ca" "$root/etc/ssl/certs/"
cp -r scenarios/. "$root/scenarios/"
cp -r readiness/. "$root/readiness/"
# Every shared library the binaries link (with the paths the loader looks them up by).
for b in "$root"/usr/local/bin/* "$root"/bin/*; do
  { ldd "$b" 2>/dev/null || true; } | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# Name service files: a user and a host name for libc, hosts for localhost.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"

tar -C "$root" -cf - . | docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/testrunner"]' \
  --change 'CMD ["--help"]' \
  --change 'WORKDIR /work' \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change "LABEL org.opencontainers.image.title=testrunner org.opencontainers.image.version=$version" \
  --message "testrunner $version (assembled without a base image)" - "$image" >/dev/null
if [ -z "${1:-}" ]; then
  docker tag "$image" testrunner:latest
  echo "build-testrunner-image: built $image and testrunner:latest"
else
  echo "build-testrunner-image: built $image"
fi

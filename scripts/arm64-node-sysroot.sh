#!/usr/bin/env bash
# Makes a folder holding Debian's arm64 Node.js (nodejs:arm64 with its libraries, glibc
# included) for running arm64 Node under qemu-user on an x86-64 machine:
#
#   scripts/arm64-node-sysroot.sh DIR
#   qemu-aarch64-static -L DIR DIR/usr/bin/node script.js
#
# Uses a private apt configuration in DIR.apt/ (arm64 package lists and downloads only; the
# machine's dpkg architectures and apt state are not touched), so it needs apt-get and network
# access to the Debian mirrors of /etc/apt/sources.list*. Reuses DIR when DIR/usr/bin/node
# exists. Prints SKIPPED and exits 0 when apt-get or dpkg-deb is missing.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir="$(mkdir -p "$1" && cd "$1" && pwd)"
if [ -x "$dir/usr/bin/node" ]; then
  echo "arm64 Node sysroot: reusing $dir"
  exit 0
fi
for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "SKIPPED: $tool not found"; exit 0; }
done

apt_dir="$dir.apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
touch "$apt_dir/status"
cat > "$apt_dir/apt.conf" <<CONF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::State::Lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir/cache";
APT::Sandbox::User "root";
CONF
export APT_CONFIG="$apt_dir/apt.conf"

echo "== arm64 package lists"
apt-get update -qq
# nodejs and everything it depends on (Depends and Pre-Depends, recursively).
mapfile -t packages < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances nodejs | grep -v '^ ' | grep -v '^<' | sort -u)
echo "== downloading ${#packages[@]} arm64 packages: ${packages[*]}"
(cd "$apt_dir/debs" && apt-get download -qq "${packages[@]}")
for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir"; done
[ -x "$dir/usr/bin/node" ] || { echo "arm64 Node sysroot: no usr/bin/node in $dir" >&2; exit 1; }
echo "arm64 Node sysroot: $dir ($(du -sh "$dir" | cut -f1))"

#!/usr/bin/env bash
# Ganeti 3.1's Python code, the conformance suite's second reader of runtime
# files: Debian trixie's ganeti-3.1 package, downloaded and unpacked into
# .cache/ganeti-3.1/ of this repository. Never installed: the machine keeps
# its Ganeti 3.0 and its apt sources. apt-get works from a private directory
# (its own sources list naming trixie, its own package lists), which is
# deleted afterwards. Its code runs with bookworm's python3.
#
# Prints the unpacked root's share directory (…/usr/share/ganeti/3.1).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=ganeti-3.1
DEST="$PWD/.cache/ganeti-3.1"
SHARE="$DEST/root/usr/share/ganeti/3.1"
MIRROR="${HOTPLUG_DESK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

if [[ -f "$DEST/version" && -f "$SHARE/ganeti/hypervisor/hv_kvm/kvm_runtime.py" ]]; then
  echo "$SHARE"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "ganeti-3.1: $tool is missing (this needs Debian's apt)" >&2; exit 2; }
done
if [[ ! -r $KEYRING ]]; then
  echo "ganeti-3.1: $KEYRING is missing: install debian-archive-keyring (it holds trixie's signing key since bookworm's 2023.3+deb12u1)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/sources.list.d" "$work/preferences.d"
echo "deb [signed-by=$KEYRING] $MIRROR trixie main" > "$work/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/sources.list.d"
  -o "Dir::Etc::Preferences=$work/preferences"
  -o "Dir::Etc::PreferencesParts=$work/preferences.d"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Acquire::Languages=none"
  -o "APT::Sandbox::User=$(id -un)"
)
echo "ganeti-3.1: fetching trixie's package list into a private directory" >&2
apt-get -qq "${apt_opts[@]}" update >&2
(cd "$work" && apt-get -qq "${apt_opts[@]}" download "$PACKAGE" >&2)
deb=$(ls "$work"/${PACKAGE}_*_all.deb)
version=$(dpkg-deb -f "$deb" Version)

rm -rf "$DEST"
mkdir -p "$DEST/root"
dpkg-deb -x "$deb" "$DEST/root"
if [[ ! -f "$SHARE/ganeti/hypervisor/hv_kvm/kvm_runtime.py" ]]; then
  echo "ganeti-3.1: $PACKAGE $version has no ganeti/hypervisor/hv_kvm/kvm_runtime.py under usr/share/ganeti/3.1" >&2
  exit 1
fi
echo "$version" > "$DEST/version"
echo "ganeti-3.1: unpacked $PACKAGE $version into $DEST" >&2
echo "$SHARE"

#!/usr/bin/env bash
# Debian packages the lab and the tests need. Installs them when run as root
# with apt-get; otherwise prints the exact command and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# "lab": what a lab node needs (npm start offers one); "ganeti-lab": that and
# a real Ganeti cluster (npm run lab -- --ganeti); "test": everything.
LAB=(
  openssh-server openssh-client   # the lab node's sshd, ssh-keygen
  qemu-system-x86 qemu-utils      # instances and migration targets
  cpio busybox-static             # the guest's initramfs
  iproute2                        # bridge and tap devices
  python3                         # node-side steps (fd passing), Ganeti's loader
)
GANETI_LAB=(
  ganeti ganeti-3.0 ganeti-haskell-3.0  # Ganeti 3.0.2: daemons and gnt-* commands
  ganeti-htools-3.0               # hail, the default iallocator (migrate picks the target with it)
  socat                           # the ProxyCommand into a lab node's network namespace
  iputils-arping                  # waits for the wire between the lab's nodes
  util-linux                      # nsenter, unshare: the nodes' namespaces
)
TEST=(
  chromium                        # end-to-end UI tests (Playwright drives it)
  ganeti-3.0 ganeti-testsuite     # Ganeti 3.0.2's code and test data: the conformance peer
  strace                          # what local-state writes do on disk (fsync order)
  pyflakes3                       # lints the node helper (electron/on-node/node_helper.py)
)
case "${1:-test}" in
  lab) PACKAGES=("${LAB[@]}") ;;
  ganeti-lab) PACKAGES=("${LAB[@]}" "${GANETI_LAB[@]}") ;;
  *) PACKAGES=("${LAB[@]}" "${GANETI_LAB[@]}" "${TEST[@]}") ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Ganeti 3.1, the second reader in the conformance suite: downloaded and
# unpacked into .cache/ (never installed). Where that fails, the suite's
# 3.1 tests fail and say why; the other suites still run.
second_reader() {
  if [[ "${1:-test}" != "lab" ]]; then
    bash scripts/ganeti-3.1.sh >/dev/null || echo "Ganeti 3.1 could not be unpacked (above); the conformance suite's 3.1 tests will fail" >&2
  fi
}

if [[ ${#missing[@]} -eq 0 ]]; then
  second_reader "${1:-test}"
  exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Ganeti's package would start its daemons in the machine's own namespaces;
  # the Ganeti lab starts them inside its nodes' namespaces instead.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.hotplug-desk
  had_policy=0; [[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
  [[ $had_policy -eq 0 ]] && install -m 0755 /usr/sbin/policy-rc.d.hotplug-desk /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [[ $had_policy -eq 0 ]] && rm -f /usr/sbin/policy-rc.d
  rm -f /usr/sbin/policy-rc.d.hotplug-desk
  second_reader "${1:-test}"
  exit 0
fi

echo "Missing Debian packages: ${missing[*]}" >&2
echo "Install them with:" >&2
echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
exit 2

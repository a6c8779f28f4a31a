#!/usr/bin/env bash
# Everything labcloud needs on a Debian 12 machine, idempotent and quick the second time:
# Debian packages, the virtualenv, and libvirtd/virtlogd running.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
  qemu-system-x86 qemu-utils dnsmasq-base nftables lvm2
  openssh-client openssh-server busybox-static linux-image-amd64
  dropbear-bin
  iproute2 util-linux genisoimage python3-venv python3-dev gcc make
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The virtualenv, reinstalled only when pyproject.toml changes.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.labcloud-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c "import labcloud.backends" 2>/dev/null; then
  echo "setup: installing labcloud and its dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[test]" >/dev/null
  echo "$want" > "$stamp"
fi

# libvirtd and virtlogd: through systemd where it runs, directly where it does not.
if [ -d /run/systemd/system ]; then
  $SUDO systemctl start virtlogd.socket libvirtd.socket libvirtd.service >/dev/null 2>&1 || true
else
  if [ ! -S /run/libvirt/virtlogd-sock ]; then
    echo "setup: starting virtlogd"
    $SUDO virtlogd -d
  fi
  if ! $SUDO virsh -q -c qemu:///system version >/dev/null 2>&1; then
    echo "setup: starting libvirtd"
    $SUDO libvirtd -d
    for _ in $(seq 50); do
      $SUDO virsh -q -c qemu:///system version >/dev/null 2>&1 && break
      sleep 0.2
    done
  fi
fi
$SUDO virsh -q -c qemu:///system version >/dev/null 2>&1 || {
  echo "setup: libvirtd is not answering on qemu:///system" >&2; exit 1; }
echo "setup: ready"

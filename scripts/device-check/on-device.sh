#!/usr/bin/env bash
# On the GPU machine, after unpack.sh: the Vulkan loader for the WebGPU provider (Debian's libvulkan1 and
# the glvnd libraries, unpacked into / as the device README says, only when no loader is installed), then the
# check. Writes device-report.json, device-check.log and measurements.json into $OUT.
#   bash scripts/device-check/on-device.sh [run-check device options, e.g. --budget-s 300]
set -uo pipefail
ROOT=${DC_ROOT:-/tmp/dc}
OUT=${OUT:-$ROOT/out}
[ -f "$ROOT/.ready" ] || { echo "on-device: the payload is not unpacked in $ROOT (run unpack.sh with every part)" >&2; exit 3; }
mkdir -p "$OUT"
log="$OUT/device-check.log"
{
  echo "== $(date -u +%FT%TZ) $(uname -a)"
  nvidia-smi 2>&1 || true
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>&1 || true
} >> "$log"
if [ "${DC_NO_DEBS:-0}" != 1 ] && ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in "$ROOT"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
  echo "on-device: Vulkan loader unpacked from $(ls "$ROOT"/debs | tr '\n' ' ')" | tee -a "$log"
fi
export DASR_LOG_LEVEL=info
"$ROOT/node" "$ROOT/app/scripts/device-check/run-check.js" device --root "$ROOT" --out "$OUT" "$@"
rc=$?
echo "on-device: exit $rc; files in \$OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $rc

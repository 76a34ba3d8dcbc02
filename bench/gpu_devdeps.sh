#!/usr/bin/env bash
# bench/gpu_devdeps.sh: packs the project's Debian libraries into .devdeps/ (run HERE, on the dev
# machine) for the lent GPU machine, which has CUDA and CMake but reaches no package registry.
# It is the shared packer (../shared/device/pack-deps.sh) plus what sso needs beyond its list:
# jansson (alerts/json.c), and source-extractor with its ATLAS/gfortran libraries (~4.5 MB of
# debs; bench/gpu_device_run.sh puts /opt/ssodeps/usr/bin on PATH) for the sextractor comparison.
# Carry ".devdeps" with the device call; bench/gpu_device_run.sh sources .devdeps/env.sh.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
packer="$root/../shared/device/pack-deps.sh"
[ -x "$packer" ] || { echo "gpu_devdeps: $packer not found (the shared tool folder)" >&2; exit 2; }
exec "$packer" libjansson4 libjansson-dev source-extractor libatlas3-base libgfortran5 libquadmath0 "$@"

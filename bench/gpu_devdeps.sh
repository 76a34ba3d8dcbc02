#!/usr/bin/env bash
# bench/gpu_devdeps.sh: prepares .devdeps/ (run HERE, on the dev machine) so that the project
# builds on the lent GPU machine, whose image has CUDA, CMake and Python but not the project's
# Debian libraries, and which cannot fetch anything.
#
# apt-get download fetches the .debs of the libraries the build links (headers, .so, .pc files)
# and dpkg -x unpacks them under .devdeps/root; .devdeps/env.sh points pkg-config (sysroot),
# the compilers and the loader there. Carry ".devdeps" with the device call (it must stay under
# the 64 MiB carry limit: the script prints its size). Untested on a device so far.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="libcfitsio-dev libcfitsio10 wcslib-dev libwcs7 libfftw3-dev libfftw3-single3 libfftw3-bin
      libcmocka-dev libcmocka0 libzmq3-dev libzmq5 libsodium23 libpgm-5.3-0 libnorm1 libbsd0 libmd0
      libsqlite3-dev libsqlite3-0 libcurl3-gnutls"
rm -rf .devdeps && mkdir -p .devdeps/debs .devdeps/root
(cd .devdeps/debs && apt-get download $PKGS)
for d in .devdeps/debs/*.deb; do dpkg -x "$d" .devdeps/root; done
rm -rf .devdeps/debs .devdeps/root/usr/share/doc .devdeps/root/usr/share/man
cat > .devdeps/env.sh <<'ENV'
# sourced by bench/gpu_device_run.sh: the project's Debian libraries unpacked under .devdeps/root
_dd="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/root"
export PKG_CONFIG_SYSROOT_DIR="$_dd"
export PKG_CONFIG_PATH="$_dd/usr/lib/x86_64-linux-gnu/pkgconfig:$_dd/usr/share/pkgconfig"
export CPATH="$_dd/usr/include${CPATH:+:$CPATH}"
export LIBRARY_PATH="$_dd/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$_dd/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ENV
du -sh .devdeps

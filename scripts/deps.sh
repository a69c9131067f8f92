#!/usr/bin/env bash
# Installs what mod_mxhr needs to build and test, only where it is
# missing. Usage: scripts/deps.sh build|test|browser|bench ...
set -euo pipefail

pkgs=()
for what in "$@"; do
    case "$what" in
    build)   pkgs+=(apache2 apache2-dev autoconf automake make gcc
                    libhiredis-dev) ;;
    test)    pkgs+=(apache2 apache2-dev libapache2-mod-perl2
                    libmime-tools-perl libwww-perl curl openssl
                    libio-socket-ssl-perl redis-server) ;;
    browser) pkgs+=(chromium fonts-dejavu-core nodejs npm) ;;
    bench)   pkgs+=(nginx-light libnginx-mod-nchan redis-server) ;;
    *) echo "deps.sh: unknown set '$what'" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${pkgs[@]}"; do
    # Node may come from elsewhere than Debian's package: trust a working one.
    case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm)    command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null

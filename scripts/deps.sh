#!/bin/sh
# Install the Debian 12 packages tremor-c needs to build, test and run,
# but only those that are missing (so it is quick and offline when all are there).
#   scripts/deps.sh            what `make` and `make test` need
#   scripts/deps.sh difftest   Debian's Rust toolchain and crate sources for `make difftest` only
set -e
PKGS="build-essential pkg-config libuv1-dev libyaml-dev libwslay-dev libssl-dev liblzma-dev libhttp-parser-dev libcurl4-openssl-dev \
libcmocka-dev libpcre2-dev libunistring-dev libonig-dev libsystemd-dev clang libclang-rt-14-dev python3 python3-pytest python3-pytest-timeout python3-websockets python3-msgpack libmsgpack-dev \
systemd groff-base man-db iproute2 \
rsyslog rsyslog-relp \
zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev gzip xz-utils lz4 zstd python3-snappy openssl \
liblmdb-dev lmdb-utils libc-ares-dev dnsmasq-base librdkafka-dev libpq-dev postgresql-15 \
libnats-dev nats-server libsimdjson-dev libjansson-dev"
if [ "$1" = "difftest" ]; then
    PKGS="cargo rustc librust-chrono-dev librust-regex-dev librust-serde-json-dev python3"
fi
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing

#!/bin/sh
# Make sure the tools the deployment-file tests use are installed:
#   docker-compose  (Debian package docker-compose: `docker-compose config -q`)
#   promtool        (Debian package prometheus:     `promtool check rules|config`)
#
# Installs only what is missing, only as root, only with apt-get (Debian/Ubuntu).
# Idempotent and quiet. Never fails: when a tool cannot be had, the tests that need it
# skip (or fail when CI=true), which says more than a failed build would.
#
# Usage: scripts/ensure-tools.sh        (the Makefile calls it before the test suite)

missing=""
command -v docker-compose >/dev/null 2>&1 || missing="$missing docker-compose"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != "0" ]; then
    echo "ensure-tools: not root, not installing:$missing (deployment-file tests will skip)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: no apt-get, not installing:$missing" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # $missing is a list of package names
if ! { apt-get update -qq >/dev/null 2>&1 &&
    apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; }; then
    echo "ensure-tools: could not install:$missing" >&2
fi
# The prometheus package starts a server when an init system is running; the tests only
# need promtool, and nothing here depends on that server.
exit 0

#!/usr/bin/env bash
# Runs every claimtrail test, after installing the real servers the
# integration tests use: Dovecot (IMAP), MinIO (S3) and Chromium (web app).
# Each test starts its own server on 127.0.0.1 with a random port and
# credentials; this script only makes sure the programs are there.
#
# Usage: scripts/test.sh [go test flags...]     (default: ./...)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/servers.sh
. scripts/servers.sh
ensure_servers

if [ $# -eq 0 ]; then set -- ./...; fi
echo "== go vet"
go vet ./...
echo "== go test $*"
go test -count=1 -timeout 45m "$@"

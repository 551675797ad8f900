#!/usr/bin/env bash
# Runs every claimtrail test, after installing the real servers the
# integration tests use: Dovecot (IMAP), MinIO (S3), PostgreSQL (ledger) and
# Chromium (web app).
# Each test starts its own server on 127.0.0.1 with a random port and
# credentials; this script only makes sure the programs are there.
#
# After the whole suite it runs the archive tests again on a PostgreSQL
# ledger (CLAIMTRAIL_TEST_LEDGER=postgres), then fuzzes every target for a
# few seconds each (scripts/fuzz.sh; about 8 minutes; FUZZTIME=0 skips it).
#
# Usage: scripts/test.sh [go test flags...]     (default: ./..., then fuzzing)
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
if [ "$*" = "./..." ]; then
	# The archive tests again with their ledgers on PostgreSQL: they are
	# the conformance suite of both ledger engines.
	echo "== go test ./archive with CLAIMTRAIL_TEST_LEDGER=postgres"
	CLAIMTRAIL_TEST_LEDGER=postgres go test -count=1 -timeout 20m ./archive
	# Every fuzz target for a bounded time (FUZZTIME=0 skips it).
	scripts/fuzz.sh
fi

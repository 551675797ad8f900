#!/usr/bin/env bash
# Runs issue 4's ingest benchmark: 10,000 mixed mails (70 % 4-12 KB, 25 %
# 30-200 KB with an attachment, 5 % 1-3 MB) fetched from a private Dovecot
# into a private MinIO, by claimtrail (`run --once`, 16 workers) and by a
# baseline measured in the same run (plain UID FETCH, 4 workers PUT the raw
# bytes, no judging). Prints mails/s, MB/s and peak RSS of both, and the
# ratio; the goal is 80 % of the baseline's mails/s. Takes a few minutes
# and about 3 GB of disk under $TMPDIR.
#
# Usage: scripts/bench.sh [mails [rounds]]    (default 10000 2, at most 7
#   rounds reported one by one; the best round of each side is kept)
#   CLAIMTRAIL_BENCH_CPUPROFILE=FILE also writes a CPU profile of claimtrail
#   (then run in the test process, without a peak RSS figure);
#   CLAIMTRAIL_BENCH_WORKERS=N runs claimtrail with --workers N;
#   CLAIMTRAIL_BENCH_LEDGER=FILE runs claimtrail twice a round, into an
#   empty ledger and into a fresh copy of that one (e.g. a generated one of
#   scripts/bench-ledger.sh; a 1M-message ledger adds 3.5 GB of disk and
#   a copy of it per round, untimed; the copy is migrated first, untimed),
#   in turns, and prints the big ledger's speed against the empty one's,
#   best against best and median against median (6 rounds fit);
#   CLAIMTRAIL_BENCH_POSTGRES=1 also runs claimtrail each round into a new
#   PostgreSQL ledger (a private cluster, installed by ensure_postgres) and
#   prints it against SQLite and the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/servers.sh
. scripts/servers.sh
ensure_dovecot
ensure_minio
if [ "${CLAIMTRAIL_BENCH_POSTGRES:-}" = 1 ]; then ensure_postgres; fi

export CLAIMTRAIL_BENCH_MAILS="${1:-10000}"
export CLAIMTRAIL_BENCH_ROUNDS="${2:-2}"
echo "== go test -bench IngestMixed ($CLAIMTRAIL_BENCH_MAILS mails, $CLAIMTRAIL_BENCH_ROUNDS rounds)"
out="$(go test -run '^$' -bench '^BenchmarkIngestMixed$' -benchtime 1x -count 1 -timeout 60m ./cmd/claimtrail/ 2>&1)" || {
	echo "$out" | tail -40
	exit 1
}
# The benchmark's own summary, without Dovecot's log lines.
echo "$out" | grep -E 'bench_test.go|^Benchmark|^(ok|FAIL|PASS)' | sed 's/^ *bench_test.go:[0-9]*: /  /'

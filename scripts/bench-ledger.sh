#!/bin/sh
# bench-ledger.sh: time every page and API list against generated ledgers
# of 10k, 100k and 1M messages (BenchmarkLedgerPages in cmd/claimtrail).
#
# It takes a while: building the 1M-message ledger takes several minutes
# (once; ledgers are kept under ${TMPDIR:-/tmp}/claimtrail-bigledger/ by
# size, about 1 GB at 1M), and at 1M each slow call takes seconds per run.
# Pick sizes and runs per call with:
#   CLAIMTRAIL_BENCH_LEDGER_SIZES=10000,100000 BENCH_RUNS=3 scripts/bench-ledger.sh
set -eu
cd "$(dirname "$0")/.."
sizes=${CLAIMTRAIL_BENCH_LEDGER_SIZES:-10000,100000,1000000}
runs=${BENCH_RUNS:-5}
CLAIMTRAIL_BENCH_LEDGER_SIZES=$sizes exec go test -run '^$' -bench '^BenchmarkLedgerPages$' \
	-benchtime "${runs}x" -timeout 3h ./cmd/claimtrail/

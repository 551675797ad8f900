#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time, one after the
# other (go test -fuzz takes one target per run). scripts/test.sh calls it
# after the tests, so CI fuzzes every commit.
#
# Targets are found by name (func FuzzXxx in *_test.go), so a new target is
# fuzzed without editing this script. The parsers of untrusted input (mail,
# Authentication-Results, the judge, the configuration) get FUZZTIME_CORE,
# the rest FUZZTIME. A crash fails the run; go test has then written the
# input under the package's testdata/fuzz/FuzzXxx/, and this script prints
# it, so that it can be committed as a regression case (go test runs every
# file there as a seed from then on).
#
# Usage: scripts/fuzz.sh [PACKAGE_DIR...]        (default: every package)
# Environment: FUZZTIME (default 10s), FUZZTIME_CORE (default 30s);
# FUZZTIME=0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-10s}"
FUZZTIME_CORE="${FUZZTIME_CORE:-30s}"
CORE='^(FuzzParse|FuzzJudge|FuzzParseAuthenticationResults|FuzzParseConfig|FuzzIncidentIDs)$'

if [ "$FUZZTIME" = "0" ]; then
	echo "== fuzz: skipped (FUZZTIME=0)"
	exit 0
fi

if [ $# -eq 0 ]; then
	mapfile -t dirs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
else
	dirs=("$@")
fi

failed=0
count=0
start=$SECONDS
for dir in "${dirs[@]}"; do
	mapfile -t targets < <(for f in "$dir"/*_test.go; do grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" || true; done | sed 's/^func //' | sort -u)
	for t in "${targets[@]}"; do
		d="$FUZZTIME"
		if [[ "$t" =~ $CORE ]]; then d="$FUZZTIME_CORE"; fi
		count=$((count + 1))
		echo "== fuzz $dir $t ($d)"
		log="/tmp/claimtrail-fuzz.$$"
		status=ok
		for try in 1 2; do
			if go test -run '^$' -fuzz "^${t}\$" -fuzztime "$d" "$dir" >"$log" 2>&1; then
				status=ok
				break
			fi
			# go test's fuzzing engine sometimes overruns its own deadline
			# on a busy machine and fails with "context deadline exceeded"
			# without any failing input. That is the tool, not the code:
			# try once more, and never count it as a finding.
			if grep -q "Failing input written to" "$log" || ! grep -q "context deadline exceeded" "$log"; then
				status=failed
				break
			fi
			status=overran
			echo "   (the fuzzing engine overran its deadline, no failing input; try $try)"
		done
		case $status in
		ok) tail -n 1 "$log" ;;
		overran) echo "   $t: no failing input found; the engine overran its deadline twice (not a finding)" ;;
		failed)
			failed=$((failed + 1))
			cat "$log"
			echo "!! $t found a failing input; commit it as a regression case:"
			git status --porcelain --untracked-files=all -- "$dir/testdata/fuzz/$t" 2>/dev/null | while read -r _ f; do
				echo "--- $f"
				cat "$f"
			done
			;;
		esac
	done
done
rm -f "/tmp/claimtrail-fuzz.$$"
echo "== fuzz: $count targets in $((SECONDS - start)) s"
echo "fuzz: $((count - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]

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
		if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$d" "$dir" >"/tmp/claimtrail-fuzz.$$" 2>&1; then
			failed=$((failed + 1))
			cat "/tmp/claimtrail-fuzz.$$"
			echo "!! $t found a failing input; commit it as a regression case:"
			git status --porcelain -- "$dir/testdata/fuzz/$t" | while read -r _ f; do
				echo "--- $f"
				cat "$f"
			done
		else
			tail -n 1 "/tmp/claimtrail-fuzz.$$"
		fi
	done
done
rm -f "/tmp/claimtrail-fuzz.$$"
echo "== fuzz: $count targets in $((SECONDS - start)) s"
echo "fuzz: $((count - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]

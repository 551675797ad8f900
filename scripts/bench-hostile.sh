#!/usr/bin/env bash
# Runs issue 16's hostile-mail benchmark: every shape of
# evidence/evidencetest.HostileShapes (the large bodies at 200 MB) through
# the built `claimtrail inspect`, each as a child process, and prints each
# shape's seconds per message and peak RSS. The goal: under 1 s and
# 150 MB each. Needs about 450 MB of disk under $TMPDIR; takes a minute.
#
# Usage: scripts/bench-hostile.sh [runs]    (default 3 runs per shape)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-3}"
echo "== go test -bench Hostile ($runs runs per shape)"
out="$(go test -run '^$' -bench '^BenchmarkHostile$' -benchtime "${runs}x" -count 1 -timeout 30m ./cmd/claimtrail/ 2>&1)" || {
	echo "$out" | tail -40
	exit 1
}
echo "$out" | awk '
	/^BenchmarkHostile\// {
		name = $1; sub(/^BenchmarkHostile\//, "", name); sub(/-[0-9]+$/, "", name)
		s = ""; rss = ""
		for (i = 2; i < NF; i++) {
			if ($(i+1) == "s/op") s = $i
			if ($(i+1) == "peak-RSS-MB") rss = $i
		}
		ok = (s + 0 < 1 && rss + 0 < 150) ? "ok" : "OVER"
		printf "%-38s %8.3f s %8.1f MB  %s\n", name, s, rss, ok
		if (ok == "OVER") over++
	}
	END { if (over) { printf "%d shape(s) over 1 s or 150 MB\n", over; exit 1 } }
'

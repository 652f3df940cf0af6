#!/usr/bin/env bash
# run.sh regenerates every table in BENCHMARKS.md from one run of the
# benchmarks, on this machine. Run it on a quiet machine: anything else
# running shows up as noise in the confidence intervals.
#
#	./run.sh              # -count 10 at the default -benchtime, roughly 10 to 15 minutes
#	COUNT=6 BENCHTIME=200ms ./run.sh
#	OUT=new.out ./run.sh  # where the raw samples go (default new.out, ignored by git)
#	./run.sh -tables      # only re-render the tables from an existing $OUT
#
# What it runs is the command BENCHMARKS.md documents:
#
#	go test -run '^$' -bench . -count 10 > new.out
#	go tool benchstat -table .name -col /impl new.out
#
# and it puts each benchmark's table (one per file: Sem, Pool, ...) between
# the "<!-- benchstat NAME -->" and "<!-- end benchstat NAME -->" lines of
# BENCHMARKS.md, and the machine and date between "<!-- run -->" and
# "<!-- end run -->". Everything else in BENCHMARKS.md (the prose, the
# targets) is left as it is: read the new tables and update it by hand.
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-10}
benchtime=${BENCHTIME:-}
out=${OUT:-new.out}
doc=BENCHMARKS.md
names=(Sem Pool Keyed Guard Gate Queue Loop)

if [ "${1:-}" != "-tables" ]; then
	args=(-run '^$' -bench . -count "$count")
	if [ -n "$benchtime" ]; then
		args+=(-benchtime "$benchtime")
	fi
	echo "go test ${args[*]} > $out" >&2
	go test "${args[@]}" >"$out"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# splice NAME FILE replaces the lines between NAME's markers with FILE.
splice() {
	local begin="<!-- $1 -->" end="<!-- end $1 -->"
	if ! grep -qxF "$begin" "$doc" || ! grep -qxF "$end" "$doc"; then
		echo "run.sh: $doc has no \"$begin\" ... \"$end\" lines" >&2
		exit 1
	fi
	awk -v begin="$begin" -v end="$end" -v file="$2" '
		$0 == begin { print; while ((getline line < file) > 0) print line; skip = 1; next }
		$0 == end { skip = 0 }
		!skip { print }
	' "$doc" >"$tmp/doc"
	cp "$tmp/doc" "$doc"
}

for name in "${names[@]}"; do
	{
		echo '```text'
		# -table .name: one table per top-level benchmark; -filter keeps
		# this file's. Rows are the other name parts, columns the impls,
		# each compared with the first (sluice) with a confidence interval.
		go tool benchstat -table .name -col /impl -filter ".name:$name" "$out"
		echo '```'
	} >"$tmp/table"
	splice "benchstat $name" "$tmp/table"
done

# The header describes the samples in $out, not this invocation's settings.
count=$(awk '/^Benchmark/ { n[$1]++ } END { for (k in n) { print n[k]; exit } }' "$out")
procs=$(grep -m1 '^Benchmark' "$out" | awk '{print $1}' | sed -nE 's/.*-([0-9]+)$/\1/p')
{
	echo "The run below: $(go version | cut -d' ' -f3-), $(grep -m1 '^cpu: ' "$out" | cut -d' ' -f2- || echo 'cpu unknown'),"
	echo "GOMAXPROCS=${procs:-1}, -count ${count:-0}${benchtime:+ -benchtime $benchtime}, $(date -u +%Y-%m-%d)."
} >"$tmp/run"
splice run "$tmp/run"
echo "run.sh: updated $doc from $out" >&2

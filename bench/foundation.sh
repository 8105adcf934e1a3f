#!/usr/bin/env bash
# bench/foundation.sh - the foundation figures, side by side with peers,
# printed as Markdown on stdout (progress on stderr):
#
#   (a) generation: fs-gen | fs-stat, records/s (target >= 20M/s)
#   (b) CSV -> records: fs-ingest vs mlr --icsv --ojson cat (>= 10x)
#       and vs mawk -F, '{print $2}' (>= 2x)
#   (c) records -> CSV: fs-cat -f csv vs mlr --icsv --ocsv cat (>= 3x)
#
# All on the same transactions CSV, made by
# fs-gen --kind txn -n $N --seed 7 | fs-cat -f csv.  Best of $RUNS wall
# times, output to /dev/null.  Data goes to bench/work/ (git-ignored).
#
#   N=1M        rows for (b) and (c) (k, M, G suffixes)
#   GEN_N=20M   records for (a)
#   RUNS=3      runs per command; the best wall time counts
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-1M}
GEN_N=${GEN_N:-20M}

for t in fs-gen fs-stat fs-cat fs-ingest; do
	command -v $t >/dev/null || die "$t not found in $B/bin"
done
load0=$(load)
rows=$(count "$N")
gen_rows=$(count "$GEN_N")
mkdir -p "$work"

# best_of NAME...: run the commands cmd[NAME] in turn, $RUNS rounds
# (interleaved, so a change in the machine's load hits each alike), and
# keep each one's smallest wall time in ns in t[NAME].
declare -A cmd t
best_of() {
	local i n d
	for ((i = 0; i < RUNS; i++)); do
		for n in "$@"; do
			d=$(timed "${cmd[$n]}")
			if [ -z "${t[$n]:-}" ] || [ "$d" -lt "${t[$n]}" ]; then
				t[$n]=$d
			fi
		done
	done
}

# mfmt X: X (millions) with about 3 significant digits.
mfmt() {
	awk -v x="$1" 'BEGIN {
		printf (x >= 10 ? "%.1f" : x >= 1 ? "%.2f" : "%.3g"), x }'
}

# rate ROWS NS: rows per second, in millions.
rate() {
	mfmt "$(awk -v r="$1" -v ns="$2" 'BEGIN { print r / (ns / 1e9) / 1e6 }')"
}

# verdict RATIO TARGET: "met" or "NOT met".
verdict() {
	awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "met" : "**not met**") }'
}

# json_num FILE KEY: a number field of fs-stat --json's summary.
json_num() {
	sed -n "s/.*\"$2\":\([0-9.e+]*\).*/\1/p" "$1" | head -1
}

csv=$work/txn-$N-s7.csv
fsr=$work/txn-$N-s7.fsr
if [ ! -s "$csv" ]; then
	echo "making $csv" >&2
	fs-gen --kind txn -n "$rows" --seed 7 | fs-cat -f csv >"$csv.tmp" &&
		mv "$csv.tmp" "$csv" || die "cannot make $csv"
fi
echo "making $fsr (fs-ingest of the CSV)" >&2
fs-ingest -f csv -t txn -i "$csv" -o "$fsr" || die "fs-ingest failed"
fs-stat -q --json -i "$fsr" -o /dev/null 2>"$work/check.json"
got=$(json_num "$work/check.json" records)
[ "$got" = "$rows" ] || die "fs-ingest wrote $got records, not $rows"
# fs-ingest stamps its own ts_ingest (column 2); the rest must match.
if cmp -s <(fs-cat -f csv -i "$fsr" | cut -d, -f2 --complement) \
	<(cut -d, -f2 --complement "$csv"); then
	roundtrip="identical but for ts_ingest, which fs-ingest stamps"
else
	roundtrip="**differs**"
fi

# (a) generation, measured by fs-stat itself and by the wall clock.
echo "(a) fs-gen -n $GEN_N | fs-stat" >&2
gen_cmd="fs-gen --kind txn -n $GEN_N | fs-stat -q --json -o /dev/null"
gen_best=0
gen_wall=0
for ((i = 0; i < RUNS; i++)); do
	t0=$(date +%s%N)
	bash -o pipefail -c "$gen_cmd" 2>"$work/gen.json" ||
		die "failed: $gen_cmd"
	t1=$(date +%s%N)
	[ "$(json_num "$work/gen.json" records)" = "$gen_rows" ] ||
		die "fs-stat counted $(json_num "$work/gen.json" records)"
	r=$(json_num "$work/gen.json" records_per_s)
	gen_best=$(awk -v a="$r" -v b="$gen_best" \
		'BEGIN { print (a > b ? a : b) }')
	d=$((t1 - t0))
	if [ $gen_wall -eq 0 ] || [ $d -lt $gen_wall ]; then gen_wall=$d; fi
done
gen_stat=$(mfmt "$(awk -v r="$gen_best" 'BEGIN { print r / 1e6 }')")
gen_clock=$(rate "$gen_rows" "$gen_wall")

# (b) CSV -> records and (c) records -> CSV, all interleaved.
echo "(b), (c): ingest and print $N rows" >&2
have_mlr=0
have_mawk=0
command -v mlr >/dev/null && have_mlr=1
command -v mawk >/dev/null && have_mawk=1
cmd[ing]="fs-ingest -f csv -t txn -i $csv >/dev/null"
cmd[cat]="fs-cat -f csv -i $fsr >/dev/null"
cmd[mlrj]="mlr --icsv --ojson cat $csv >/dev/null"
cmd[mlrc]="mlr --icsv --ocsv cat $csv >/dev/null"
cmd[mawk]="mawk -F, '{print \$2}' $csv >/dev/null"
names="ing cat"
[ $have_mlr = 1 ] && names="$names mlrj mlrc"
[ $have_mawk = 1 ] && names="$names mawk"
best_of $names
t_ing=${t[ing]}
t_cat=${t[cat]}
t_mlrj=${t[mlrj]:-}
t_mlrc=${t[mlrc]:-}
t_mawk=${t[mawk]:-}

r_ing=$(rate "$rows" "$t_ing")
r_cat=$(rate "$rows" "$t_cat")

# row TEST TOOL CMD RATE RATIO TARGET: one Markdown table row.
row() {
	printf '| %s | %s | `%s` | %s | %s | %s |\n' "$@"
}

cat <<EOF
# Foundation benchmark

$(machine "$load0")
Best of $RUNS wall times per command (the commands of (b) and (c) run in
turn, round by round), output to \`/dev/null\`.
Rows/s in millions. Ratio: the finstream tool's rows/s over the peer's.
Input: $rows transactions ($(du -h "$csv" | cut -f1) of CSV) made by
\`fs-gen --kind txn -n $N --seed 7 | fs-cat -f csv\`; fs-ingest of it
gives $got records; fs-cat -f csv of those gives the CSV back,
$roundtrip.

| test | tool | command | M rows/s | ratio | target |
|---|---|---|---:|---:|---|
EOF
row "(a) generate" "fs-gen, fs-stat" \
	"fs-gen --kind txn -n $GEN_N \\| fs-stat -q --json -o /dev/null" \
	"$gen_stat" "" ">= 20 M/s: $(verdict "$gen_stat" 20)"
row "(a) generate" "(wall clock)" "same, $gen_rows / best wall time" \
	"$gen_clock" "" ""
row "(b) CSV to records" "fs-ingest" \
	"fs-ingest -f csv -t txn -i txn.csv" "$r_ing" "1.0" ""
if [ $have_mlr = 1 ]; then
	r=$(rate "$rows" "$t_mlrj")
	x=$(ratio "$t_mlrj" "$t_ing")
	row "(b) CSV to records" "miller $(mlr --version | cut -d' ' -f2)" \
		"mlr --icsv --ojson cat txn.csv" "$r" "$x" \
		">= 10x: $(verdict "$x" 10)"
else
	row "(b) CSV to records" "miller" "not installed" "" "" ""
fi
if [ $have_mawk = 1 ]; then
	r=$(rate "$rows" "$t_mawk")
	x=$(ratio "$t_mawk" "$t_ing")
	row "(b) CSV to records" "mawk" "mawk -F, '{print \$2}' txn.csv" \
		"$r" "$x" ">= 2x: $(verdict "$x" 2)"
else
	row "(b) CSV to records" "mawk" "not installed" "" "" ""
fi
row "(c) records to CSV" "fs-cat" "fs-cat -f csv -i txn.fsr" "$r_cat" \
	"1.0" ""
if [ $have_mlr = 1 ]; then
	r=$(rate "$rows" "$t_mlrc")
	x=$(ratio "$t_mlrc" "$t_cat")
	row "(c) records to CSV" "miller" "mlr --icsv --ocsv cat txn.csv" \
		"$r" "$x" ">= 3x: $(verdict "$x" 3)"
fi
cat <<EOF

(a) The first row is fs-stat's own rate (records over the time from its
first to its last record, \`--json\` summary, best run); the second is
$gen_rows records over the whole pipeline's best wall time, start-up
included.  fs-gen and fs-stat run on the two cores at once.
(b) fs-ingest parses and checks every field into a 48-byte binary body;
mlr parses the CSV into records and prints JSON; mawk only splits the
lines and prints one field.  (c) fs-cat prints every field from binary
records (timestamps in ISO 8601, money exact); mlr reads the CSV and
writes it back.
EOF

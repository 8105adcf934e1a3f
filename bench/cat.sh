#!/usr/bin/env bash
# bench/cat.sh - fs-cat -f csv on the fraud-v1 streams, printed as
# Markdown on stdout (progress on stderr): FEATURES (20 float32 columns a
# row), SCORE (a double a row) and, for scale, TXN (no floats), each with
#
#   this build's fs-cat (floats through libdouble-conversion, fmtfloat.c),
#   the fs-cat of $OLD (floats by printf and strtod at 6, 7, ... digits),
#   pandas DataFrame.to_csv of the same rows (the first $PANDAS_N).
#
# Data (bench/work/, git-ignored):
#   fs-gen --kind txn -n $N --seed 7 | fs-window --features fraud-v1 > feat.fsr
#   fs-score-gpu -m models/fraud-v1.json --device cpu -i feat.fsr > score.fsr
#
#   N=3M          rows (k, M suffixes)
#   OLD=83cd9c4   the commit to compare with (built in bench/work/old)
#   PANDAS_N=1M   rows given to pandas (its rate is per row all the same)
#   RUNS=3        runs per command; the best wall time counts
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-3M}
OLD=${OLD:-83cd9c4}
PANDAS_N=${PANDAS_N:-1M}
need fs-gen fs-window fs-score-gpu fs-cat
load0=$(load)
rows=$(count "$N")
prows=$(count "$PANDAS_N")
[ "$prows" -le "$rows" ] || prows=$rows
mkdir -p "$work"

# The old fs-cat, built from $OLD's tree (not a worktree: nothing in
# .git changes).
old=$work/old-$OLD
if [ ! -x "$old/build/bin/fs-cat" ]; then
	echo "building fs-cat of $OLD in $old" >&2
	rm -rf "$old" && mkdir -p "$old" &&
		git archive "$OLD" | tar -x -C "$old" &&
		make -C "$old" CUDA=0 build/bin/fs-cat >"$work/old-build.log" 2>&1 ||
		die "cannot build fs-cat of $OLD (see $work/old-build.log)"
fi
oldcat=$old/build/bin/fs-cat

txn=$work/cat-txn-$N.fsr
feat=$work/cat-feat-$N.fsr
score=$work/cat-score-$N.fsr
if [ ! -s "$score" ]; then
	echo "making $txn, $feat, $score" >&2
	fs-gen --kind txn -n "$rows" --seed 7 >"$txn" &&
		fs-window --features fraud-v1 -i "$txn" -o "$feat" &&
		fs-score-gpu -m models/fraud-v1.json --device cpu -i "$feat" \
			-o "$score" || die "cannot make the data"
fi

# rate ROWS NS: rows per second, in millions, 3 significant digits.
rate() {
	awk -v r="$1" -v ns="$2" 'BEGIN { x = r / (ns / 1e9) / 1e6
		printf (x >= 10 ? "%.1f" : x >= 1 ? "%.2f" : "%.3g"), x }'
}

# Same text from both builds?
declare -A same t
for s in txn feat score; do
	f=$work/cat-$s-$N.fsr
	cmp -s <(fs-cat -f csv -i "$f") <("$oldcat" -f csv -i "$f") &&
		same[$s]=identical || same[$s]="**differs**"
done

# Interleaved rounds, so a change in the machine's load hits each alike.
echo "timing fs-cat, new and old, $RUNS rounds" >&2
for ((i = 0; i < RUNS; i++)); do
	for s in txn feat score; do
		f=$work/cat-$s-$N.fsr
		for b in new old; do
			c=fs-cat
			[ $b = old ] && c=$oldcat
			d=$(timed "$c -f csv -i $f >/dev/null")
			k=$s-$b
			if [ -z "${t[$k]:-}" ] || [ "$d" -lt "${t[$k]}" ]; then
				t[$k]=$d
			fi
		done
	done
done

# pandas: the rows as fs-cat prints them, read back with the records'
# types (float32 features, float64 score, timestamps as text), then
# DataFrame.to_csv to /dev/null, best of $RUNS; prints ns per row.
pandas_ns() {
	fs-cat -f csv -n "$prows" -i "$1" | python3 -c '
import sys, time, pandas as pd, numpy as np
df = pd.read_csv(sys.stdin, dtype={"ts_event": str, "ts_ingest": str})
kind = sys.argv[1]
if kind == "feat":
    skip = {"ts_event", "ts_ingest", "key", "seq"}
    for c in df.columns:
        if c not in skip:
            df[c] = df[c].astype(np.float32)
best = None
for i in range(int(sys.argv[2])):
    t0 = time.perf_counter_ns()
    df.to_csv("/dev/null", index=False)
    d = time.perf_counter_ns() - t0
    best = d if best is None or d < best else best
print(best / len(df))
' "$2" "$RUNS"
}
have_pandas=0
if python3 -c 'import pandas' 2>/dev/null; then
	have_pandas=1
	pver=$(python3 -c 'import pandas; print(pandas.__version__)')
	for s in txn feat score; do
		echo "timing pandas to_csv, $s, $prows rows" >&2
		p=$(pandas_ns "$work/cat-$s-$N.fsr" $s) || die "pandas failed"
		t[$s-pandas]=$(awk -v p="$p" -v r="$rows" 'BEGIN { printf "%.0f", p * r }')
	done
fi

row() {
	printf '| %s | %s | `%s` | %s | %s | %s |\n' "$@"
}
target() {
	awk -v r="$1" -v t="$2" 'BEGIN { print ">= " t " M/s: " (r >= t ? "met" : "**not met**") }'
}

cat <<EOF
# fs-cat float printing benchmark

$(machine "$load0")
Best of $RUNS wall times per command (the fs-cat commands run in turn,
round by round), output to \`/dev/null\`.  Rows/s in millions; ratio:
this fs-cat's rows/s over the other's.  Input: $rows transactions,
\`fs-gen --kind txn -n $N --seed 7\`, their FEATURES
(\`fs-window --features fraud-v1\`: 20 float32 columns a row) and their
SCORE records (\`fs-score-gpu -m models/fraud-v1.json --device cpu\`: a
double a row).  "old" is fs-cat of commit $OLD (floats by printf and
strtod at 6, 7, ... digits); its CSV and this one's are
byte for byte: TXN ${same[txn]}, FEATURES ${same[feat]}, SCORE ${same[score]}.

| stream | tool | command | M rows/s | ratio | target |
|---|---|---|---:|---:|---|
EOF
for s in feat score txn; do
	case $s in
	feat) name=FEATURES; tg=2 ;;
	score) name=SCORE; tg=3 ;;
	txn) name=TXN; tg= ;;
	esac
	r=$(rate "$rows" "${t[$s-new]}")
	row "$name" "fs-cat" "fs-cat -f csv -i $s.fsr" "$r" "1.0" \
		"$([ -n "$tg" ] && target "$r" "$tg")"
	row "$name" "fs-cat $OLD" "fs-cat -f csv -i $s.fsr" \
		"$(rate "$rows" "${t[$s-old]}")" \
		"$(ratio "${t[$s-old]}" "${t[$s-new]}")" ""
	if [ $have_pandas = 1 ]; then
		row "$name" "pandas $pver" "df.to_csv(\"/dev/null\")" \
			"$(rate "$rows" "${t[$s-pandas]}")" \
			"$(ratio "${t[$s-pandas]}" "${t[$s-new]}")" ""
	fi
done
cat <<EOF

fs-cat reads the binary records and prints every field (timestamps in
ISO 8601, floats as the shortest "%g" text of at least 6 (float) or 15
(double) digits that reads back).  pandas: the first $prows rows as
fs-cat prints them, read back into a DataFrame (float32 features,
float64 score, timestamps as text, not timed), then only
\`DataFrame.to_csv\` timed in-process (no start-up), per row.
EOF

# bench/lib.sh - sourced by every bench/*.sh: the build's tools first on
# PATH, Debian's python3, and the helpers each benchmark uses.
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
PATH=$B/bin:/usr/bin:$PATH
RUNS=${RUNS:-3}
work=bench/work
bench_name=bench/${0##*/}

die() {
	echo "$bench_name: $*" >&2
	exit 1
}

# count TEXT: "1M" -> 1000000 (k, M, G suffixes).
count() {
	case $1 in
	*k) echo $((${1%k} * 1000)) ;;
	*M) echo $((${1%M} * 1000000)) ;;
	*G) echo $((${1%G} * 1000000000)) ;;
	*) echo $(($1)) ;;
	esac
}

# need TOOL...: die unless each is on PATH.
need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || die "$t not found in $B/bin"
	done
}

# timed CMD: run CMD (bash, pipefail) once; print its wall time in ns.
# A failing run ends the benchmark.
timed() {
	local t0 t1
	t0=$(date +%s%N)
	bash -o pipefail -c "$1" || die "failed: $1"
	t1=$(date +%s%N)
	echo $((t1 - t0))
}

# best CMD: the smallest wall time in ns of $RUNS runs of CMD.
best() {
	local i d min=0
	for ((i = 0; i < RUNS; i++)); do
		d=$(timed "$1")
		if [ $min -eq 0 ] || [ "$d" -lt $min ]; then min=$d; fi
	done
	echo $min
}

# ratio NS_PEER NS_OURS: how many times faster ours is, 1 decimal.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'
}

# The machine and its load, for the head of a result: call `load0=$(load)`
# at the start, then `machine "$load0"` in the Markdown.
load() {
	cut -d' ' -f1-3 /proc/loadavg
}
machine() {
	local cpu
	cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
	printf '%s; %s cores, %s,\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" \
		"$(nproc)" "${cpu:-unknown CPU}"
	awk '/MemTotal/ { printf "%.0f GiB memory,\n", $2 / 1048576 }' \
		/proc/meminfo
	printf 'Linux %s; load average (1, 5, 15 min) at the start:\n' \
		"$(uname -r)"
	printf '%s, at the end: %s.\n' "$1" "$(load)"
}

# rate N NS: N per NS nanoseconds, in millions a second, 3 significant
# digits.
rate() {
	awk -v r="$1" -v ns="$2" 'BEGIN { if (ns <= 0) ns = 1
		printf "%.3g", r / (ns / 1e9) / 1e6 }'
}
# json_num FILE KEY: the first number of "KEY": in FILE.
json_num() {
	sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" "$1" | head -1
}
# us NS: microseconds, one decimal; added A B: (A - B) the same way.
us() {
	awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e3 }'
}
added() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a - b) / 1e3 }'
}
# verdict R T [le]: "met" when R >= T (R <= T with le).
verdict() {
	awk -v r="$1" -v t="$2" -v le="${3:-}" 'BEGIN {
		ok = le ? r <= t : r >= t; print (ok ? "met" : "**not met**") }'
}
# lat CMD: the median over $RUNS runs of CMD's p99 latency in ns (CMD
# ends in fs-stat --json, its summary on stderr).
lat() {
	local i v=()
	for ((i = 0; i < RUNS; i++)); do
		bash -o pipefail -c "$1" 2>"$work/lat.json" || die "failed: $1"
		v+=("$(json_num "$work/lat.json" p99)")
	done
	printf '%s\n' "${v[@]}" | sort -n | awk '{ a[NR] = $1 }
		END { print a[int((NR + 1) / 2)] }'
}

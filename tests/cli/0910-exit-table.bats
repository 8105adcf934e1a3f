#!/usr/bin/env bats
# Every tool's exit status and message for each kind of failure, as one
# table, checked against the convention of finstream(7): 0 success,
# 1 failure (I/O), 2 usage, 3 bad input data, 4 a service unavailable;
# messages "fs-TOOL: what failed: why (where)", lower case first, no
# final full stop, and a bad record's message names where it is.
load helper

M=$TOP/models/fraud-v1.json

# The fixtures the table refers to: good and bad frame files, a CSV with
# a bad row, a FIFO, a directory.
fixtures() {
	fs-gen -n 3 --seed 1 > good.fsr
	fs-gen -n 3 --seed 1 | fs-window --features fraud-v1 > feat.fsr
	head -c 100 good.fsr > trunc.fsr	# frame 2 cut short
	python3 - <<'PY'
import struct
b = bytearray(open("good.fsr", "rb").read())
open("badlen.fsr", "wb").write(b[:88] + struct.pack("<I", 7) + b[92:])
v = bytearray(b); v[88 + 6] = 9		# frame 2: version 9
open("badver.fsr", "wb").write(v)
f, o = open("feat.fsr", "rb").read(), 0	# its FEATURES without the SCHEMA
with open("noschema.fsr", "wb") as out:
    while o < len(f):
        n = struct.unpack_from("<IH", f, o)
        if n[1] != 0x102:
            out.write(f[o:o + 4 + n[0]])
        o += 4 + n[0]
PY
	printf 'ts_event,account,amount\n2026-01-02T00:00:00Z,1,5\n2026-01-02T00:00:01Z,2,x\n' > bad.csv
	mkfifo fifo
	mkdir dir
}

# The table: expected status | command (run by sh in $T) | stderr regex.
# Every tool appears for each kind of failure it can meet.
TABLE=$(cat <<EOF_TABLE
0#fs-gen -n 5 | fs-cat > /dev/null#^$
0#fs-gen -n 500000 | fs-window --tumble 1m | head -c 10 > /dev/null#^$
2#fs-gen --bogus#^fs-gen: unknown option '--bogus'
2#fs-ingest --bogus#^fs-ingest: unknown option '--bogus'
2#fs-cat --bogus#^fs-cat: unknown option '--bogus'
2#fs-stat --bogus#^fs-stat: unknown option '--bogus'
2#fs-window --bogus#^fs-window: unknown option '--bogus'
2#fs-score-gpu --bogus#^fs-score-gpu: unknown option '--bogus'
2#fs-checkpoint list --bogus#^fs-checkpoint: unknown option '--bogus'
2#fs-checkpoint frob --state good.fsr#^fs-checkpoint: unknown command 'frob'
1#fs-checkpoint list --state nosuch.db#^fs-checkpoint: cannot open checkpoint store 'nosuch.db': No such file or directory$
3#fs-checkpoint list --state good.fsr#^fs-checkpoint: checkpoint store 'good.fsr': not a checkpoint store
2#fs-cat -i#^fs-cat: option '-i' needs an argument
2#fs-window --tumble#^fs-window: option '--tumble' needs an argument
2#fs-gen -n -1#^fs-gen: bad -n '-1'
2#fs-stat --every 0#^fs-stat: bad --every '0'
2#fs-window --tumble 1m --agg 'sum(nosuch)' -i good.fsr#^fs-window: .*nosuch
2#fs-cat -f xml -i good.fsr#^fs-cat: .*xml
2#fs-ingest -t nosuch -i bad.csv#^fs-ingest: .*nosuch
2#fs-score-gpu -i feat.fsr#^fs-score-gpu: .*-m
2#fs-gen -n 1#^fs-gen: refusing to write binary records to a terminal
2#fs-stat -q -i good.fsr -o good.fsr#^fs-stat: refusing to use 'good.fsr' as an output: it is the same file as the input 'good.fsr'
2#fs-cat -i good.fsr -o good.fsr#^fs-cat: refusing to use 'good.fsr' as an input: it is the same file as the output 'good.fsr'
2#fs-window --tumble 1m -i good.fsr -o good.fsr#^fs-window: refusing to use 'good.fsr' as an output
2#fs-score-gpu -m $M --device cpu -i feat.fsr -o feat.fsr#^fs-score-gpu: refusing to use 'feat.fsr' as an output
2#fs-ingest -t txn -i bad.csv -o bad.csv#^fs-ingest: refusing to use 'bad.csv' as an input
2#fs-gen -n 1 -o /dev/null --metrics fifo#^fs-gen: refusing to write metrics to 'fifo': it is a FIFO
2#fs-stat -q -i good.fsr -o /dev/null --metrics dir#^fs-stat: refusing to write metrics to 'dir': it is a directory
1#fs-cat -i nosuch.fsr#^fs-cat: cannot open 'nosuch.fsr': No such file or directory$
1#fs-stat -i nosuch.fsr#^fs-stat: cannot open 'nosuch.fsr': No such file or directory$
1#fs-window --tumble 1m -i nosuch.fsr#^fs-window: cannot open 'nosuch.fsr': No such file or directory$
1#fs-score-gpu -m $M --device cpu -i nosuch.fsr#^fs-score-gpu: cannot open 'nosuch.fsr': No such file or directory$
1#fs-ingest -t txn -i nosuch.csv#^fs-ingest: cannot open 'nosuch.csv': No such file or directory$
1#fs-score-gpu -m $M --device cpu -i feat.fsr --reference nosuch.ref#^fs-score-gpu: cannot open reference 'nosuch.ref': No such file or directory$
1#fs-score-gpu -m $M --device cpu -i feat.fsr --reference dir#^fs-score-gpu: cannot read reference 'dir': Is a directory$
1#fs-score-gpu -m nosuch.json --device cpu -i feat.fsr#^fs-score-gpu: cannot open model 'nosuch.json': No such file or directory$
1#fs-cat -i dir#^fs-cat: cannot read 'dir'.*: Is a directory$
1#fs-stat -i dir#^fs-stat: cannot read 'dir'.*: Is a directory$
1#fs-window --tumble 1m -i dir#^fs-window: cannot read 'dir'.*: Is a directory$
1#fs-score-gpu -m $M --device cpu -i dir#^fs-score-gpu: cannot read 'dir'.*: Is a directory$
1#fs-ingest -t txn -i dir#^fs-ingest: cannot read 'dir'.*: Is a directory$
1#fs-gen -n 1 -o dir#^fs-gen: cannot create 'dir': Is a directory$
1#fs-cat -i good.fsr -o dir#^fs-cat: cannot create 'dir': Is a directory$
1#fs-stat -q -i good.fsr -o dir#^fs-stat: cannot create 'dir': Is a directory$
1#fs-window --tumble 1m -i good.fsr -o dir#^fs-window: cannot create 'dir': Is a directory$
1#fs-score-gpu -m $M --device cpu -i feat.fsr -o dir#^fs-score-gpu: cannot create 'dir': Is a directory$
1#fs-ingest -t txn -i bad.csv -o dir#^fs-ingest: cannot create 'dir': Is a directory$
1#fs-gen -n 100000 -o /dev/full#^fs-gen: cannot write '/dev/full': No space left on device$
1#fs-gen -n 100000 | fs-cat -o /dev/full#^fs-cat: cannot write '/dev/full': No space left on device$
1#fs-gen -n 200000 --disorder 30s | fs-window --tumble 1s --late /dev/full -o /dev/null#^fs-window: cannot write '/dev/full': No space left on device$
3#fs-cat -i trunc.fsr#^fs-cat: bad input 'trunc.fsr': truncated frame: 12 of 88 bytes at end of input \\(frame 2, byte offset 88\\)$
3#fs-stat -q -i trunc.fsr -o /dev/null#^fs-stat: bad input 'trunc.fsr': truncated frame: 12 of 88 bytes at end of input \\(frame 2, byte offset 88\\)$
3#fs-window --tumble 1m -i trunc.fsr -o /dev/null#^fs-window: bad input 'trunc.fsr': truncated frame: 12 of 88 bytes at end of input \\(frame 2, byte offset 88\\)$
3#fs-score-gpu -m $M --device cpu -i trunc.fsr -o /dev/null#^fs-score-gpu: bad input 'trunc.fsr': truncated frame
3#fs-cat -i badlen.fsr#^fs-cat: bad input 'badlen.fsr': frame length 7 is under the header size \\(frame 2, byte offset 88\\)$
3#fs-stat -q -i badver.fsr -o /dev/null#^fs-stat: bad input 'badver.fsr': unknown format version 9 \\(frame 2, byte offset 88\\)$
3#fs-window --tumble 1m -i badver.fsr -o /dev/null#^fs-window: bad input 'badver.fsr': unknown format version 9 \\(frame 2, byte offset 88\\)$
3#fs-score-gpu -m $M --device cpu -i noschema.fsr -o /dev/null#^fs-score-gpu: .*\\(frame 1, byte offset 0
3#fs-ingest -t txn -i bad.csv -o /dev/null#^fs-ingest: bad.csv:3:.*amount
4#fs-cat --connect-timeout 1s -i kafka://127.0.0.1:1/t#^fs-cat: cannot reach Kafka brokers '127.0.0.1:1': 
4#fs-stat --connect-timeout 1s -i kafka://127.0.0.1:1/t#^fs-stat: cannot reach Kafka brokers 
4#fs-window --tumble 1m --connect-timeout 1s -i kafka://127.0.0.1:1/t#^fs-window: cannot reach Kafka brokers 
4#fs-score-gpu -m $M --device cpu --connect-timeout 1s -i kafka://127.0.0.1:1/t#^fs-score-gpu: cannot reach Kafka brokers 
4#fs-ingest -t txn -i kafka://127.0.0.1:1/t#^fs-ingest: cannot open 'kafka://
4#fs-gen -n 1 --connect-timeout 1s -o kafka://127.0.0.1:1/t#^fs-gen: cannot reach Kafka brokers 
0#fs-gen -n 500 | fs-match -q --pattern card-testing | head -c 10 > /dev/null#^$
2#fs-match --bogus#^fs-match: unknown option '--bogus'
2#fs-match --pattern 'A{2' -i good.fsr#^fs-match: --pattern 'A\\{2': expected '}' \\(column 4\\)$
2#fs-match --pattern A --define 'A: nosuch > 1' -i good.fsr#^fs-match: --define 'A: nosuch > 1': no field 'nosuch' in txn records \\(column 4\\); fields: ts_event, 
2#fs-match --pattern A -i good.fsr -o good.fsr#^fs-match: refusing to use 'good.fsr' as an input
1#fs-match --pattern A -i nosuch.fsr#^fs-match: cannot open 'nosuch.fsr': No such file or directory$
3#fs-match --pattern A -i trunc.fsr -o /dev/null#^fs-match: bad input 'trunc.fsr': truncated frame: 12 of 88 bytes at end of input \\(frame 2, byte offset 88\\)$
4#fs-match --pattern A --connect-timeout 1s -i kafka://127.0.0.1:1/t#^fs-match: cannot reach Kafka brokers 
2#fs-replay --bogus#^fs-replay: unknown option '--bogus'
2#fs-replay --types nosuch -i good.fsr#^fs-replay: bad --types: unknown record type 'nosuch'
2#fs-replay -i good.fsr -o good.fsr#^fs-replay: refusing to use 'good.fsr' as an input
1#fs-replay -i nosuch.fsr#^fs-replay: cannot open 'nosuch.fsr': No such file or directory$
1#fs-replay -i dir#^fs-replay: cannot read 'dir'.*: Is a directory$
3#fs-replay -i trunc.fsr -o /dev/null#^fs-replay: bad input 'trunc.fsr': truncated frame: 12 of 88 bytes at end of input \\(frame 2, byte offset 88\\)$
4#fs-replay --connect-timeout 1s -i kafka://127.0.0.1:1/t#^fs-replay: cannot reach Kafka brokers 
EOF_TABLE
)

@test "exit table: every row's status and first message line" {
	fixtures
	local bad=0 n=0 want cmd re err first
	while IFS='#' read -r want cmd re; do
		[ -n "$want" ] || continue
		n=$((n + 1))
		if [[ $cmd == "fs-gen -n 1" ]]; then	# needs a terminal
			command -v script >/dev/null || continue
			got=0
			script -qec "$cmd; exit \$?" /dev/null < /dev/null > err.tty 2>&1 ||
				got=$?
			tr -d '\r' < err.tty > err
		else
			got=0
			timeout 30 sh -c "$cmd" > out 2> err < /dev/null ||
				got=$?
		fi
		# the last tool's message is the one the row is about
		first=$(grep -v '^Try ' err | grep -v ': [0-9]* records (' |
			grep -v ': latency p50' | tail -n 1 || true)
		if [ "$got" -ne "$want" ] || ! [[ $first =~ $re ]]; then
			echo "row $n: $cmd" >&2
			echo "  want $want /$re/, got $got: $(cat err)" >&2
			bad=$((bad + 1))
		fi
		# the form of every message line (finstream(7))
		while IFS= read -r line; do
			[[ $line =~ ^Try\ \'fs-[a-z-]+\ --help\'\ for\ more\ information\.$ ]] && continue
			[[ $line =~ ^fs-[a-z-]+:\ [a-z\'-] ]] && ! [[ $line =~ \.$ ]] && continue
			[[ $line =~ ^fs-(stat|score-gpu):\  ]] && continue	# summaries
			echo "row $n: message not in the form 'fs-TOOL: what: why': $line" >&2
			bad=$((bad + 1))
		done < err
	done <<< "$TABLE"
	echo "# $n rows" >&3
	[ "$bad" -eq 0 ]
}

@test "exit table: every page's EXIT STATUS lists the five statuses of finstream(7)" {
	for p in "$TOP"/man/fs-*.1; do
		got=$(awk '/^\.Sh EXIT STATUS/{on=1; next} /^\.Sh/{on=0}
			   on && /^\.It [0-9]/{printf "%s ", $2}' "$p")
		[ "$got" = "0 1 2 3 4 " ] || {
			echo "$p: EXIT STATUS lists '$got'" >&2; return 1; }
	done
	grep -q '0 success, 1 failure' "$TOP/man/finstream.7"
}

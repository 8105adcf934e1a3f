#!/usr/bin/env bats
# Man pages: mandoc lint, SYNOPSIS against --help, EXAMPLES run as
# written, a page for every tool, EXIT STATUS lists the frozen set.
#
# Examples are taken from what a reader sees: the page's EXAMPLES `.Dl`
# lines are rendered by mandoc (so escapes, quotes and macros come out as
# printed) and each rendered line is run, in order, by bash in a scratch
# directory, with the build's bin first on PATH and a copy of the repo's
# models/ there; a pipeline fails when any stage fails (pipefail), but a
# producer killed by SIGPIPE ("| head") is fine.  A `.Bd -literal`
# display in EXAMPLES whose first line is "# file: NAME" is saved as NAME
# (without that line) first, so later lines can use it.
load helper

# Every page in man/ of a section we install.
pages() {
	ls "$TOP"/man/*.[1578] 2>/dev/null
}

# render PAGE: the page as plain text, no line wrapping.
render() {
	mandoc -Tascii -O width=1000 "$1" | col -bx
}

# section NAME < rendered page: the body lines of section NAME.
section() {
	awk -v s="$1" '$0 == s { f = 1; next } /^[^ ]/ { f = 0 } f'
}

# examples_src PAGE: the source lines of the EXAMPLES section.
examples_src() {
	awk '/^\.Sh / { f = ($0 ~ /^\.Sh "?EXAMPLES"?$/); next } f' "$1"
}

# mini_doc: wrap stdin (mdoc body lines) into a page mandoc renders.
mini_doc() {
	printf '.Dd January 1, 2000\n.Dt X 1\n.Os\n.Sh EXAMPLES\n'
	cat
}

# dl_commands PAGE: each `.Dl` line of EXAMPLES as rendered, one a line.
dl_commands() {
	examples_src "$1" | awk '/^\.Dl / { print; print ".Pp" }' |
		mini_doc | mandoc -Tascii -O width=1000 | col -bx |
		awk 'NR > 1 && /^ / { sub(/^ +/, ""); print }'
}

# save_files PAGE DIR: write each literal display whose first line is
# "# file: NAME" to DIR/NAME, the rest of the display as printed.
save_files() {
	local page=$1 dir=$2 n=0 f name
	examples_src "$page" | awk -v d="$dir/.blk" '
		/^\.Bd -literal/ { n++; f = 1; next }
		/^\.Ed/ { f = 0; next }
		f { print > (d n) }'
	for f in "$dir"/.blk*; do
		[ -e "$f" ] || continue
		mini_doc <"$f" | sed '4a .Bd -literal' >"$f.mdoc"
		echo ".Ed" >>"$f.mdoc"
		mandoc -Tascii -O width=1000 "$f.mdoc" | col -bx |
			awk 'NR > 3' | sed '$d' >"$f.txt"
		name=$(head -1 "$f.txt" | sed -n 's/^ *# file: \([^ ]*\)$/\1/p')
		if [ -n "$name" ]; then
			local ind=$(head -1 "$f.txt" | sed 's/#.*//' | wc -c)
			# Strip the display's indent, drop trailing blank lines.
			cut -c"$ind"- "$f.txt" | sed 1d |
				sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$dir/$name"
			n=$((n + 1))
		fi
		rm -f "$f" "$f.mdoc" "$f.txt"
	done
}

# has_flag TEXT FLAG: FLAG occurs in TEXT as a whole option word.
has_flag() {
	local re="(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|\$)"
	[[ $1 =~ $re ]]
}

# tool_src NAME: the source files of tool NAME (fs-x), none if no tool.
tool_src() {
	local n=${1#fs-}
	ls "$TOP/tools/fs-$n.c" "$TOP/tools/$n"/*.c "$TOP/tools/$n"/*.cu \
		"$TOP/tools/$n"/*.h 2>/dev/null
}

# run_examples PAGE: run the page's examples; skip when a tool they use
# has sources but is not built yet; fail when it does not exist at all.
run_examples() {
	local page=$TOP/man/$1 cmds t missing="" line rc out i=0
	[ -f "$page" ] || skip "no man/$1 yet"
	cmds=$(dl_commands "$page")
	if [ -z "$cmds" ]; then
		echo "man/$1: no .Dl lines in EXAMPLES" >&2
		return 1
	fi
	case $1 in
	*.1) [ -x "$BUILD/bin/${1%.1}" ] || missing="${1%.1}" ;;
	esac
	for t in $(grep -oE '(^|[^A-Za-z0-9_./-])fs-[a-z0-9-]+' <<<"$cmds" |
		grep -oE 'fs-[a-z0-9-]+' | sort -u); do
		[ -x "$BUILD/bin/$t" ] && continue
		if [ -z "$(tool_src "$t")" ]; then
			echo "man/$1: examples use $t, which is no tool" >&2
			return 1
		fi
		missing="$missing $t"
	done
	[ -z "$missing" ] || skip "not built yet:$missing"
	[ -d "$TOP/models" ] && cp -r "$TOP/models" "$T/models"
	save_files "$page" "$T"
	while IFS= read -r line; do
		i=$((i + 1))
		rc=0
		out=$(cd "$T" &&
			timeout 60 bash -o pipefail -c "$line" </dev/null 2>&1) ||
			rc=$?
		# 141: SIGPIPE, a producer cut short by "| head".
		if [ $rc -ne 0 ] && [ $rc -ne 141 ]; then
			echo "man/$1: example $i failed with status $rc:" >&2
			echo "  \$ $line" >&2
			echo "$out" | head -20 | sed 's/^/  /' >&2
			return 1
		fi
	done <<<"$cmds"
}

@test "man: there are pages, and mandoc -Tlint -W warning is clean" {
	local p bad=0 out rc
	[ -n "$(pages)" ]
	for p in $(pages); do
		rc=0
		out=$(mandoc -Tlint -W warning "$p" 2>&1) || rc=$?
		if [ $rc -ne 0 ] || [ -n "$out" ]; then
			echo "$out" >&2
			bad=1
		fi
	done
	[ $bad -eq 0 ]
}

@test "man: every tool has a section 1 page" {
	local bad=0 f name
	for f in "$TOP"/tools/fs-*.c "$TOP"/tools/*/; do
		[ -e "$f" ] || continue
		name=${f%/}
		name=${name##*/}
		name=${name%.c}
		name=fs-${name#fs-}
		if [ ! -f "$TOP/man/$name.1" ]; then
			echo "$name has no man/$name.1" >&2
			bad=1
		fi
	done
	[ $bad -eq 0 ]
}

@test "man: EXIT STATUS lists 0, 1, 2, 3, and 4 where the tool can exit 4" {
	local bad=0 p name st n need re
	for p in "$TOP"/man/*.[18]; do
		[ -f "$p" ] || continue
		name=${p##*/}
		name=${name%.*}
		st=$(render "$p" | section "EXIT STATUS")
		need="0 1 2 3"
		# 4: a service or device unavailable; every endpoint opener
		# exits 4 for a kafka:// URI this build cannot serve.
		if [ -n "$(tool_src "$name")" ] &&
			grep -qE 'FS_EXIT_UNAVAIL|fs_(reader|writer)_open' \
				$(tool_src "$name"); then
			need="$need 4"
		fi
		for n in $need; do
			re="(^|"$'\n'") +$n( |"$'\n'"|\$)"
			if ! [[ $st =~ $re ]]; then
				echo "${p##*/}: EXIT STATUS does not list $n" >&2
				bad=1
			fi
		done
	done
	[ $bad -eq 0 ]
}

@test "man: SYNOPSIS options are in --help, --help's long options in the page" {
	local bad=0 p name syn page help f rc checked=0
	for p in "$TOP"/man/fs-*.1; do
		[ -f "$p" ] || continue
		name=${p##*/}
		name=${name%.1}
		[ -x "$BUILD/bin/$name" ] || continue
		checked=$((checked + 1))
		page=$(render "$p")
		syn=$(section SYNOPSIS <<<"$page")
		rc=0
		help=$(timeout 10 "$BUILD/bin/$name" --help 2>&1) || rc=$?
		if [ $rc -ne 0 ]; then
			echo "$name --help did not exit 0" >&2
			bad=1
			continue
		fi
		for f in $(grep -oE '(^|[][ |(])--?[A-Za-z0-9][A-Za-z0-9-]*' \
			<<<"$syn" | grep -oE -- '--?[A-Za-z0-9-]+' | sort -u); do
			if ! has_flag "$help" "$f"; then
				echo "$name: $f is in the SYNOPSIS, not in --help" >&2
				bad=1
			fi
		done
		for f in $(grep -oE -- '(^|[^A-Za-z0-9-])--[a-z][a-z0-9-]*' \
			<<<"$help" | grep -oE -- '--[a-z0-9-]+' | sort -u); do
			if ! has_flag "$page" "$f"; then
				echo "$name: $f is in --help, not in the page" >&2
				bad=1
			fi
		done
	done
	[ $checked -gt 0 ] || skip "no tool with a page is built yet"
	[ $bad -eq 0 ]
}

@test "man: example runner runs rendered lines and saves files" {
	# The runner itself: a page whose examples must fail is caught.
	mkdir -p "$T/man"
	cat >"$T/man/x.7" <<-'EOF'
	.Dd January 1, 2000
	.Dt X 7
	.Os
	.Sh NAME
	.Nm x
	.Nd x
	.Sh EXAMPLES
	.Bd -literal
	# file: hello.sh
	printf \(aq%s\en\(aq "a\e\eb"
	.Ed
	.Dl bash hello.sh | grep \-qF \(aqa\eb\(aq
	.Dl printf \(aq\exff\(aq | od \-A n \-t x1 | grep \-q ff
	.Dl false
	EOF
	run dl_commands "$T/man/x.7"
	assert_status 0
	[ "${lines[0]}" = "bash hello.sh | grep -qF 'a\\b'" ]
	[ "${lines[1]}" = "printf '\\xff' | od -A n -t x1 | grep -q ff" ]
	[ "${lines[2]}" = "false" ]
	save_files "$T/man/x.7" "$T"
	[ "$(cat "$T/hello.sh")" = "printf '%s\\n' \"a\\\\b\"" ]
	TOP=$T run run_examples x.7
	[ "$status" -ne 0 ]
	[[ $output =~ "example 3 failed" ]]
}

@test "examples: fs-record.5" {
	run_examples fs-record.5
}

@test "examples: finstream.7" {
	run_examples finstream.7
}

@test "examples: fs-archive.1" {
	run_examples fs-archive.1
}

@test "examples: fs-gen.1" {
	run_examples fs-gen.1
}

@test "examples: fs-ingest.1" {
	run_examples fs-ingest.1
}

@test "examples: fs-cat.1" {
	run_examples fs-cat.1
}

@test "examples: fs-stat.1" {
	run_examples fs-stat.1
}

@test "examples: fs-window.1" {
	run_examples fs-window.1
}

@test "examples: fs-score-gpu.1" {
	run_examples fs-score-gpu.1
}

@test "examples: every other page" {
	local p n out bad=0
	for p in $(pages); do
		n=${p##*/}
		case $n in
		fs-record.5 | finstream.7 | fs-gen.1 | fs-ingest.1 | \
		fs-cat.1 | fs-stat.1 | fs-window.1 | fs-score-gpu.1)
			continue ;;
		esac
		rm -rf "$T/run" && mkdir "$T/run"
		if ! out=$(T=$T/run; cd "$T" && run_examples "$n" 2>&1); then
			echo "$out" >&2
			bad=1
		fi
	done
	[ $bad -eq 0 ]
}

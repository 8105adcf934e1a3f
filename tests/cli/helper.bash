# Loaded by every bats file: `load helper`.
# Puts the tools under test first on PATH and gives each test a scratch
# directory ($T) that bats removes afterwards.
TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BUILD=${B:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
PATH=$BUILD/bin:$PATH
export PATH TOP BUILD

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
}

# run_t SECONDS CMD...: run with a time limit, so a hang fails the test.
run_t() {
	local s=$1; shift
	run timeout "$s" "$@"
}

# assert_status N: check $status, printing the output on mismatch.
assert_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected status $1, got $status; output:" >&2
		echo "$output" >&2
		return 1
	fi
}

# assert_match REGEX: $output matches REGEX.
assert_match() {
	if ! [[ $output =~ $1 ]]; then
		echo "output does not match /$1/:" >&2
		echo "$output" >&2
		return 1
	fi
}

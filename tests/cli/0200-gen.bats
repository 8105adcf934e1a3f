#!/usr/bin/env bats
# fs-gen: options, exact counts, determinism, each kind's invariants
# (checked by an independent frame reader in Python), disorder and
# watermarks, fraud labels, pacing, and quiet ends.
load helper

# chk.py FILE [KIND]: read FILE's frames and check every invariant we
# know; prints "key=value" facts for the test to assert on.
write_checker() {
	cat >"$T/chk.py" <<-'EOF'
	import struct, sys, collections
	SIZES = {1: 104, 2: 88, 3: 80, 4: 88, 5: 88, 6: 88, 7: 128, 0x100: 40}
	TICK = 1000000
	def fnv(b):
	    h = 0xcbf29ce484222325
	    for c in b:
	        h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
	    return h
	def code(b):
	    return b.split(b'\0')[0]
	def fail(msg):
	    print('FAIL ' + msg)
	    sys.exit(1)
	data = open(sys.argv[1], 'rb').read()
	off = n = wm = 0
	last_wm = None
	maxts = None
	ooo = ooo_max = 0
	seq = 0
	live = {}
	books = collections.defaultdict(dict)
	labels = collections.Counter()
	seen = collections.defaultdict(set)
	newm = collections.Counter()
	types = set()
	last = None
	while off < len(data):
	    if off + 40 > len(data):
	        fail('truncated header at %d' % off)
	    ln, typ, ver, fl, tse, tsi, key, sq = \
	        struct.unpack_from('<IHBBqqQQ', data, off)
	    body = data[off + 40:off + 4 + ln]
	    if ver != 1 or ln + 4 != SIZES.get(typ, -1):
	        fail('bad frame at %d: type %d len %d' % (off, typ, ln))
	    if off + ln + 4 > len(data):
	        fail('truncated frame at %d' % off)
	    if sq != seq:
	        fail('seq %d, want %d' % (sq, seq))
	    seq += 1
	    off += ln + 4
	    if typ == 0x100:
	        if fl != 1:
	            fail('watermark without the control flag')
	        if last_wm is not None and tse < last_wm:
	            fail('watermark goes back')
	        last_wm = tse
	        wm += 1
	        continue
	    if fl != 0:
	        fail('data record with flags %d' % fl)
	    types.add(typ)
	    n += 1
	    if last_wm is not None and tse < last_wm:
	        fail('record %d at %d is below watermark %d' %
	             (n, tse, last_wm))
	    if maxts is not None and tse < maxts:
	        ooo += 1
	        ooo_max = max(ooo_max, maxts - tse)
	    maxts = tse if maxts is None else max(maxts, tse)
	    if typ == 5:
	        a, m, dev, amt, mcc, ch, lab, ctry, cur, pad = \
	            struct.unpack('<QQQqHBB4s4s4s', body)
	        if key != a or amt <= 0 or ch > 3 or lab > 1 or \
	                pad != b'\0' * 4:
	            fail('bad txn %r' % ((key, a, amt, ch, lab),))
	        if len(code(ctry)) != 2 or len(code(cur)) != 3:
	            fail('bad country/currency %r %r' % (ctry, cur))
	        if amt % 1000000:
	            fail('amount not in cents: %d' % amt)
	        labels[lab] += 1
	        if m not in seen[a]:
	            newm[lab] += 1
	        seen[a].add(m)
	    elif typ in (1, 2, 3, 4, 7):
	        if key != fnv(code(body[:12])) or not code(body[:12]).isalpha():
	            fail('bad symbol key %r' % body[:12])
	    if typ == 1:
	        sym, side, price, qty, tid, venue, acct, oid = \
	            struct.unpack('<12sc3xqqQ8sQQ', body)
	        if side not in b'BS' or price <= 0 or price % TICK or qty <= 0 \
	                or not code(venue):
	            fail('bad trade %r' % ((side, price, qty, tid),))
	        # a fill follows the order it fills; other trades have none
	        if acct and (not last or (sym, side, acct) != last[:3]
	                     or not 0 < qty <= last[3]):
	            fail('fill %r of no order %r' % ((sym, side, acct), last))
	        if not acct and tid != n:
	            fail('trade id %d, want %d' % (tid, n))
	        last = None
	    elif typ == 4:
	        sym, side, ot, oid, acct, price, qty = \
	            struct.unpack('<12sccxxQQqq', body)
	        if side not in b'BS' or ot not in b'LM' or qty <= 0 \
	                or not 1 <= acct <= 500 or (ot == b'M') != (price == 0) \
	                or price < 0 or price % TICK:
	            fail('bad order %r' % ((side, ot, acct, price, qty),))
	        last = (sym, side, acct, qty)
	    elif typ == 2:
	        sym, bid, ask, bs, asz = struct.unpack('<12s4xqqqq', body)
	        if not 0 < bid < ask or bid % TICK or ask % TICK \
	                or bs <= 0 or asz <= 0:
	            fail('bad quote %r' % ((bid, ask, bs, asz),))
	    elif typ == 3:
	        sym, act, side, oid, price, qty = \
	            struct.unpack('<12sccxxQqq', body)
	        book = books[sym]
	        if act == b'A':
	            if oid in live or qty <= 0 or price <= 0:
	                fail('bad add of order %d' % oid)
	            live[oid] = (sym, side, price)
	            book[oid] = (side, price)
	        elif act in (b'M', b'D'):
	            if live.get(oid) != (sym, side, price):
	                fail('%r of order %d, not live as that' % (act, oid))
	            if act == b'D':
	                del live[oid], book[oid]
	            elif qty <= 0:
	                fail('modify to qty %d' % qty)
	        else:
	            fail('bad action %r' % act)
	        bids = [p for s, p in book.values() if s == b'B']
	        asks = [p for s, p in book.values() if s == b'S']
	        if bids and asks and max(bids) >= min(asks):
	            fail('crossed book for %r' % sym)
	    elif typ == 6:
	        sym, port, qty, price, cur = \
	            struct.unpack('<12s4xQqq4s4x', body)
	        if port != key or price <= 0 or price % TICK or cur != b'USD\0':
	            fail('bad position %r' % ((port, key, price, cur),))
	    elif typ == 7:
	        (sym, ws, we, o, h, l, c, vol, vwap, cnt) = \
	            struct.unpack('<12s4xqqqqqqqqQ', body)
	        if we - ws != 60 * 10**9 or h < max(o, c) or l > min(o, c) \
	                or not l <= vwap <= h or vol <= 0 or cnt <= 0 or l <= 0:
	            fail('bad bar %r' % ((ws, we, o, h, l, c, vwap, vol),))
	if len(sys.argv) > 2 and types != set(map(int, sys.argv[2].split(','))):
	    fail('types %r' % types)
	print('records=%d' % n)
	print('watermarks=%d' % wm)
	print('out_of_order=%d' % ooo)
	print('max_back_ns=%d' % ooo_max)
	print('fraud=%d' % labels[1])
	if labels[1]:
	    print('fraud_new_merchant=%.3f' % (newm[1] / labels[1]))
	if labels[0]:
	    print('normal_new_merchant=%.3f' % (newm[0] / labels[0]))
	print('ok')
	EOF
}

# fact NAME: the value of NAME=... in $output.
fact() {
	sed -n "s/^$1=//p" <<<"$output"
}

@test "fs-gen: --help and --version" {
	run_t 10 fs-gen --help
	assert_status 0
	assert_match "usage: fs-gen"
	assert_match "--fixed-ingest"
	run_t 10 fs-gen -h
	assert_status 0
	run_t 10 fs-gen --version
	assert_status 0
	assert_match "fs-gen"
}

@test "fs-gen: usage errors exit 2 with one line and a hint" {
	local args
	for args in "--kind foo" "-n abc" "-n -5" "-n 1.5" "--duration xyz" \
		"--disorder -1s" "--fraud-rate 0.9" "--rate fast" "--keys 0" \
		"--symbols 0" "--event-rate 0" "--start yesterday" "--bogus" \
		"--duration" "extra"; do
		run_t 10 fs-gen $args
		if [ "$status" -ne 2 ]; then
			echo "fs-gen $args: status $status" >&2
			return 1
		fi
		assert_match "^fs-gen: "
		assert_match "Try 'fs-gen --help'"
	done
}

@test "fs-gen: -n writes exactly that many records, of the right size" {
	write_checker
	fs-gen -n 1000 >out.fsr
	run python3 chk.py out.fsr 5
	assert_status 0
	[ "$(fact records)" = 1000 ]
	# -n 0: nothing at all.
	fs-gen -n 0 >zero.fsr
	[ ! -s zero.fsr ]
	# suffixes
	fs-gen -n 2k --watermark-interval 0 >k.fsr
	[ "$(stat -c %s k.fsr)" = $((2000 * 88)) ]
}

@test "fs-gen: same seed same bytes with --fixed-ingest; seeds differ" {
	fs-gen -n 20000 --seed 7 --fixed-ingest --fraud-rate 0.01 >a.fsr
	fs-gen -n 20000 --seed 7 --fixed-ingest --fraud-rate 0.01 >b.fsr
	cmp a.fsr b.fsr
	fs-gen -n 20000 --seed 8 --fixed-ingest --fraud-rate 0.01 >c.fsr
	! cmp -s a.fsr c.fsr
	# Without --fixed-ingest only ts_ingest (bytes 16-23) differs.
	fs-gen -n 20000 --seed 7 --fraud-rate 0.01 >d.fsr
	run python3 - <<-'EOF'
	import struct
	a = open('a.fsr', 'rb').read()
	d = open('d.fsr', 'rb').read()
	assert len(a) == len(d), (len(a), len(d))
	same, off = True, 0
	while off < len(a):
	    end = off + 4 + struct.unpack_from('<I', a, off)[0]
	    if a[off:off + 16] != d[off:off + 16] or \
	            a[off + 24:end] != d[off + 24:end]:
	        same = False
	    off = end
	print('same' if same else 'differ')
	EOF
	assert_status 0
	[ "$output" = same ]
	for k in trade quote book position bar order; do
		fs-gen --kind $k -n 5000 --fixed-ingest >x1.fsr
		fs-gen --kind $k -n 5000 --fixed-ingest >x2.fsr
		cmp x1.fsr x2.fsr
	done
}

@test "fs-gen: every kind writes valid frames with sane values" {
	write_checker
	local k t
	for kt in txn:5 trade:1 quote:2 book:3 position:6 bar:7 order:4,1; do
		k=${kt%:*}
		t=${kt#*:}
		fs-gen --kind $k -n 10000 --symbols 20 --keys 500 >$k.fsr
		run python3 chk.py $k.fsr $t
		if [ "$status" -ne 0 ]; then
			echo "kind $k: $output" >&2
			return 1
		fi
		[ "$(fact records)" = 10000 ]
		[ "$(fact out_of_order)" = 0 ]
	done
}

@test "fs-gen: book deletes and modifies refer to live orders only" {
	write_checker
	# Few symbols, many updates: the book churns through its limits.
	fs-gen --kind book --symbols 3 -n 50000 --seed 3 >book.fsr
	run python3 chk.py book.fsr 3
	assert_status 0
	run python3 - <<-'EOF'
	import struct, collections
	d = open('book.fsr', 'rb').read()
	c = collections.Counter()
	off = 0
	while off < len(d):
	    ln, typ = struct.unpack_from('<IH', d, off)
	    if typ == 3:
	        c[d[off + 52:off + 53]] += 1
	    off += ln + 4
	print(c[b'A'], c[b'M'], c[b'D'])
	assert c[b'M'] > 5000 and c[b'D'] > 5000
	EOF
	assert_status 0
}

@test "fs-gen: disorder stays within D and watermarks are never passed" {
	write_checker
	fs-gen --kind trade -n 30000 --disorder 2s --event-rate 10000 \
		--watermark-interval 100ms >dis.fsr
	run python3 chk.py dis.fsr 1
	assert_status 0
	[ "$(fact out_of_order)" -gt 1000 ]
	[ "$(fact max_back_ns)" -le 2000000000 ]
	[ "$(fact max_back_ns)" -gt 1000000000 ]
	# 3 s of event time, a watermark every 100 ms
	[ "$(fact watermarks)" -ge 26 ]
	[ "$(fact watermarks)" -le 31 ]
	# txn with disorder too (fraud events come from a queue)
	fs-gen -n 20000 --disorder 500ms --fraud-rate 0.05 >dtx.fsr
	run python3 chk.py dtx.fsr 5
	assert_status 0
	[ "$(fact max_back_ns)" -le 500000000 ]
	# no watermarks with interval 0
	fs-gen -n 5000 --watermark-interval 0 >nowm.fsr
	run python3 chk.py nowm.fsr 5
	assert_status 0
	[ "$(fact watermarks)" = 0 ]
}

@test "fs-gen: --start sets the event time" {
	fs-gen -n 10 --start 2025-03-01T12:00:00Z --fixed-ingest >s.fsr
	run python3 -c "
import struct
d = open('s.fsr', 'rb').read()
print(struct.unpack_from('<q', d, 8)[0])"
	assert_status 0
	# 2025-03-01T12:00:00Z, the first record is at the start
	[ "$output" = 1740830400000000000 ]
}

@test "fs-gen: fraud comes at the asked rate, labelled, catchable" {
	write_checker
	fs-gen -n 100000 --fraud-rate 0.02 --event-rate 10 --keys 500 \
		--seed 5 >f.fsr
	run python3 chk.py f.fsr 5
	assert_status 0
	local fr=$(fact fraud)
	echo "fraud $fr of 100000" >&2
	[ "$fr" -ge 1400 ]
	[ "$fr" -le 2600 ]
	# Fraud is at merchants new to the account far more often.
	run python3 -c "
fr, nm = $(fact fraud_new_merchant), $(fact normal_new_merchant)
assert fr > 0.9 and nm < 0.5 and fr > 2 * nm, (fr, nm)"
	assert_status 0
	fs-gen -n 20000 --fraud-rate 0 >nf.fsr
	run python3 chk.py nf.fsr 5
	assert_status 0
	[ "$(fact fraud)" = 0 ]
}

@test "fs-gen: --rate paces the output, --duration stops it" {
	local t0 t1
	t0=$(date +%s%N)
	run_t 10 fs-gen -n 2000 --rate 10000 -o r.fsr
	assert_status 0
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -ge 150 ]
	[ "$(stat -c %s r.fsr)" -ge $((2000 * 88)) ]
	run_t 10 fs-gen --rate 10k --duration 300ms -o d.fsr
	assert_status 0
	local n=$(($(stat -c %s d.fsr) / 88))
	echo "records in 300ms at 10k/s: $n" >&2
	[ "$n" -ge 1500 ]
	[ "$n" -le 4000 ]
}

@test "fs-gen: a closed stdout ends it quietly" {
	run_t 10 bash -c 'fs-gen 2>err | head -c 100 >/dev/null;
		echo "${PIPESTATUS[0]}"; cat err'
	assert_status 0
	[ "$output" = 0 ]
}

@test "fs-gen: SIGINT flushes whole records and exits 0" {
	write_checker
	fs-gen --rate 5000 >int.fsr &
	local pid=$!
	sleep 0.4
	kill -INT $pid
	local rc=0
	wait $pid || rc=$?
	[ "$rc" = 0 ]
	run python3 chk.py int.fsr 5
	assert_status 0
	[ "$(fact records)" -gt 100 ]
}

@test "fs-gen: --metrics writes the record counter" {
	fs-gen -n 1234 --metrics m.prom >/dev/null
	run grep '^fs_gen_records_total' m.prom
	assert_status 0
	assert_match " 1234$"
}

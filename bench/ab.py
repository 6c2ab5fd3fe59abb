#!/usr/bin/env python3
# ab.py BENCH ROUNDS ITERS LABEL=BIN [LABEL=BIN...]
#
# A contender given as LABEL=BIN@BENCH runs BENCH instead (scalekit vs a
# peer in one binary: s=/tmp/b.test@'X/scalekit$' p=/tmp/b.test@'X/peer$').
#
# Before/after measurement of one change: build the test binary of the
# package at both commits (go test -c -o /tmp/before.test ./lb, …), then
#   python3 bench/ab.py 'BenchmarkPick$/P2CEWMA$' 7 10000000 before=/tmp/before.test after=/tmp/after.test
# Runs each binary's benchmark BENCH (one exact sub-benchmark) with a fixed
# iteration count, alternating binaries every round (order reversed on odd
# rounds). Reports wall ns/op (from the benchmark) and CPU ns/op (child
# utime+stime from wait4, minus a 1-iteration run's), median [min-max], and
# the per-round ratio of every binary to the first.
import subprocess, sys, re, statistics, os, collections
bench, rounds, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bins = [a.split("=", 1) for a in sys.argv[4:]]
def run(binp, n):
    # BIN@BENCH overrides BENCH for this contender (peers in one binary).
    binp, _, b = binp.partition("@")
    p = subprocess.Popen([binp, "-test.run", "^$", "-test.bench", b or bench, "-test.benchmem", "-test.count", "1", "-test.benchtime", f"{n}x"], stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    cpu = ru.ru_utime + ru.ru_stime
    wall = allocs = None
    for line in out.splitlines():
        m = re.match(r"^Benchmark\S+\s+\d+\s+([\d.]+) ns/op", line)
        if m:
            wall = float(m.group(1)); allocs = line.split("B/op")[-1].strip() if "B/op" in line else ""
    return wall, cpu, allocs
base = {lab: statistics.median([run(b, 1)[1] for _ in range(3)]) for lab, b in bins}
wall, cpu = collections.defaultdict(list), collections.defaultdict(list)
allocs = {}
for r in range(rounds):
    order = bins if r % 2 == 0 else bins[::-1]
    for lab, b in order:
        w, c, a = run(b, iters)
        wall[lab].append(w); cpu[lab].append((c - base[lab]) * 1e9 / iters); allocs[lab] = a
def s(v): return f"{statistics.median(v):.1f} [{min(v):.1f}-{max(v):.1f}]"
print(f"{bench}: {rounds} interleaved rounds x {iters} iterations")
ref = bins[0][0]
for lab, _ in bins:
    line = f"  {lab}: wall ns/op {s(wall[lab])}; CPU ns/op {s(cpu[lab])}; {allocs[lab]}"
    if lab != ref:
        rw = sorted(a / b for a, b in zip(wall[lab], wall[ref])); rc = sorted(a / b for a, b in zip(cpu[lab], cpu[ref]))
        line += f"; /{ref}: wall {statistics.median(rw):.2f} [{rw[0]:.2f}-{rw[-1]:.2f}], CPU {statistics.median(rc):.2f} [{rc[0]:.2f}-{rc[-1]:.2f}]"
    print(line)

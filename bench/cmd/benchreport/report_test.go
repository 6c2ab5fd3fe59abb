package main

import (
	"bytes"
	"strings"
	"testing"
)

const sampleOut = `goos: linux
BenchmarkCmpX/scalekit-2   	1000	  50.0 ns/op	   0 B/op	   0 allocs/op
BenchmarkCmpX/peer-2       	1000	 100.0 ns/op	  16 B/op	   1 allocs/op
BenchmarkCmpY/scalekit-2   	1000	 300.0 ns/op	  99.5 hit%
BenchmarkCmpY/peer-2       	1000	 100.0 ns/op	  90.0 hit%
BenchmarkAlone-2           	1000	  10.0 ns/op
`

func TestCompareRatiosPerRound(t *testing.T) {
	var s []sample
	s = append(s, parse(strings.NewReader(sampleOut), 0)...)
	s = append(s, parse(strings.NewReader(strings.ReplaceAll(sampleOut, " 50.0 ns/op", " 80.0 ns/op")), 1)...)
	cmps := compare(s)
	if len(cmps) != 2 {
		t.Fatalf("got %d comparisons, want 2", len(cmps))
	}
	x := cmps[0]
	if x.Base != "scalekit" || len(x.Peers) != 1 || x.Peers[0] != "peer" {
		t.Fatalf("base %q peers %v", x.Base, x.Peers)
	}
	r := summarize(x.Ratios["peer"])
	if r.Min != 0.5 || r.Max != 0.8 || r.Median != 0.65 {
		t.Fatalf("ratio stats %+v, want median 0.65 in [0.5, 0.8]", r)
	}
	var md bytes.Buffer
	markdown(&md, cmps, 2)
	if !strings.Contains(md.String(), "| CmpY | scalekit | peer | 300 | 100 | 3.00× [3.00–3.00]") ||
		!strings.Contains(md.String(), "**slower**") {
		t.Fatalf("markdown:\n%s", md.String())
	}
	if !strings.Contains(md.String(), "| CmpY | scalekit | hit% | 99.5") {
		t.Fatalf("custom metric missing:\n%s", md.String())
	}
	var sv bytes.Buffer
	svg(&sv, "t", cmps)
	if !strings.HasPrefix(sv.String(), "<svg") || strings.Count(sv.String(), "<rect") != 3 {
		t.Fatalf("svg: %s", sv.String())
	}
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{"BenchmarkA/b-2": "BenchmarkA/b", "BenchmarkA/x-y": "BenchmarkA/x-y", "BenchmarkA": "BenchmarkA"} {
		if got := trimProcs(in); got != want {
			t.Errorf("trimProcs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQueueSVG(t *testing.T) {
	const out = `BenchmarkCmpQueueRedis/scalekit-2   	1000	 20000 ns/op	 50000 msgs/s
BenchmarkCmpQueueRedis/raw-2        	1000	 10000 ns/op	100000 msgs/s
BenchmarkCmpQueueRiver/workers=16/scalekit-2 	1000	 30000 ns/op	 33333 jobs/s
BenchmarkCmpQueueRiver/workers=16/river-2    	1000	150000 ns/op	  6666 jobs/s
BenchmarkCmpQueueRiverInsert/scalekit-2   	1000	  50.0 ns/op	 20000000 jobs/s
BenchmarkCmpQueueRiverInsert/river-2      	1000	 100.0 ns/op	 10000000 jobs/s
BenchmarkCmpX/scalekit-2   	1000	  50.0 ns/op
BenchmarkCmpX/peer-2       	1000	 100.0 ns/op
`
	cmps := compare(parse(strings.NewReader(out), 0))
	bars := queueBars(cmps)
	if len(bars) != 4 || !bars[0].base || bars[1].base || bars[2].group != "River/workers=16" || bars[3].contender != "river" {
		t.Fatalf("bars %+v", bars)
	}
	if bars[1].s.Median != 100000 || bars[3].s.Median != 6666 {
		t.Fatalf("throughput %+v", bars)
	}
	var sv bytes.Buffer
	if !queueSVG(&sv, cmps) || !strings.HasPrefix(sv.String(), "<svg") || strings.Count(sv.String(), "<rect") != 5 ||
		!strings.Contains(sv.String(), "River/workers=16 · river") || !strings.Contains(sv.String(), "100.0k/s") {
		t.Fatalf("svg: %s", sv.String())
	}
	sv.Reset()
	if queueSVG(&sv, compare(parse(strings.NewReader(sampleOut), 0))) || sv.Len() != 0 {
		t.Fatalf("queueSVG without queue rows wrote %q", sv.String())
	}
}

func TestLBSimSVG(t *testing.T) {
	const out = `BenchmarkCmpLBSim/scalekit-p2c-ewma-2   	1	 60000000 ns/op	0.05 err-%	10.0 p50-ms	 82.5 p99-ms
BenchmarkCmpLBSim/round-robin-2         	1	 70000000 ns/op	1.95 err-%	10.3 p50-ms	146.6 p99-ms
BenchmarkCmpLBSim/least-conn-2          	1	 60000000 ns/op	2.69 err-%	 9.9 p50-ms	102.9 p99-ms
`
	s := parse(strings.NewReader(out), 0)
	s = append(s, parse(strings.NewReader(strings.ReplaceAll(out, "146.6 p99-ms", "150.0 p99-ms")), 1)...)
	cmps := compare(s)
	bars, errs := lbsimBars(cmps)
	if len(bars) != 3 || !bars[0].base || bars[1].base || bars[1].contender != "round-robin" {
		t.Fatalf("bars %+v", bars)
	}
	if bars[1].s.Median != 148.3 || bars[1].s.Max != 150 || errs[2].Median != 2.69 {
		t.Fatalf("p99 %+v errs %+v", bars, errs)
	}
	var sv bytes.Buffer
	if !lbsimSVG(&sv, cmps) || !strings.HasPrefix(sv.String(), "<svg") || strings.Count(sv.String(), "<rect") != 4 ||
		!strings.Contains(sv.String(), "148 ms · err 1.95%") || !strings.Contains(sv.String(), "#1c7ed6") {
		t.Fatalf("svg: %s", sv.String())
	}
	sv.Reset()
	if lbsimSVG(&sv, compare(parse(strings.NewReader(sampleOut), 0))) || sv.Len() != 0 {
		t.Fatalf("lbsimSVG without lbsim rows wrote %q", sv.String())
	}
}

func TestHitRatioSVG(t *testing.T) {
	const out = `BenchmarkCmpHitRatio/zipf0.99/cap=10%/scalekit-s3fifo-2 	1	1 ns/op	74.8 hit%
BenchmarkCmpHitRatio/zipf0.99/cap=10%/otter-2           	1	1 ns/op	73.2 hit%
BenchmarkCmpHitRatio/zipf0.99/cap=0.1%/scalekit-s3fifo-2 	1	1 ns/op	48.7 hit%
BenchmarkCmpHitRatio/zipf0.99/cap=0.1%/otter-2          	1	1 ns/op	47.6 hit%
BenchmarkCmpHitRatio/loop/cap=1%/scalekit-s3fifo-2      	1	1 ns/op	59.4 hit%
BenchmarkCmpHitRatio/loop/cap=1%/otter-2                	1	1 ns/op	0 hit%
BenchmarkCmpX/scalekit-2   	1000	  50.0 ns/op
BenchmarkCmpX/peer-2       	1000	 100.0 ns/op
`
	cmps := compare(parse(strings.NewReader(out), 0))
	pts := hitPoints(cmps)
	if len(pts) != 6 || pts[0].trace != "zipf0.99" || pts[0].capacity != 10 || !pts[0].base ||
		pts[3].capacity != 0.1 || pts[3].contender != "otter" || pts[5].s.Median != 0 {
		t.Fatalf("points %+v", pts)
	}
	var sv bytes.Buffer
	if !hitRatioSVG(&sv, cmps) {
		t.Fatal("no chart")
	}
	got := sv.String()
	// Two panels; zipf0.99 has a two-point line per contender, loop a
	// single point (no polyline).
	if !strings.HasPrefix(got, "<svg") || strings.Count(got, "<polyline") != 2 || strings.Count(got, "<circle") != 6 ||
		!strings.Contains(got, ">zipf0.99<") || !strings.Contains(got, ">loop<") || !strings.Contains(got, ">0.1%<") {
		t.Fatalf("svg: %s", got)
	}
	// Capacities ordered: 0.1% left of 10% in the zipf0.99 panel.
	if strings.Index(got, ">0.1%<") > strings.Index(got, ">10%<") {
		t.Fatalf("capacities out of order: %s", got)
	}
	sv.Reset()
	if hitRatioSVG(&sv, compare(parse(strings.NewReader(sampleOut), 0))) || sv.Len() != 0 {
		t.Fatalf("hitRatioSVG without hit-ratio rows wrote %q", sv.String())
	}
}

// The simulation's ns/op is not compared: its rows appear only among the
// metrics.
func TestLBSimNotInRatios(t *testing.T) {
	const out = `BenchmarkCmpLBSim/scalekit-p2c-ewma-2   	1	 60000000 ns/op	0.05 err-%	10.0 p50-ms	 82.5 p99-ms
BenchmarkCmpLBSim/round-robin-2         	1	 70000000 ns/op	1.95 err-%	10.3 p50-ms	146.6 p99-ms
`
	cmps := compare(parse(strings.NewReader(out), 0))
	var md, sv strings.Builder
	markdown(&md, cmps, 1)
	svg(&sv, "t", cmps)
	if strings.Contains(sv.String(), "LBSim") {
		t.Error("ratios.svg has a bar for the simulation's ns/op")
	}
	if !strings.Contains(md.String(), "p99-ms") || strings.Contains(md.String(), "| CmpLBSim | scalekit-p2c-ewma | round-robin |") {
		t.Errorf("results.md: want the simulation's metrics and no ns/op ratio row:\n%s", md.String())
	}
}

package lb_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

// The simulation (lbtest.Simulate): 10 endpoints, one 10× slower, one
// failing 20 % of its calls, 400 requests/s for 120 s of virtual time.
// Here the pickers' random draws are seeded too (lb.SetRandForTest), so a
// run is fully deterministic.

type simResult struct {
	name string
	lbtest.SimResult
}

func simulate(tb testing.TB, name string, policy lb.Policy, outlier *lb.OutlierOptions, seed uint64) simResult {
	restore := lb.SetRandForTest(rand.New(rand.NewPCG(seed, 1)))
	defer restore()
	r, err := lbtest.Simulate(policy, outlier, lbtest.SimOptions{Seed: seed})
	if err != nil {
		tb.Fatal(err)
	}
	return simResult{name, r}
}

// simEjection is outlier detection as the simulation runs it.
var simEjection = lbtest.SimEjection

type simCase struct {
	name    string
	policy  lb.Policy
	outlier *lb.OutlierOptions
}

func simCases() []simCase {
	return []simCase{
		{"round-robin", lb.RoundRobin(), nil},
		{"round-robin+ejection", lb.RoundRobin(), simEjection},
		{"least-conn", lb.LeastConn(nil), nil},
		{"least-conn+ejection", lb.LeastConn(nil), simEjection},
		// The default LeastResponseTime: power of two choices at any size.
		{"p2c-ewma", lb.LeastResponseTime(nil), nil},
		{"p2c-ewma+ejection", lb.LeastResponseTime(nil), simEjection},
		// The same cost scanned over all 10 endpoints (the default before
		// P2C became the default at every size).
		{"ewma-exact+ejection", lb.LeastResponseTime(&lb.LoadOptions{ExactBelow: 16}), simEjection},
	}
}

// TestSimulation checks the claim of the README table: P2C over peak-EWMA
// latency with ejection cuts p99 latency and errors versus round robin.
// Run with -v to print the table.
func TestSimulation(t *testing.T) {
	res := map[string]simResult{}
	var table strings.Builder
	fmt.Fprintf(&table, "| policy | p50 | p99 | errors | slow endpoint share | flaky endpoint share | ejections |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range simCases() {
		r := simulate(t, c.name, c.policy, c.outlier, 42)
		res[c.name] = r
		fmt.Fprintf(&table, "| %s | %.1f ms | %.1f ms | %.2f%% | %.1f%% | %.1f%% | %d |\n", r.name,
			ms(r.P50), ms(r.P99), 100*r.ErrRate, 100*r.SlowShare, 100*r.FlakyShare, r.Ejections)
	}
	rr, p2c := res["round-robin"], res["p2c-ewma+ejection"]
	t.Logf("%d requests per run\n%s\np99 round-robin / p2c-ewma+ejection = %.1f×", rr.Requests, table.String(), ms(rr.P99)/ms(p2c.P99))
	if p2c.P99*2 > rr.P99 {
		t.Errorf("p2c-ewma+ejection p99 %v is not under half of round robin's %v", p2c.P99, rr.P99)
	}
	if p2c.ErrRate >= rr.ErrRate/2 {
		t.Errorf("p2c-ewma+ejection error rate %.3f not under half of round robin's %.3f", p2c.ErrRate, rr.ErrRate)
	}
	// Deterministic: the same seed gives the same figures.
	if again := simulate(t, "p2c-ewma+ejection", lb.LeastResponseTime(nil), simEjection, 42); again != p2c {
		t.Errorf("two runs with one seed differ: %+v vs %+v", again, p2c)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSimulation reports p50/p99 latency (ms) and the error rate (%)
// of each policy in the simulation (seed 42, the figures of
// TestSimulation), and the cost of simulating 120 s of traffic.
func BenchmarkSimulation(b *testing.B) {
	for _, c := range simCases() {
		b.Run(c.name, func(b *testing.B) {
			var r simResult
			for b.Loop() {
				r = simulate(b, c.name, c.policy, c.outlier, 42)
			}
			b.ReportMetric(ms(r.P50), "p50-ms")
			b.ReportMetric(ms(r.P99), "p99-ms")
			b.ReportMetric(100*r.ErrRate, "err-%")
		})
	}
}

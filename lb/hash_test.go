package lb_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

// owners maps keys to endpoints with no load (the plain ring).
func owners(t *testing.T, p lb.Picker, keys int) map[string]string {
	t.Helper()
	out := make(map[string]string, keys)
	for i := range keys {
		k := "user-" + strconv.Itoa(i)
		b, err := p.Pick(lb.PickInfo{Key: k})
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b.Addr()
	}
	return out
}

func TestConsistentHashSameKeySameEndpoint(t *testing.T) {
	eps := lbtest.Addrs(10)
	p := build(t, lb.ConsistentHash(nil), backends(t, eps))
	a, b := owners(t, p, 1000), owners(t, p, 1000)
	if m := lbtest.Moved(a, b); m != 0 {
		t.Fatalf("%.2f%% of keys changed endpoint between two rounds", 100*m)
	}
	// A fresh ring (another proxy instance) agrees.
	c := owners(t, build(t, lb.ConsistentHash(nil), backends(t, eps)), 1000)
	if m := lbtest.Moved(a, c); m != 0 {
		t.Fatalf("two instances disagree on %.2f%% of keys", 100*m)
	}
	lbtest.CheckShares(t, lbtest.Counts(values(a)), lbtest.Equal(eps), 0.05)
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestConsistentHashMinimalMovement(t *testing.T) {
	const keys = 20_000
	eps := lbtest.Addrs(11)
	ten := owners(t, build(t, lb.ConsistentHash(nil), backends(t, eps[:10])), keys)
	eleven := owners(t, build(t, lb.ConsistentHash(nil), backends(t, eps)), keys)
	moved := lbtest.Moved(ten, eleven)
	// Ideal: 1/11 of the keys move, all of them to the new endpoint.
	if moved > 1.3/11 || moved < 0.7/11 {
		t.Errorf("adding 1 endpoint to 10 moved %.2f%% of keys, want ≈ %.2f%%", 100*moved, 100.0/11)
	}
	for k, a := range eleven {
		if ten[k] != a && a != eps[10].Addr {
			t.Fatalf("key %s moved from %s to %s, not to the new endpoint", k, ten[k], a)
		}
	}
	// Removing endpoint 3 moves only its own keys.
	without := append(append([]lb.Endpoint{}, eps[:3]...), eps[4:10]...)
	after := owners(t, build(t, lb.ConsistentHash(nil), backends(t, without)), keys)
	for k, a := range ten {
		if a != eps[3].Addr && after[k] != a {
			t.Fatalf("key %s moved from %s to %s though its endpoint stayed", k, a, after[k])
		}
	}
}

func TestConsistentHashBoundedLoad(t *testing.T) {
	for _, eps := range []float64{0.25, 0.1} {
		bs := backends(t, lbtest.Addrs(10))
		p := build(t, lb.ConsistentHash(&lb.HashOptions{Epsilon: eps}), bs)
		// A hot key: every call has the same key and stays in flight.
		for i := 1; i <= 1000; i++ {
			key := "hot"
			if i%4 == 0 {
				key = "k" + strconv.Itoa(i)
			}
			b, err := p.Pick(lb.PickInfo{Key: key})
			if err != nil {
				t.Fatal(err)
			}
			b.Begin()
			cap := int64(math.Ceil((1 + eps) * float64(i) / 10))
			for _, x := range bs {
				if x.InFlight() > cap {
					t.Fatalf("ε=%v after %d calls %s has %d in flight, cap (1+ε)×avg = %d", eps, i, x.Addr(), x.InFlight(), cap)
				}
			}
		}
	}
	// Without the bound the hot key lands on one endpoint.
	bs := backends(t, lbtest.Addrs(10))
	p := build(t, lb.ConsistentHash(&lb.HashOptions{Epsilon: -1}), bs)
	seq := lbtest.Sequence(t, p, 100, func(int) lb.PickInfo { return lb.PickInfo{Key: "hot"} }, true)
	if n := len(lbtest.Counts(seq)); n != 1 {
		t.Fatalf("unbounded ring spread one key over %d endpoints", n)
	}
}

func TestConsistentHashWeighted(t *testing.T) {
	eps := lbtest.Addrs(3)
	eps[0].Weight = 2
	p := build(t, lb.ConsistentHash(nil), backends(t, eps))
	counts := lbtest.Counts(values(owners(t, p, 40_000)))
	lbtest.CheckShares(t, counts, map[string]float64{eps[0].Addr: 0.5, eps[1].Addr: 0.25, eps[2].Addr: 0.25}, 0.05)
}

func TestConsistentHashEmptyKeySpreads(t *testing.T) {
	eps := lbtest.Addrs(5)
	p := build(t, lb.ConsistentHash(nil), backends(t, eps))
	lbtest.CheckShares(t, lbtest.Counts(lbtest.Sequence(t, p, 50_000, nil, false)), lbtest.Equal(eps), 0.02)
}

func TestKeyFuncs(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("X-Forwarded-For", " 203.0.113.9 , 10.0.0.1")
	r.Header.Set("X-Tenant", "acme")
	r.AddCookie(&http.Cookie{Name: "session", Value: "s1"})
	for name, c := range map[string]struct {
		f    lb.KeyFunc
		want string
	}{
		"ip":             {lb.KeyFromIP(false), "192.0.2.7"},
		"ip forwarded":   {lb.KeyFromIP(true), "192.0.2.7"}, // a public peer is no trusted proxy: its header is ignored
		"header":         {lb.KeyFromHeader("x-tenant"), "acme"},
		"cookie":         {lb.KeyFromCookie("session"), "s1"},
		"missing cookie": {lb.KeyFromCookie("nope"), ""},
	} {
		if got := c.f(r); got != c.want {
			t.Errorf("%s: got %q, want %q", name, got, c.want)
		}
	}
	r.Header.Del("X-Forwarded-For")
	if got := lb.KeyFromIP(true)(r); got != "192.0.2.7" {
		t.Errorf("ip forwarded without header: got %q", got)
	}
}

func FuzzKeyFromIP(f *testing.F) {
	f.Add("203.0.113.9, 10.0.0.1", "192.0.2.7:5555")
	f.Add(",", "")
	f.Add(" \t", "[::1]:80")
	f.Fuzz(func(t *testing.T, xff, remote string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		k := lb.KeyFromIP(true)(r)
		if strings.TrimSpace(xff) != "" && strings.ContainsRune(k, ',') {
			t.Fatalf("key %q from %q holds more than the first hop", k, xff)
		}
		_ = lb.KeyFromIP(false)(r)
	})
}

// TestConsistentHashSlowStartMovesKeysOnlyToNewcomer: while a new endpoint
// ramps up, keys move only from the old endpoints to it, never between the
// old ones, and in the end it owns its fair share.
func TestConsistentHashSlowStartMovesKeysOnlyToNewcomer(t *testing.T) {
	clk := clock.NewFake(t0)
	eps := lbtest.Addrs(5)
	b := newBalancer(t, eps[:4], &lb.Options{Clock: clk, SlowStart: 10 * time.Second,
		Policy: lb.ConsistentHash(&lb.HashOptions{Epsilon: -1})})
	owners := func() map[string]string {
		out := map[string]string{}
		for i := range 4000 {
			k := "k" + strconv.Itoa(i)
			out[k] = pickDone(t, b, lb.PickInfo{Key: k}, nil).Addr()
		}
		return out
	}
	before := owners()
	_ = b.SetEndpoints(eps)
	newcomer := eps[4].Addr
	var shares []float64
	for step := 0; step <= 10; step++ {
		if step > 0 {
			clk.Advance(time.Second)
		}
		now := owners()
		got := 0
		for k, a := range now {
			if a != before[k] && a != newcomer {
				t.Fatalf("step %d: key %s moved %s → %s between old endpoints", step, k, before[k], a)
			}
			if a == newcomer {
				got++
			}
		}
		shares = append(shares, float64(got)/4000)
	}
	if shares[0] > 0.05 {
		t.Errorf("newcomer owns %.2f of keys at once, want ≈ 0.02 (10%% weight)", shares[0])
	}
	// After the window (once the last ramp step is in) it owns ≈ 1/5.
	deadline := time.Now().Add(5 * time.Second)
	for final := shares[len(shares)-1]; final < 0.15 || final > 0.25; {
		if time.Now().After(deadline) {
			t.Fatalf("newcomer share after the ramp %.3f, want ≈ 0.2 (shares %v)", final, shares)
		}
		runtime.Gosched()
		got := 0
		for _, a := range owners() {
			if a == newcomer {
				got++
			}
		}
		final = float64(got) / 4000
	}
}

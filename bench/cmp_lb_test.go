package bench

import (
	"sync/atomic"
	"testing"
	"time"

	jump "github.com/dgryski/go-jump"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

func picker(b *testing.B, p lb.Policy, n int) lb.Picker {
	eps := lbtest.Addrs(n)
	bs, err := lb.NewBackends(eps, 0)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	ws := make([]lb.Weighted, len(bs))
	for i, be := range bs {
		be.Begin()
		be.End(now, time.Duration(1+i%7)*time.Millisecond, 1000)
		ws[i] = lb.Weighted{Backend: be, Weight: be.Weight()}
	}
	return p.Build(ws)
}

// atomicRR is the plain round robin a service writes by hand.
type atomicRR struct {
	n    atomic.Uint64
	addr []string
}

func (r *atomicRR) pick() string { return r.addr[r.n.Add(1)%uint64(len(r.addr))] }

func benchPickers(b *testing.B, n int, p lb.Policy) {
	b.Run("scalekit", func(b *testing.B) {
		pk := picker(b, p, n)
		info := lb.PickInfo{Now: time.Now().Add(50 * time.Millisecond)}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pk.Pick(info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("atomic-rr", func(b *testing.B) {
		r := &atomicRR{}
		for _, e := range lbtest.Addrs(n) {
			r.addr = append(r.addr, e.Addr)
		}
		b.ReportAllocs()
		for b.Loop() {
			_ = r.pick()
		}
	})
}

// BenchmarkCmpPickP2CEWMA10: the default picker at 10 endpoints against a
// bare atomic round robin (the floor any picker pays).
func BenchmarkCmpPickP2CEWMA10(b *testing.B) { benchPickers(b, 10, lb.LeastResponseTime(nil)) }

// BenchmarkCmpPickRoundRobin100: scalekit's round robin at 100 endpoints.
func BenchmarkCmpPickRoundRobin100(b *testing.B) { benchPickers(b, 100, lb.RoundRobin()) }

// BenchmarkCmpJumpHash: scalekit's keyed consistent pick against go-jump
// over the same 100 buckets.
func BenchmarkCmpJumpHash(b *testing.B) {
	keys := make([]string, 1024)
	hashes := make([]uint64, len(keys))
	for i := range keys {
		keys[i] = "203.0.113." + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		hashes[i] = uint64(i)*0x9E3779B97F4A7C15 + 1
	}
	b.Run("scalekit-boundedload", func(b *testing.B) {
		pk := picker(b, lb.ConsistentHash(nil), 100)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := pk.Pick(lb.PickInfo{Key: keys[i&1023]}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("go-jump", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = jump.Hash(hashes[i&1023], 100)
			i++
		}
	})
}

package lb_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

// benchPick measures Picker.Pick over 100 endpoints (targets: ≤ 100 ns and
// 0 allocs for RR, WRR, P2C and least connections; ≤ 200 ns for
// bounded-load hashing).
func benchPick(b *testing.B, p lb.Policy, keyed bool) {
	eps := lbtest.Addrs(100)
	for i := range eps {
		eps[i].Weight = 1 + i%4
	}
	bs := backends(b, eps)
	now := time.Now()
	for i, be := range bs {
		be.Begin()
		be.End(now, time.Duration(1+i%7)*time.Millisecond, int64(1000*(1+i%5)))
	}
	pk := build(b, p, bs)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "203.0.113." + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		info := lb.PickInfo{Now: now}
		if keyed {
			info.Key = keys[i&1023]
			i++
		}
		if _, err := pk.Pick(info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	b.Run("RoundRobin", func(b *testing.B) { benchPick(b, lb.RoundRobin(), false) })
	b.Run("WeightedRoundRobin", func(b *testing.B) { benchPick(b, lb.WeightedRoundRobin(), false) })
	b.Run("Random", func(b *testing.B) { benchPick(b, lb.Random(), false) })
	b.Run("WeightedRandom", func(b *testing.B) { benchPick(b, lb.WeightedRandom(), false) })
	b.Run("LeastConnP2C", func(b *testing.B) { benchPick(b, lb.LeastConn(nil), false) })
	b.Run("LeastConnExact", func(b *testing.B) { benchPick(b, lb.LeastConn(&lb.LoadOptions{ExactBelow: 100}), false) })
	b.Run("P2CEWMA", func(b *testing.B) { benchPick(b, lb.LeastResponseTime(nil), false) })
	b.Run("LeastBandwidthP2C", func(b *testing.B) { benchPick(b, lb.LeastBandwidth(nil), false) })
	b.Run("BoundedLoadHash", func(b *testing.B) { benchPick(b, lb.ConsistentHash(nil), true) })
}

// BenchmarkBalancerPickDone is a whole call through a Balancer: snapshot
// load, pick, in-flight accounting and Done feedback.
func BenchmarkBalancerPickDone(b *testing.B) {
	for _, c := range []struct {
		name string
		p    lb.Policy
	}{{"RoundRobin", lb.RoundRobin()}, {"P2CEWMA", lb.LeastResponseTime(nil)}} {
		b.Run(c.name, func(b *testing.B) {
			bal, err := lb.New(lbtest.Addrs(100), &lb.Options{Policy: c.p})
			if err != nil {
				b.Fatal(err)
			}
			defer bal.Close()
			b.ReportAllocs()
			for b.Loop() {
				r, err := bal.Pick(lb.PickInfo{})
				if err != nil {
					b.Fatal(err)
				}
				r.Done(lb.DoneInfo{})
			}
		})
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, c := range []struct {
		name string
		p    lb.Policy
	}{{"RoundRobin", lb.RoundRobin()}, {"P2CEWMA", lb.LeastResponseTime(nil)}} {
		b.Run(c.name, func(b *testing.B) {
			bal, err := lb.New(lbtest.Addrs(100), &lb.Options{Policy: c.p})
			if err != nil {
				b.Fatal(err)
			}
			defer bal.Close()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, err := bal.Pick(lb.PickInfo{})
					if err != nil {
						b.Error(err)
						return
					}
					r.Done(lb.DoneInfo{})
				}
			})
		})
	}
}

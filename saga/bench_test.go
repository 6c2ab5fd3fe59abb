package saga_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

// BenchmarkRunMemory measures the orchestrator's own cost: a three-step
// saga of no-op steps on the memory log and lock.
func BenchmarkRunMemory(b *testing.B) {
	log := memsaga.New(nil)
	lk, _ := lock.New(memlock.New(nil), nil)
	o, _ := saga.New(log, lk, nil)
	nop := func(context.Context, saga.Call, order) error { return nil }
	s, _ := saga.Register(o, "nop", []saga.Step[order]{
		{Name: "a", Action: nop, Compensate: nop}, {Name: "b", Action: nop, Compensate: nop}, {Name: "c", Action: nop, Compensate: nop},
	})
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Run(context.Background(), fmt.Sprint(seq.Add(1)), order{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(log.Writes())/float64(b.N)/3, "logwrites/step")
}

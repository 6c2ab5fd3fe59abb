package memorycache_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
)

// Read-your-writes on one goroutine while others write and delete in the
// same shards (so tables grow, leave tombstones and rehash under the
// readers): a Set is seen by the next Get, a Delete by the next Get. Run
// for both update paths: in place (uint64 values) and node replacement
// (string values).
func TestReadYourWritesConcurrent(t *testing.T) {
	t.Run("inplace", func(t *testing.T) {
		s, _ := memorycache.New(&memorycache.Options[int, uint64]{MaxEntries: 1 << 14, Shards: 4})
		readYourWrites(t, func(k, i int) { _ = s.Set(k, uint64(i), time.Minute) },
			func(k int) (int, bool) { v, ok := s.Get(k); return int(v), ok }, s.Delete)
	})
	t.Run("replace", func(t *testing.T) {
		s, _ := memorycache.New(&memorycache.Options[int, string]{MaxEntries: 1 << 14, Shards: 4})
		readYourWrites(t, func(k, i int) { _ = s.Set(k, fmt.Sprint(i), 0) },
			func(k int) (int, bool) {
				v, ok := s.Get(k)
				var i int
				fmt.Sscan(v, &i)
				return i, ok
			}, s.Delete)
	})
}

func readYourWrites(t *testing.T, set func(k, i int), get func(k int) (int, bool), del func(k int)) {
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				k := g*1000 + i%700 // each goroutine owns its keys
				set(k, i)
				if v, ok := get(k); !ok || v != i {
					errs <- fmt.Sprintf("g%d: Set(%d, %d) then Get = %d, %v", g, k, i, v, ok)
					return
				}
				if i%3 == 0 {
					del(k)
					if v, ok := get(k); ok {
						errs <- fmt.Sprintf("g%d: Delete(%d) then Get = %d", g, k, v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Concurrent Sets and Deletes of shared keys lose no update: once every
// goroutine has finished with a Set of its own final value, each key holds
// one of those final values.
func TestNoLostUpdates(t *testing.T) {
	const keys, writers = 200, 4
	for _, p := range []memorycache.Policy{memorycache.S3FIFO, memorycache.LRU, memorycache.Random} {
		t.Run(p.String(), func(t *testing.T) {
			s, _ := memorycache.New(&memorycache.Options[int, [2]uint64]{MaxEntries: 4 * keys, Policy: p})
			var wg sync.WaitGroup
			for g := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 2000 {
						k := (i*7 + g) % keys
						if i%5 == 4 {
							s.Delete(k)
						} else {
							_ = s.Set(k, [2]uint64{uint64(g), uint64(i)}, 0)
						}
					}
					for k := range keys {
						_ = s.Set(k, [2]uint64{uint64(g), 1 << 40}, 0)
					}
				}()
			}
			wg.Wait()
			for k := range keys {
				v, ok := s.Get(k)
				if !ok || v[1] != 1<<40 || v[0] >= writers {
					t.Fatalf("key %d = %v, %v; want some writer's final value", k, v, ok)
				}
			}
			if s.Len() != keys {
				t.Fatalf("Len %d, want %d", s.Len(), keys)
			}
		})
	}
}

// A value updated in place is never read torn: every word of a
// [16]uint64 written as {i, i, …} is read equal, while a writer rewrites
// it.
func TestInplaceNoTornReads(t *testing.T) {
	s, _ := memorycache.New(&memorycache.Options[int, [16]uint64]{MaxEntries: 64, Shards: 1})
	_ = s.Set(1, [16]uint64{}, 0)
	var stop atomic.Bool
	var torn atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				v, ok := s.Get(1)
				if !ok || v != [16]uint64{v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0]} {
					torn.Add(1)
				}
			}
		}()
	}
	for i := range uint64(50000) {
		var v [16]uint64
		for j := range v {
			v[j] = i
		}
		_ = s.Set(1, v, 0)
	}
	stop.Store(true)
	wg.Wait()
	if n := torn.Load(); n != 0 {
		t.Fatalf("%d torn or missing reads", n)
	}
}

// The capacity bound holds at every moment under concurrent inserts of
// fresh keys, not only at the end.
func TestCapacityBoundDuringChurn(t *testing.T) {
	for _, p := range []memorycache.Policy{memorycache.S3FIFO, memorycache.FIFO} {
		t.Run(p.String(), func(t *testing.T) {
			const capacity = 256
			s, _ := memorycache.New(&memorycache.Options[int, uint64]{MaxEntries: capacity, Policy: p})
			var stop atomic.Bool
			var worst atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for !stop.Load() {
					if c := s.Cost(); c > worst.Load() {
						worst.Store(c)
					}
				}
			}()
			var wg sync.WaitGroup
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 5000 {
						k := g<<20 | i
						_ = s.Set(k, uint64(i), 0)
						s.Get(k - 3)
					}
				}()
			}
			wg.Wait()
			stop.Store(true)
			<-done
			if w := worst.Load(); w > capacity || s.Len() > capacity {
				t.Fatalf("cost reached %d, Len %d; capacity %d", w, s.Len(), capacity)
			}
		})
	}
}

// A read that finds an entry expired does not remove a concurrent in-place
// renewal of it: after the renewing Set returns, the entry is live.
func TestExpiredReadKeepsRenewal(t *testing.T) {
	clk := clock.NewFake(t0)
	s, _ := memorycache.New(&memorycache.Options[int, uint64]{MaxEntries: 16, Shards: 1, Clock: clk})
	for i := range 200 {
		_ = s.Set(1, uint64(i), time.Second)
		clk.Advance(time.Second)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); s.Get(1) }()
		_ = s.Set(1, uint64(i), time.Hour)
		wg.Wait()
		if _, ok := s.Get(1); !ok {
			t.Fatalf("round %d: renewed entry removed by a racing expired read", i)
		}
	}
}

// On a loop over 1.5× the capacity (which LRU and FIFO never hit) the
// default policy keeps a stable part of the loop once warm.
func TestS3FIFOLoop(t *testing.T) {
	const capacity = 1000
	s := newStore(t, memorycache.Options[int, int]{MaxEntries: capacity})
	hits, n := 0, capacity*3/2
	for cycle := range 12 {
		for k := range n {
			if _, ok := s.Get(k); ok {
				if cycle >= 2 {
					hits++
				}
			} else {
				_ = s.Set(k, k, 0)
			}
		}
	}
	if r := float64(hits) / float64(10*n); r < 0.5 {
		t.Fatalf("warm loop hit ratio %.2f, want ≥ 0.50 (≈ 0.6 is the main queue's share)", r)
	}
}

// GetIntoAt hands back the clock reading it took for an entry with an
// expiry, and takes none for an entry without.
func TestGetIntoAt(t *testing.T) {
	clk := clock.NewFake(t0)
	s := newStore(t, memorycache.Options[int, int]{MaxEntries: 10, Clock: clk})
	_ = s.Set(1, 1, time.Minute)
	_ = s.Set(2, 2, 0)
	var v int
	var now int64
	if !s.GetIntoAt(1, &v, &now) || v != 1 || now != t0.UnixNano() {
		t.Fatalf("GetIntoAt(ttl) = %d, now %d", v, now)
	}
	now = 0
	if !s.GetIntoAt(2, &v, &now) || v != 2 || now != 0 {
		t.Fatalf("GetIntoAt(no ttl) = %d, now %d", v, now)
	}
	if !s.SameClock(clk) || s.SameClock(nil) || s.SameClock(clock.NewFake(t0)) {
		t.Fatal("SameClock wrong for a fake-clock store")
	}
	r, _ := memorycache.New(&memorycache.Options[int, int]{MaxEntries: 10})
	if !r.SameClock(nil) || !r.SameClock(clock.Real()) || r.SameClock(clk) {
		t.Fatal("SameClock wrong for a real-clock store")
	}
}

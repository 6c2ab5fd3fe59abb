package memorycache_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newStore(t *testing.T, o memorycache.Options[int, int]) *memorycache.Store[int, int] {
	t.Helper()
	if o.Shards == 0 {
		o.Shards = 1 // deterministic eviction order
	}
	s, err := memorycache.New(&o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keys(s *memorycache.Store[int, int], upTo int) []int {
	var out []int
	for k := range upTo {
		if _, ok := s.Get(k); ok {
			out = append(out, k)
		}
	}
	return out
}

// Each policy: fill 0,1,2 (capacity 3), read 0 twice, then insert 3. The
// survivors show which entry the policy evicted.
func TestEvictionPolicies(t *testing.T) {
	cases := []struct {
		p       memorycache.Policy
		evicted int
	}{
		{memorycache.LRU, 1},  // 0 was used recently, 1 is least recent
		{memorycache.MRU, 0},  // 0 is most recently used
		{memorycache.FIFO, 0}, // 0 was inserted first
		{memorycache.LIFO, 2}, // 2 was inserted last
		{memorycache.LFU, 1},  // 1 and 2 have one use; 1 is older
	}
	for _, tc := range cases {
		t.Run(tc.p.String(), func(t *testing.T) {
			s := newStore(t, memorycache.Options[int, int]{MaxEntries: 3, Policy: tc.p})
			for k := range 3 {
				_ = s.Set(k, k, 0)
			}
			s.Get(0)
			s.Get(0)
			_ = s.Set(3, 3, 0)
			if _, ok := s.Get(tc.evicted); ok {
				t.Fatalf("%v kept %d; survivors %v", tc.p, tc.evicted, keys(s, 4))
			}
			if s.Len() != 3 || s.Evictions() != 1 {
				t.Fatalf("Len %d, Evictions %d; want 3, 1", s.Len(), s.Evictions())
			}
		})
	}
}

func TestRandomEvictsOne(t *testing.T) {
	s := newStore(t, memorycache.Options[int, int]{MaxEntries: 10, Policy: memorycache.Random})
	for k := range 100 {
		_ = s.Set(k, k, 0)
	}
	if s.Len() != 10 || s.Evictions() != 90 {
		t.Fatalf("Len %d, Evictions %d", s.Len(), s.Evictions())
	}
}

// S3-FIFO: a one-hit-wonder scan does not flush entries that were reused.
func TestS3FIFOResistsScans(t *testing.T) {
	s := newStore(t, memorycache.Options[int, int]{MaxEntries: 100})
	for k := range 50 {
		_ = s.Set(k, k, 0)
	}
	for range 2 {
		for k := range 50 {
			s.Get(k)
		}
	}
	for k := 1000; k < 3000; k++ { // a scan 20× the capacity
		_ = s.Set(k, k, 0)
	}
	if kept := len(keys(s, 50)); kept < 45 {
		t.Fatalf("only %d of 50 hot keys survived a scan", kept)
	}
	// The same under LRU loses them all.
	l := newStore(t, memorycache.Options[int, int]{MaxEntries: 100, Policy: memorycache.LRU})
	for k := range 50 {
		_ = l.Set(k, k, 0)
	}
	for k := 1000; k < 3000; k++ {
		_ = l.Set(k, k, 0)
	}
	if kept := len(keys(l, 50)); kept != 0 {
		t.Fatalf("LRU kept %d hot keys after the scan", kept)
	}
}

func TestCostCapacity(t *testing.T) {
	s := newStore(t, memorycache.Options[int, int]{MaxCost: 100, Weigher: func(_, v int) int64 { return int64(v) }})
	_ = s.Set(1, 40, 0)
	_ = s.Set(2, 40, 0)
	_ = s.Set(3, 40, 0)
	if s.Cost() > 100 || s.Len() != 2 {
		t.Fatalf("Cost %d, Len %d; want ≤100 and 2", s.Cost(), s.Len())
	}
	_ = s.Set(3, 10, 0) // update shrinks the cost
	if s.Cost() != 50 {
		t.Fatalf("Cost after update %d, want 50", s.Cost())
	}
	if err := s.Set(9, 101, 0); !errors.Is(err, driver.ErrTooLarge) {
		t.Fatalf("oversized entry: %v, want ErrTooLarge", err)
	}
	if err := s.Set(9, -1, 0); !errors.Is(err, memorycache.ErrNegativeCost) {
		t.Fatalf("negative cost: %v", err)
	}
}

func TestTTL(t *testing.T) {
	clk := clock.NewFake(t0)
	s := newStore(t, memorycache.Options[int, int]{MaxEntries: 10, Clock: clk})
	_ = s.Set(1, 1, time.Minute)
	_ = s.Set(2, 2, 0)
	if exp, ok := s.Expiry(1); !ok || !exp.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Expiry = %v, %v", exp, ok)
	}
	clk.Advance(time.Minute - 1)
	if _, ok := s.Get(1); !ok {
		t.Fatal("expired early")
	}
	if added, _ := s.Add(1, 9, 0); added {
		t.Fatal("Add over a live entry")
	}
	clk.Advance(1)
	if _, ok := s.Get(1); ok {
		t.Fatal("served after expiry")
	}
	_ = s.Set(3, 3, time.Second)
	clk.Advance(time.Second)
	if n := s.Cleanup(); n != 1 {
		t.Fatalf("Cleanup removed %d, want 1", n)
	}
	if added, _ := s.Add(3, 9, 0); !added {
		t.Fatal("Add over an expired entry failed")
	}
	if err := s.Set(4, 4, -time.Second); !errors.Is(err, memorycache.ErrNegativeTTL) {
		t.Fatalf("negative TTL: %v", err)
	}
	s.Delete(2)
	s.Clear()
	if s.Len() != 0 {
		t.Fatal("Clear left entries")
	}
}

func TestBadCapacity(t *testing.T) {
	for _, o := range []memorycache.Options[int, int]{{}, {MaxEntries: -1}, {MaxCost: -5}, {MaxEntries: 1, MaxCost: 1}, {MaxEntries: 1, Shards: -1}, {MaxEntries: 1, Policy: 99}} {
		if _, err := memorycache.New(&o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := memorycache.New[int, int](nil); !errors.Is(err, memorycache.ErrInvalidCapacity) {
		t.Errorf("nil options: %v", err)
	}
}

// Every policy under concurrent mixed use stays within capacity (run with
// -race).
func TestConcurrentUse(t *testing.T) {
	for _, p := range []memorycache.Policy{memorycache.S3FIFO, memorycache.LRU, memorycache.LFU, memorycache.FIFO, memorycache.LIFO, memorycache.MRU, memorycache.Random} {
		t.Run(p.String(), func(t *testing.T) {
			s, _ := memorycache.New(&memorycache.Options[string, int]{MaxEntries: 500, Policy: p})
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 5000 {
						k := fmt.Sprint((i * (g + 1)) % 2000)
						switch i % 4 {
						case 0:
							_ = s.Set(k, i, time.Minute)
						case 1:
							s.Delete(k)
						default:
							s.Get(k)
						}
					}
				}()
			}
			wg.Wait()
			if s.Len() > 500 {
				t.Fatalf("Len %d exceeds capacity 500", s.Len())
			}
		})
	}
}

func ExampleStore() {
	s, _ := memorycache.New(&memorycache.Options[string, []byte]{
		MaxCost: 64 << 20, // 64 MiB of values
		Weigher: func(k string, v []byte) int64 { return int64(len(k) + len(v)) },
	})
	_ = s.Set("greeting", []byte("hello"), time.Minute)
	v, ok := s.Get("greeting")
	fmt.Println(string(v), ok)
	// Output: hello true
}

// GetInto agrees with Get under every policy (the concurrent-hit ones take
// the read-lock path, the others the exclusive one): a hit fills dst, a
// miss or an expired entry leaves it untouched and reports false.
func TestGetInto(t *testing.T) {
	for _, p := range []memorycache.Policy{memorycache.S3FIFO, memorycache.LRU, memorycache.FIFO} {
		t.Run(p.String(), func(t *testing.T) {
			clk := clock.NewFake(t0)
			s := newStore(t, memorycache.Options[int, int]{MaxEntries: 10, Policy: p, Clock: clk})
			_ = s.Set(1, 11, time.Minute)
			_ = s.Set(2, 22, 0)
			dst := -1
			if !s.GetInto(1, &dst) || dst != 11 {
				t.Fatalf("GetInto(1) = %d", dst)
			}
			if !s.GetInto(2, &dst) || dst != 22 {
				t.Fatalf("GetInto(2) = %d", dst)
			}
			dst = -1
			if s.GetInto(3, &dst) || dst != -1 {
				t.Fatalf("GetInto(absent) wrote %d", dst)
			}
			clk.Advance(time.Minute)
			if s.GetInto(1, &dst) || dst != -1 {
				t.Fatalf("GetInto(expired) wrote %d", dst)
			}
			if _, ok := s.Get(1); ok {
				t.Fatal("expired entry still served by Get")
			}
		})
	}
}

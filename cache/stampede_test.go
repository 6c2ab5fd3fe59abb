package cache

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scalekit-go/scalekit/cache/memorycache"
)

func newTestLocal[V any](t *testing.T, o *Options[string, V]) *Cache[string, V] {
	t.Helper()
	s, err := memorycache.New(&memorycache.Options[string, Entry[V]]{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewLocal(s, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// waitWaiters parks until n callers share the flight of key. It yields
// instead of sleeping: the condition is in-memory state this test drives.
func waitWaiters[V any](t *testing.T, c *Cache[string, V], key string, n int) {
	t.Helper()
	for {
		c.mu.Lock()
		f := c.flights[key]
		got := 0
		if f != nil {
			got = f.waiters
		}
		c.mu.Unlock()
		if got == n {
			return
		}
		if got > n {
			t.Fatalf("%d waiters on %q, want %d", got, key, n)
		}
		runtime.Gosched()
	}
}

// stampede starts n goroutines calling GetOrLoad on one missing key with a
// loader that blocks until every one of them shares the flight, then
// finishes with result.
func stampede(t *testing.T, n int, result func() (int, error)) (loads int32, errs []error, vals []int) {
	c := newTestLocal[int](t, nil)
	var calls atomic.Int32
	release := make(chan struct{})
	loader := func(context.Context, string) (int, error) {
		calls.Add(1)
		<-release
		return result()
	}
	errs = make([]error, n)
	vals = make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals[i], errs[i] = c.GetOrLoad(context.Background(), "hot", loader)
		}()
	}
	waitWaiters(t, c, "hot", n)
	close(release)
	wg.Wait()
	return calls.Load(), errs, vals
}

func TestStampedeThousandMissesOneLoad(t *testing.T) {
	loads, errs, vals := stampede(t, 1000, func() (int, error) { return 7, nil })
	if loads != 1 {
		t.Fatalf("1000 concurrent misses ran the loader %d times, want 1", loads)
	}
	for i := range errs {
		if errs[i] != nil || vals[i] != 7 {
			t.Fatalf("caller %d got %d, %v; want 7, nil", i, vals[i], errs[i])
		}
	}
}

func TestStampedeErrorReachesEveryWaiter(t *testing.T) {
	boom := errors.New("db down")
	loads, errs, _ := stampede(t, 200, func() (int, error) { return 0, boom })
	if loads != 1 {
		t.Fatalf("loader ran %d times, want 1", loads)
	}
	for i, err := range errs {
		if !errors.Is(err, boom) {
			t.Fatalf("caller %d got %v, want the loader's error", i, err)
		}
	}
}

func TestStampedePanicReachesEveryWaiter(t *testing.T) {
	loads, errs, _ := stampede(t, 200, func() (int, error) { panic("loader bug") })
	if loads != 1 {
		t.Fatalf("loader ran %d times, want 1", loads)
	}
	for i, err := range errs {
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != "loader bug" || len(pe.Stack) == 0 {
			t.Fatalf("caller %d got %v, want a *PanicError with the value and a stack", i, err)
		}
	}
}

func TestWaiterCancellationDoesNotFailOthers(t *testing.T) {
	c := newTestLocal[int](t, nil)
	release := make(chan struct{})
	loader := func(ctx context.Context, _ string) (int, error) {
		<-release
		return 1, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := c.GetOrLoad(ctx, "k", loader); first <- err }()
	second := make(chan int, 1)
	go func() { v, _ := c.GetOrLoad(context.Background(), "k", loader); second <- v }()
	waitWaiters(t, c, "k", 2)
	cancel()
	if err := <-first; err != context.Canceled {
		t.Fatalf("cancelled caller got %v, want context.Canceled unwrapped", err)
	}
	close(release)
	if v := <-second; v != 1 {
		t.Fatalf("other caller got %d, want 1: the loader must not see the first caller's cancellation", v)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	good, _ := encodeEntry[string](JSON[string]{}, Entry[string]{Value: "x", Fresh: 5, Delta: 2})
	neg, _ := encodeEntry[string](JSON[string]{}, Entry[string]{Absent: true})
	f.Add(good)
	f.Add(neg)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry[string](JSON[string]{}, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := encodeEntry[string](JSON[string]{}, e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := decodeEntry[string](JSON[string]{}, again)
		if err != nil || e2 != e {
			t.Fatalf("round trip changed %+v into %+v (%v)", e, e2, err)
		}
	})
}

func FuzzDecodeInvalidation(f *testing.F) {
	f.Add(encodeInvalidation("origin", []string{"a", "b"}))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		origin, keys, err := decodeInvalidation(data)
		if err != nil {
			return
		}
		o2, k2, err := decodeInvalidation(encodeInvalidation(origin, keys))
		if err != nil || o2 != origin || len(k2) != len(keys) {
			t.Fatalf("round trip of %q %q failed: %q %q %v", origin, keys, o2, k2, err)
		}
	})
}

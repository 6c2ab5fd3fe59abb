package queuetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// RunDedupStore checks a queue.DedupStore: claim states, release, expiry
// of a dead claim, and that of many concurrent claimers exactly one wins.
// newStore returns handles on one shared store. Expiry is real time
// (short leases), so it suits shared engines and MemoryDedup on the real
// clock alike.
func RunDedupStore(t *testing.T, newStore func(t *testing.T) queue.DedupStore) {
	ctx := context.Background()
	id := func(t *testing.T) string { return topicName(t) }
	t.Run("ClaimDoneRelease", func(t *testing.T) {
		st := newStore(t)
		k := id(t)
		want := func(what string, got queue.Claim, err error, w queue.Claim) {
			t.Helper()
			if err != nil || got != w {
				t.Fatalf("%s = %v, %v; want %v", what, got, err, w)
			}
		}
		c, err := st.Claim(ctx, k, time.Minute)
		want("first Claim", c, err, queue.ClaimNew)
		c, err = st.Claim(ctx, k, time.Minute)
		want("Claim while claimed", c, err, queue.ClaimBusy)
		if err := st.Release(ctx, k); err != nil {
			t.Fatal(err)
		}
		c, err = st.Claim(ctx, k, time.Minute)
		want("Claim after Release", c, err, queue.ClaimNew)
		if err := st.Done(ctx, k, time.Minute); err != nil {
			t.Fatal(err)
		}
		c, err = st.Claim(ctx, k, time.Minute)
		want("Claim after Done", c, err, queue.ClaimDone)
		if err := st.Release(ctx, k); err != nil {
			t.Fatal(err)
		}
		c, err = st.Claim(ctx, k, time.Minute)
		want("Claim after Release of a done id", c, err, queue.ClaimDone)
	})
	t.Run("DeadClaimExpires", func(t *testing.T) {
		st := newStore(t)
		k := id(t)
		if c, err := st.Claim(ctx, k, 200*time.Millisecond); err != nil || c != queue.ClaimNew {
			t.Fatalf("Claim = %v, %v", c, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := st.Claim(ctx, k, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if c == queue.ClaimNew {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a claim whose holder died never expired")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("OneOfManyClaimersWins", func(t *testing.T) {
		k := id(t)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			st := newStore(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := st.Claim(ctx, k, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if c == queue.ClaimNew {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d concurrent claimers of one id won, want 1", n)
		}
	})
}

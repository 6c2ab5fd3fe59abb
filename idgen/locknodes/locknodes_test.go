package locknodes_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/idgen"
	iddriver "github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/idgen/idgentest"
	"github.com/scalekit-go/scalekit/idgen/locknodes"
	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestNodeIDsConformanceMemlock(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	d := mustNodes(locknodes.New(memlock.New(&memlock.Options{Clock: fc}), nil))
	idgentest.RunNodeIDs(t, idgentest.NodeHarness{
		New:  func(*testing.T) iddriver.NodeIDs { return d },
		TTL:  time.Minute,
		Wait: func(_ *testing.T, d time.Duration) { fc.Advance(d) },
	})
}

func TestNodeIDsConformanceRedis(t *testing.T) {
	prefix := testenv.Prefix(t)
	idgentest.RunNodeIDs(t, idgentest.NodeHarness{
		New: func(t *testing.T) iddriver.NodeIDs {
			d, err := redislock.New(testenv.RedisClient(t), &redislock.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return mustNodes(locknodes.New(d, nil))
		},
		TTL:  time.Second, // each Renew must land within TTL/2 of a sleep: 150ms was tight under load
		Wait: func(_ *testing.T, d time.Duration) { time.Sleep(d) },
	})
}

// A Snowflake whose node lease is lost (the lock engine dropped the key)
// stops issuing IDs with ErrNodeLeaseLost.
func TestGeneratorStopsWhenLeaseLost(t *testing.T) {
	ctx := context.Background()
	fc := clock.NewFake(time.Time{})
	m := memlock.New(&memlock.Options{Clock: fc})
	nodes := mustNodes(locknodes.New(m, nil))
	lease, err := idgen.AcquireNode(ctx, nodes, "orders", 3, &idgen.NodeLeaseOptions{TTL: time.Second, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	layout := idgen.Layout{TimeBits: 41, NodeBits: 2, SeqBits: 20, Tick: time.Millisecond, Epoch: idgen.TwitterLayout.Epoch}
	g, err := idgen.NewSnowflake(lease.ID(), &idgen.SnowflakeOptions{Layout: &layout, Lease: lease, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Next(ctx); err != nil {
		t.Fatalf("Next with a live lease: %v", err)
	}
	if !m.Expire(nodes.Key("orders", lease.ID())) {
		t.Fatal("no live lock for the leased node id")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-lease.Done():
		default:
			if time.Now().After(deadline) {
				t.Fatal("node lease still live after the lock was dropped")
			}
			_ = fc.BlockUntil(ctx, 1)
			fc.Advance(50 * time.Millisecond)
			time.Sleep(time.Millisecond)
			continue
		}
		break
	}
	_, err = g.Next(ctx)
	if !errors.Is(err, idgen.ErrNodeLeaseLost) {
		t.Fatalf("Next after the lease was lost = %v, want ErrNodeLeaseLost", err)
	}
	if !strings.Contains(err.Error(), "orders") {
		t.Fatalf("error %q does not name the namespace", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("Release of a lost lease: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	n := mustNodes(locknodes.New(memlock.New(&memlock.Options{MaxKeyLen: 16}), nil))
	if _, _, err := n.Acquire(ctx, "", 3, time.Second); err == nil {
		t.Error("empty namespace accepted")
	}
	if _, _, err := n.Acquire(ctx, "ns", -1, time.Second); err == nil {
		t.Error("negative maxID accepted")
	}
	if _, _, err := n.Acquire(ctx, "ns", 3, 0); err == nil {
		t.Error("zero TTL accepted")
	}
	if _, _, err := n.Acquire(ctx, "a-very-long-namespace", 3, time.Second); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("key over the backend's limit: %v", err)
	}
	if _, err := locknodes.New(nil, nil); err == nil {
		t.Error("nil driver accepted")
	}
}

// mustNodes is locknodes.New's result, or a panic on error.
func mustNodes(n *locknodes.NodeIDs, err error) *locknodes.NodeIDs {
	if err != nil {
		panic(err)
	}
	return n
}

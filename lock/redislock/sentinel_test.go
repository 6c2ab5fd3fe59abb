package redislock_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
)

// The driver works through a Sentinel-managed client (redis.NewFailoverClient).
func TestSentinelClient(t *testing.T) {
	ctx := context.Background()
	master := testenv.NewRedis(t, nil)
	sentinel := testenv.NewRedisSentinel(t, master, "lockmaster").Addr
	c := redis.NewUniversalClient(&redis.UniversalOptions{MasterName: "lockmaster", Addrs: []string{sentinel}})
	defer c.Close()
	if _, ok := c.(*redis.Client); !ok {
		t.Fatalf("UniversalClient with MasterName is %T, want a failover *redis.Client", c)
	}
	lk, err := lock.New(newDriver(t, c, nil), &lock.Options{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lk.TryAcquire(ctx, "sentinel", &lock.AcquireOptions{Meta: "via sentinel"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lk.TryAcquire(ctx, "sentinel", nil); err == nil {
		t.Fatal("second holder through Sentinel")
	}
	if err := l.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	h, held, err := lk.Holder(ctx, "sentinel")
	if err != nil || !held || h.Meta != "via sentinel" || h.Token != l.Token() {
		t.Fatalf("Holder = %+v %v %v", h, held, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := lk.TryAcquire(ctx, "sentinel", nil)
	if err != nil || l2.Token() <= l.Token() {
		t.Fatalf("re-acquire = %v, %v", l2, err)
	}
	_ = l2.Release(ctx)
}

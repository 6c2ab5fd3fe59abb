package redislock_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

// startSentinel runs a Redis Sentinel that monitors the master at addr
// under the name "lockmaster", and returns the sentinel's address.
func startSentinel(t *testing.T, master string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("redis-server not found: %v (apt-get install redis-server)", err)
		}
		t.Skipf("redis-server not found (apt-get install redis-server): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	host, mport, _ := net.SplitHostPort(master)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\nsentinel monitor lockmaster %s %s 1\n", port, host, mport)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := sc.GetMasterAddrByName(context.Background(), "lockmaster").Result(); err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("sentinel did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The driver works through a Sentinel-managed client (redis.NewFailoverClient).
func TestSentinelClient(t *testing.T) {
	ctx := context.Background()
	master := testenv.NewRedis(t, nil)
	sentinel := startSentinel(t, master.Addr)
	c := redis.NewUniversalClient(&redis.UniversalOptions{MasterName: "lockmaster", Addrs: []string{sentinel}})
	defer c.Close()
	if _, ok := c.(*redis.Client); !ok {
		t.Fatalf("UniversalClient with MasterName is %T, want a failover *redis.Client", c)
	}
	lk, err := lock.New(redislock.New(c, nil), &lock.Options{TTL: time.Second})
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

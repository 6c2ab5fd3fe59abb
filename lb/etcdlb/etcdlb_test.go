package etcdlb_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/etcdlb"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newClient(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// watcher runs a Resolver and keeps the latest endpoint set.
type watcher struct {
	mu      sync.Mutex
	latest  []lb.Endpoint
	updates int
	errs    []error
	stopped chan error
}

func startWatch(t *testing.T, cli *clientv3.Client, prefix string) *watcher {
	t.Helper()
	w := &watcher{stopped: make(chan error, 1)}
	r, err := etcdlb.NewResolver(cli, prefix, &etcdlb.ResolverOptions{OnError: func(err error) {
		w.mu.Lock()
		w.errs = append(w.errs, err)
		w.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		w.stopped <- r.Watch(ctx, func(eps []lb.Endpoint) {
			w.mu.Lock()
			w.latest, w.updates = eps, w.updates+1
			w.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-w.stopped:
			if err != nil {
				t.Errorf("Watch returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	return w
}

func addrs(eps []lb.Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.Addr)
	}
	return out
}

// waitFor polls until the watcher's latest set has exactly want (by
// address), or fails after timeout.
func (w *watcher) waitFor(t *testing.T, timeout time.Duration, want ...string) []lb.Endpoint {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		got, n := w.latest, w.updates
		w.mu.Unlock()
		if n > 0 && slices.Equal(addrs(got), want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints %v after %d updates, want %v", addrs(got), n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRegisterResolveDeregister(t *testing.T) {
	ctx := context.Background()
	cli := newClient(t, testenv.EtcdEndpoints(t))
	prefix := testenv.Prefix(t) + "/svc/"
	w := startWatch(t, cli, prefix)
	w.waitFor(t, 5*time.Second) // the empty initial set

	a, err := etcdlb.Register(ctx, cli, prefix, lb.Endpoint{Addr: "10.0.0.2:80", Weight: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := etcdlb.Register(ctx, cli, prefix, lb.Endpoint{Addr: "10.0.0.1:80"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := w.waitFor(t, 5*time.Second, "10.0.0.1:80", "10.0.0.2:80")
	if got[1].Weight != 3 || got[0].Weight != 0 {
		t.Fatalf("weights not carried: %+v", got)
	}
	if a.Key() != prefix+"10.0.0.2:80" {
		t.Fatalf("Key() = %q", a.Key())
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-a.Done()
	if a.Err() != nil {
		t.Fatalf("Err() after Close = %v, want nil", a.Err())
	}
	w.waitFor(t, 5*time.Second, "10.0.0.1:80")
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 5*time.Second)
}

func TestListsExistingRegistrations(t *testing.T) {
	ctx := context.Background()
	cli := newClient(t, testenv.EtcdEndpoints(t))
	prefix := testenv.Prefix(t) + "/svc/"
	for _, addr := range []string{"b:1", "a:1", "c:1"} {
		r, err := etcdlb.Register(ctx, cli, prefix, lb.Endpoint{Addr: addr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close(context.Background()) })
	}
	// A key under another prefix that shares a stem is not included.
	if _, err := cli.Put(ctx, strings.TrimSuffix(prefix, "/")+"-other/x:1", `{"addr":"x:1"}`); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, cli, prefix)
	w.waitFor(t, 5*time.Second, "a:1", "b:1", "c:1")
}

// A server that dies without deregistering disappears when its lease runs
// out.
func TestCrashedServerExpires(t *testing.T) {
	ctx := context.Background()
	eps := testenv.EtcdEndpoints(t)
	cli := newClient(t, eps)
	prefix := testenv.Prefix(t) + "/svc/"
	w := startWatch(t, cli, prefix)

	serverCli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := etcdlb.Register(ctx, serverCli, prefix, lb.Endpoint{Addr: "crash:1"}, &etcdlb.RegisterOptions{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 5*time.Second, "crash:1")
	// The server's process dies: its client stops sending keepalives and
	// nothing revokes the lease.
	_ = serverCli.Close()
	select {
	case <-reg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done() not closed after the keepalive stopped")
	}
	if reg.Err() == nil {
		t.Fatal("Err() = nil for a lost registration")
	}
	start := time.Now()
	w.waitFor(t, 10*time.Second)
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("expired registration dropped after %v, TTL is 2s", el)
	}
}

func TestInvalidValuesAreIgnoredAndReported(t *testing.T) {
	ctx := context.Background()
	cli := newClient(t, testenv.EtcdEndpoints(t))
	prefix := testenv.Prefix(t) + "/svc/"
	for k, v := range map[string]string{"junk": "not json", "noaddr": `{"weight":2}`, "neg": `{"addr":"n:1","weight":-1}`} {
		if _, err := cli.Put(ctx, prefix+k, v); err != nil {
			t.Fatal(err)
		}
	}
	r, err := etcdlb.Register(ctx, cli, prefix, lb.Endpoint{Addr: "ok:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	w := startWatch(t, cli, prefix)
	w.waitFor(t, 5*time.Second, "ok:1")
	// A valid registration overwritten with junk leaves the set.
	if _, err := cli.Put(ctx, r.Key(), "garbage"); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 5*time.Second)
	w.mu.Lock()
	n := len(w.errs)
	w.mu.Unlock()
	if n < 4 {
		t.Fatalf("%d errors reported, want one per invalid value (4)", n)
	}
}

// The resolver survives an etcd restart: it lists again and follows the
// changes made after it.
func TestResolverSurvivesEtcdRestart(t *testing.T) {
	ctx := context.Background()
	srv := testenv.NewEtcd(t)
	cli := newClient(t, []string{srv.URL})
	prefix := "/svc/"
	a, err := etcdlb.Register(ctx, cli, prefix, lb.Endpoint{Addr: "a:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, cli, prefix)
	w.waitFor(t, 5*time.Second, "a:1")
	srv.Restart(t)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var b *etcdlb.Registration
	for b == nil {
		b, err = etcdlb.Register(rctx, cli, prefix, lb.Endpoint{Addr: "b:1"}, nil)
		if err != nil && rctx.Err() != nil {
			t.Fatalf("register after restart: %v", err)
		}
	}
	defer b.Close(ctx)
	w.waitFor(t, 20*time.Second, "a:1", "b:1")
	_ = a.Close(ctx)
	w.waitFor(t, 10*time.Second, "b:1")
}

// A Balancer opened on the resolver picks only registered endpoints and
// follows registrations.
func TestBalancerFollowsRegistry(t *testing.T) {
	ctx := context.Background()
	cli := newClient(t, testenv.EtcdEndpoints(t))
	prefix := testenv.Prefix(t) + "/svc/"
	a, err := etcdlb.Register(ctx, cli, prefix, lb.Endpoint{Addr: "127.0.0.1:1001"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := etcdlb.NewResolver(cli, prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	bal, err := lb.Open(octx, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bal.Close()
	pickAddrs := func() map[string]bool {
		seen := map[string]bool{}
		for range 20 {
			p, err := bal.Pick(lb.PickInfo{})
			if err != nil {
				t.Fatal(err)
			}
			seen[p.Backend.Addr()] = true
			p.Done(lb.DoneInfo{})
		}
		return seen
	}
	if got := pickAddrs(); len(got) != 1 || !got["127.0.0.1:1001"] {
		t.Fatalf("picked %v", got)
	}
	b, err := etcdlb.Register(ctx, cli, prefix, lb.Endpoint{Addr: "127.0.0.1:1002"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := pickAddrs()
		if len(got) == 1 && got["127.0.0.1:1002"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still picking %v after the registry changed", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	cli := newClient(t, testenv.EtcdEndpoints(t))
	if _, err := etcdlb.NewResolver(nil, "/p/", nil); err == nil {
		t.Error("NewResolver(nil client) succeeded")
	}
	if _, err := etcdlb.NewResolver(cli, "", nil); err == nil {
		t.Error("NewResolver(empty prefix) succeeded")
	}
	for name, c := range map[string]struct {
		prefix string
		ep     lb.Endpoint
		opts   *etcdlb.RegisterOptions
	}{
		"empty prefix":  {"", lb.Endpoint{Addr: "a:1"}, nil},
		"empty addr":    {"/p/", lb.Endpoint{}, nil},
		"space in addr": {"/p/", lb.Endpoint{Addr: "a 1"}, nil},
		"neg weight":    {"/p/", lb.Endpoint{Addr: "a:1", Weight: -1}, nil},
		"short TTL":     {"/p/", lb.Endpoint{Addr: "a:1"}, &etcdlb.RegisterOptions{TTL: 500 * time.Millisecond}},
		"negative TTL":  {"/p/", lb.Endpoint{Addr: "a:1"}, &etcdlb.RegisterOptions{TTL: -time.Second}},
	} {
		if _, err := etcdlb.Register(ctx, cli, c.prefix, c.ep, c.opts); err == nil {
			t.Errorf("%s: Register succeeded", name)
		}
	}
	if _, err := etcdlb.Register(ctx, nil, "/p/", lb.Endpoint{Addr: "a:1"}, nil); err == nil {
		t.Error("Register(nil client) succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := etcdlb.Register(cctx, cli, "/p/", lb.Endpoint{Addr: "a:1"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Register with a cancelled context = %v, want context.Canceled", err)
	}
}

package etcdlock_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/etcdlock"
	"github.com/scalekit-go/scalekit/lock/locktest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var bg = context.Background()

// Environment of the suite's child processes.
const (
	envEndpoints = "SCALEKIT_ETCDLOCK_TEST_ENDPOINTS"
	envPrefix    = "SCALEKIT_ETCDLOCK_TEST_PREFIX"
)

func client(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// newDriver returns a Driver on a client of its own, as another process
// would have.
func newDriver(t testing.TB, endpoints []string, prefix string) *etcdlock.Driver {
	t.Helper()
	d, err := etcdlock.New(client(t, endpoints), &etcdlock.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestConformance runs locktest against an etcd server of its own (the
// restart test stops and starts it), with child processes for the
// multi-process and paused-holder tests.
func TestConformance(t *testing.T) {
	endpoints := strings.Split(os.Getenv(envEndpoints), ",")
	prefix := os.Getenv(envPrefix)
	var srv *testenv.Server
	if testenv.ChildRole() == "" {
		srv = testenv.NewEtcd(t)
		endpoints = []string{srv.URL}
		prefix = testenv.Prefix(t) + "/"
	}
	admin := client(t, endpoints)
	adminDriver := newDriver(t, endpoints, prefix)
	locktest.Run(t, locktest.Harness{
		New:                  func(t *testing.T) driver.Locker { return newDriver(t, endpoints, prefix) },
		TTL:                  time.Second,
		Restart:              func(t *testing.T) { srv.Restart(t) },
		TokensSurviveRestart: true,
		DropKey: func(t *testing.T, key string) {
			if _, err := admin.Delete(bg, adminDriver.Dir(key), clientv3.WithPrefix()); err != nil {
				t.Fatal(err)
			}
		},
		ChildEnv: func(*testing.T) []string {
			return []string{envEndpoints + "=" + strings.Join(endpoints, ","), envPrefix + "=" + prefix}
		},
		Resource: func(t *testing.T, name string) locktest.Resource {
			return newFencedKey(t, admin, prefix+"resource/"+name)
		},
	})
}

// fencedKey is a value in etcd that accepts a write only with a fencing
// token at least as large as the last accepted one. The check and the
// write are one transaction; tokens are stored zero-padded so that etcd's
// byte-wise comparison orders them as numbers.
type fencedKey struct {
	cli        *clientv3.Client
	value, tok string
}

func padded(token int64) string { return fmt.Sprintf("%020d", token) }

func newFencedKey(t *testing.T, cli *clientv3.Client, name string) *fencedKey {
	t.Helper()
	f := &fencedKey{cli: cli, value: name + "/value", tok: name + "/token"}
	// Create the token once; the child process calls this too.
	_, err := cli.Txn(bg).If(clientv3.Compare(clientv3.CreateRevision(f.tok), "=", 0)).
		Then(clientv3.OpPut(f.tok, padded(0))).Commit()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fencedKey) Write(ctx context.Context, token int64, value string) error {
	resp, err := f.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(f.tok), ">", padded(token))).
		Else(clientv3.OpPut(f.tok, padded(token)), clientv3.OpPut(f.value, value)).Commit()
	if err != nil {
		return err
	}
	if resp.Succeeded { // a newer token is stored
		return fmt.Errorf("write %q with token %d: %w", f.value, token, lock.ErrFenced)
	}
	return nil
}

func (f *fencedKey) Read(ctx context.Context) (string, error) {
	resp, err := f.cli.Get(ctx, f.value)
	if err != nil || len(resp.Kvs) == 0 {
		return "", err
	}
	return string(resp.Kvs[0].Value), nil
}

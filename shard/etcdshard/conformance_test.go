package etcdshard_test

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/shard/driver"
	"github.com/scalekit-go/scalekit/shard/etcdshard"
	"github.com/scalekit-go/scalekit/shard/shardtest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newDriver(t *testing.T, endpoints []string, prefix string) *etcdshard.Driver {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	d, err := etcdshard.New(cli, &etcdshard.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	shardtest.Run(t, func(t *testing.T) shardtest.Harness {
		eps, prefix := testenv.EtcdEndpoints(t), testenv.Prefix(t)
		return shardtest.Harness{
			NewStore:     func(t *testing.T) driver.MapStore { return newDriver(t, eps, prefix) },
			NewDirectory: func(t *testing.T) driver.Directory { return newDriver(t, eps, prefix) },
		}
	})
}

func TestNewNilClient(t *testing.T) {
	if _, err := etcdshard.New(nil, nil); err == nil {
		t.Fatal("nil client accepted")
	}
}

package natsqueue_test

import (
	"os"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/natsqueue"
	"github.com/scalekit-go/scalekit/queue/queuetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// envURL carries the embedded server's URL to the suite's child
// processes (which connect to the parent's server).
const envURL = "SCALEKIT_NATSQUEUE_URL"

func newDriver(t *testing.T, url string, o *natsqueue.Options) *natsqueue.Driver {
	t.Helper()
	d, err := natsqueue.New(connect(t, url), o)
	if err != nil {
		t.Fatalf("natsqueue.New: %v", err)
	}
	return d
}

func run(t *testing.T, peers int, o *natsqueue.Options) {
	url := os.Getenv(envURL)
	if testenv.ChildRole() == "" {
		url = startNATS(t, peers)
	} else if url == "" {
		return
	}
	queuetest.Run(t, queuetest.Harness{
		New:        func(t *testing.T) driver.Queue { return newDriver(t, url, o) },
		Visibility: 2 * time.Second, // 1s leases lapsed under -race on a loaded machine (replicated acks)
		ChildEnv:   func(*testing.T) []string { return []string{envURL + "=" + url} },
		NoPriority: true,
	})
}

// TestConformance runs queuetest against one embedded nats-server.
func TestConformance(t *testing.T) {
	if r := testenv.ChildRole(); r != "" && os.Getenv("SCALEKIT_NATSQUEUE_CLUSTER") != "" {
		return
	}
	run(t, 1, nil)
}

// TestConformanceCluster runs queuetest against three embedded nodes
// forming one JetStream cluster, with every stream replicated three times.
func TestConformanceCluster(t *testing.T) {
	if testenv.ChildRole() != "" && os.Getenv("SCALEKIT_NATSQUEUE_CLUSTER") == "" {
		return
	}
	if testenv.ChildRole() == "" {
		t.Setenv("SCALEKIT_NATSQUEUE_CLUSTER", "1")
	}
	run(t, 3, &natsqueue.Options{Replicas: 3})
}

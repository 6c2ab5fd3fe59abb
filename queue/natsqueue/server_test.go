package natsqueue_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// freePort returns a loopback port nobody listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNATS runs nats-server in this process with JetStream (its store in
// t.TempDir()) and returns its client URL. With peers > 1 it starts that
// many nodes as one cluster and returns their URLs joined by commas.
func startNATS(t testing.TB, peers int) string {
	t.Helper()
	if peers <= 1 {
		s := runServer(t, &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
			ServerName: "n0", NoLog: true, NoSigs: true})
		return s.ClientURL()
	}
	ports := make([]int, peers)
	for i := range ports {
		ports[i] = freePort(t)
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	urls := make([]string, peers)
	servers := make([]*server.Server, peers)
	for i := range peers {
		o := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
			ServerName: fmt.Sprintf("n%d", i), NoLog: true, NoSigs: true}
		o.Cluster.Name = "skq"
		o.Cluster.Host = "127.0.0.1"
		o.Cluster.Port = ports[i]
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		servers[i] = runServer(t, o)
		urls[i] = servers[i].ClientURL()
	}
	// Wait until JetStream has a meta leader.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := hasLeader(servers)
		for _, s := range servers {
			ok = ok && s.JetStreamIsCurrent()
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nats cluster: no JetStream meta leader within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.Join(urls, ",")
}

func hasLeader(ss []*server.Server) bool {
	for _, s := range ss {
		if s.JetStreamIsLeader() {
			return true
		}
	}
	return false
}

func runServer(t testing.TB, o *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready within 30s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// connect returns a connection closed when t ends.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of several masters (no replicas) started
// by NewRedisCluster, with the 16384 hash slots split evenly between them,
// so that keys in different slots live on different processes and a
// multi-key command across slots fails with CROSSSLOT as in production.
type RedisCluster struct {
	// Nodes are the masters, in slot order.
	Nodes []*Server
	// Addrs are their client addresses.
	Addrs []string
}

// NewRedisCluster starts a cluster of masters Redis servers (at least 1)
// for t alone, stopped when t ends, and waits until every node reports the
// cluster state ok with all slots assigned.
func NewRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	if masters < 1 {
		t.Fatalf("testenv: NewRedisCluster with %d masters", masters)
	}
	bin := redisBinary(t)
	rc := &RedisCluster{}
	for range masters {
		s, err := startClusterNode(bin)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		t.Cleanup(func() { _ = s.stop(); _ = os.RemoveAll(s.dir) })
		rc.Nodes = append(rc.Nodes, s)
		rc.Addrs = append(rc.Addrs, s.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rc.form(ctx); err != nil {
		t.Fatalf("testenv: form redis cluster: %v", err)
	}
	return rc
}

// Client returns a cluster client of rc, closed when t ends.
func (rc *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startClusterNode starts one cluster-enabled Redis that owns no slots.
func startClusterNode(bin string) (*Server, error) {
	s, err := newServer("redis")
	if err != nil {
		return nil, err
	}
	s.argv = func(port int) []string {
		return []string{bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", s.dir, "--save", "", "--daemonize", "no",
			"--protected-mode", "no", "--logfile", "",
			"--maxclients", "2000", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-node-timeout", "5000",
		}
	}
	s.ready = func(ctx context.Context, s *Server) error {
		c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		defer c.Close()
		return c.Ping(ctx).Err()
	}
	if err := s.start(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	s.URL = "redis://" + s.Addr + "/0"
	return s, nil
}

// form introduces the nodes to each other, splits the slots and waits for
// every node to agree that the cluster is ok.
func (rc *RedisCluster) form(ctx context.Context) error {
	clients := make([]*redis.Client, len(rc.Nodes))
	for i, s := range rc.Nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		defer clients[i].Close()
	}
	per := 16384 / len(rc.Nodes)
	for i, c := range clients {
		lo, hi := i*per, (i+1)*per-1
		if i == len(clients)-1 {
			hi = 16383
		}
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			return fmt.Errorf("node %d: CLUSTER ADDSLOTSRANGE: %w", i, err)
		}
		if i > 0 {
			host, port, _ := strings.Cut(rc.Nodes[0].Addr, ":")
			if err := c.ClusterMeet(ctx, host, port).Err(); err != nil {
				return fmt.Errorf("node %d: CLUSTER MEET: %w", i, err)
			}
		}
	}
	want := fmt.Sprintf("cluster_known_nodes:%d", len(rc.Nodes))
	for {
		ok := true
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, want) || !strings.Contains(info, "cluster_slots_assigned:16384") {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("cluster state never became ok on every node"), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

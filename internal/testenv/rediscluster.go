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

// NewRedisCluster starts a Redis Cluster of masters nodes (no replicas)
// for t alone, stopped when t ends: the 16384 slots are split evenly, the
// nodes meet, and it returns once every node reports cluster_state:ok and
// knows the others. Give redis.ClusterOptions.Addrs the nodes' Addr.
// Unlike RedisOptions.Cluster (one node owning every slot), keys in
// different slots here live in different processes.
func NewRedisCluster(t testing.TB, masters int) []*Server {
	t.Helper()
	if masters < 1 {
		t.Fatalf("testenv: NewRedisCluster with %d masters", masters)
	}
	bin := redisBinary(t)
	nodes := make([]*Server, masters)
	for i := range nodes {
		s, err := newServer("redis")
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		t.Cleanup(func() { _ = s.stop(); _ = os.RemoveAll(s.dir) })
		s.argv = func(port int) []string {
			return []string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--dir", s.dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
				"--protected-mode", "no", "--logfile", "", "--maxclients", "2000",
				"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
				"--cluster-node-timeout", "2000"}
		}
		s.ready = func(ctx context.Context, s *Server) error {
			c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		}
		if err := s.start(); err != nil {
			_ = os.RemoveAll(s.dir)
			t.Fatalf("testenv: redis cluster node %d: %v", i, err)
		}
		s.URL = "redis://" + s.Addr + "/0"
		nodes[i] = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := formCluster(ctx, nodes); err != nil {
		t.Fatalf("testenv: redis cluster: %v", err)
	}
	return nodes
}

// formCluster assigns slot ranges, introduces every node to the first and
// waits until all agree.
func formCluster(ctx context.Context, nodes []*Server) error {
	clients := make([]*redis.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		defer clients[i].Close()
	}
	per := 16384 / len(nodes)
	for i, c := range clients {
		lo, hi := i*per, (i+1)*per-1
		if i == len(nodes)-1 {
			hi = 16383
		}
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE %d %d: %w", lo, hi, err)
		}
		// Distinct epochs, so that no collision resolution is needed.
		_ = c.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err()
	}
	host, port := splitAddr(nodes[0].Addr)
	for _, c := range clients[1:] {
		if err := c.ClusterMeet(ctx, host, port).Err(); err != nil {
			return fmt.Errorf("CLUSTER MEET: %w", err)
		}
	}
	want := "cluster_known_nodes:" + strconv.Itoa(len(nodes))
	for {
		ok := true
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, want) {
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

func splitAddr(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

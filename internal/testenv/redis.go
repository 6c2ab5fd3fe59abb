package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a dedicated Redis server.
type RedisOptions struct {
	// Durable turns on the append-only file with fsync on every write, so
	// that acknowledged writes survive Stop/Start and Kill/Start.
	Durable bool
	// Cluster starts the server in cluster mode as a one-node cluster that
	// owns all 16384 hash slots, so that a redis.ClusterClient works
	// against it (slot routing, MOVED handling, sharded pub/sub) and
	// multi-key commands across slots fail as they do in production.
	Cluster bool
}

var (
	redisOnce   sync.Once
	redisShared *Server
	redisErr    error
)

// RedisURL returns the URL of the shared Redis server of this test binary
// (SCALEKIT_REDIS_URL when set), starting it on first use. Tests sharing it
// keep their keys apart with Prefix(t).
func RedisURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvRedisURL); u != "" {
		return u
	}
	bin := redisBinary(t)
	redisOnce.Do(func() {
		redisShared, redisErr = startRedis(bin, nil)
		if redisErr == nil {
			registerShared(redisShared)
		}
	})
	if redisErr != nil {
		t.Fatalf("testenv: %v", redisErr)
	}
	return redisShared.URL
}

// RedisClient returns a client of the shared Redis server, closed when t
// ends.
func RedisClient(t testing.TB) *redis.Client {
	t.Helper()
	return redisClientFor(t, RedisURL(t))
}

func redisClientFor(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("testenv: parse redis url %q: %v", url, err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// NewRedis starts a Redis server for t alone, stopped when t ends. Use it for
// tests that stop, kill, pause or flush the engine. It ignores
// SCALEKIT_REDIS_URL: such tests need a process they own.
func NewRedis(t testing.TB, opts *RedisOptions) *Server {
	t.Helper()
	bin := redisBinary(t)
	s, err := startRedis(bin, opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = s.stop(); _ = os.RemoveAll(s.dir) })
	return s
}

// Client returns a go-redis client of a Redis Server, closed when t ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	return redisClientFor(t, s.URL)
}

func redisBinary(t testing.TB) string {
	t.Helper()
	bin := lookBinary("redis-server")
	if bin == "" {
		missing(t, "redis-server", "redis-server")
	}
	return bin
}

func startRedis(bin string, opts *RedisOptions) (*Server, error) {
	if opts == nil {
		opts = &RedisOptions{}
	}
	s, err := newServer("redis")
	if err != nil {
		return nil, err
	}
	s.argv = func(port int) []string {
		args := []string{bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", s.dir, "--save", "", "--daemonize", "no",
			"--protected-mode", "no", "--logfile", "",
			"--maxclients", "2000",
		}
		if opts.Cluster {
			args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"))
		}
		if opts.Durable {
			args = append(args, "--appendonly", "yes", "--appendfsync", "always")
		} else {
			args = append(args, "--appendonly", "no")
		}
		return args
	}
	s.ready = func(ctx context.Context, s *Server) error {
		c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 0})
		defer c.Close()
		if err := c.Ping(ctx).Err(); err != nil || !opts.Cluster {
			return err
		}
		return clusterReady(ctx, c)
	}
	if err := s.start(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	s.URL = "redis://" + s.Addr + "/0"
	return s, nil
}

// clusterReady assigns every slot to the node if none is assigned (a fresh
// node; after a restart nodes.conf keeps them) and waits until the cluster
// state is ok.
func clusterReady(ctx context.Context, c *redis.Client) error {
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if strings.Contains(info, "cluster_slots_assigned:0") {
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE: %w", err)
		}
	}
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("cluster state never became ok"), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// NewRedisSentinel starts a Redis Sentinel for t alone that monitors
// master under name (quorum 1), stopped when t ends, and waits until it
// answers for the master. Clients reach the master through it with
// redis.NewFailoverClient or a UniversalClient with MasterName.
func NewRedisSentinel(t testing.TB, master *Server, name string) *Server {
	t.Helper()
	bin := redisBinary(t)
	s, err := newServer("redis")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = s.stop(); _ = os.RemoveAll(s.dir) })
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		t.Fatalf("testenv: master address %q: %v", master.Addr, err)
	}
	conf := filepath.Join(s.dir, "sentinel.conf")
	s.argv = func(p int) []string {
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nsentinel monitor %s %s %s 1\n", p, s.dir, name, host, port)
		_ = os.WriteFile(conf, []byte(text), 0o600)
		return []string{bin, conf, "--sentinel"}
	}
	s.ready = func(ctx context.Context, s *Server) error {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		defer sc.Close()
		_, err := sc.GetMasterAddrByName(ctx, name).Result()
		return err
	}
	if err := s.start(); err != nil {
		t.Fatalf("testenv: sentinel: %v", err)
	}
	s.URL = "redis://" + s.Addr
	return s
}

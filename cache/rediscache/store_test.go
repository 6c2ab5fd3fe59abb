package rediscache_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

func TestNewRejectsBadInput(t *testing.T) {
	if _, err := rediscache.New(nil, nil); err == nil {
		t.Fatal("nil client accepted")
	}
	c := testenv.RedisClient(t)
	for _, n := range []int{-1, 512<<20 + 1} {
		if _, err := rediscache.New(c, &rediscache.Options{MaxValueSize: n}); err == nil {
			t.Fatalf("MaxValueSize %d accepted", n)
		}
	}
	s, _ := rediscache.New(c, nil)
	if _, err := s.Subscribe(context.Background(), nil); err == nil {
		t.Fatal("nil subscriber accepted")
	}
}

func TestIsRetryable(t *testing.T) {
	s, _ := rediscache.New(testenv.RedisClient(t), nil)
	cases := map[error]bool{
		errors.New("LOADING Redis is loading the dataset in memory"):        true,
		errors.New("READONLY You can't write against a read only replica."): true,
		context.DeadlineExceeded:                        true,
		fmt.Errorf("set: %w", driver.ErrTooLarge):       false,
		errors.New("WRONGTYPE Operation against a key"): false,
		nil: false,
	}
	for err, want := range cases {
		if got := s.IsRetryable(err); got != want {
			t.Errorf("IsRetryable(%v) = %v, want %v", err, got, want)
		}
	}
	// A real connection error from a stopped server is retryable.
	srv := testenv.NewRedis(t, nil)
	rs, _ := rediscache.New(srv.Client(t), nil)
	srv.Stop(t)
	_, _, err := rs.Get(context.Background(), "k")
	if err == nil || !rs.IsRetryable(err) {
		t.Fatalf("Get on a stopped server: err %v, retryable %v", err, rs.IsRetryable(err))
	}
}

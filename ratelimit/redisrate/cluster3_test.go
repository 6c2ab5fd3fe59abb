package redisrate_test

import (
	"context"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

// Every decision is one script on one key, so prefixes and keys with
// braces work on a three-master Cluster for every algorithm.
func TestHashTagsOnThreeMasterCluster(t *testing.T) {
	c := testenv.NewRedisCluster(t, 3).Client(t)
	ctx := context.Background()
	for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.TokenBucket, ratelimit.FixedWindow, ratelimit.SlidingWindow, ratelimit.SlidingLog} {
		lim := ratelimit.Limit{Algorithm: alg, Rate: 2, Period: time.Hour}
		if alg.Bucket() {
			lim.Burst = 2
		}
		for _, prefix := range []string{"", "{}", "rl{", "{rl}:", "a}{b"} {
			l, err := wrap(redisrate.New(c, lim, &redisrate.Options{Prefix: prefix + alg.String() + ":", Timeout: testTimeout}))
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"plain", "}k", "{", "{}", "a{b}c"} {
				for i := range 3 {
					d, err := l.Allow(ctx, key, 1)
					if err != nil {
						t.Fatalf("%v prefix %q key %q: %v", alg, prefix, key, err)
					}
					if d.Allowed != (i < 2) {
						t.Fatalf("%v prefix %q key %q: decision %d allowed=%v", alg, prefix, key, i, d.Allowed)
					}
				}
			}
		}
	}
}

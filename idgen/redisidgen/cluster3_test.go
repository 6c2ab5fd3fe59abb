package redisidgen_test

import (
	"context"
	"testing"

	"github.com/scalekit-go/scalekit/idgen/redisidgen"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

// One INCRBY on one key per block: prefixes and sequence names with braces
// work on a three-master Cluster, and blocks never overlap.
func TestHashTagsOnThreeMasterCluster(t *testing.T) {
	c := testenv.NewRedisCluster(t, 3).Client(t)
	ctx := context.Background()
	for _, prefix := range []string{"", "{}", "id{", "{id}:", "a}{b"} {
		s, err := redisidgen.New(c, &redisidgen.Options{KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"plain", "}k", "{", "{}", "a{b}c"} {
			a, err := s.NextBlock(ctx, name, 10)
			if err != nil {
				t.Fatalf("prefix %q name %q: %v", prefix, name, err)
			}
			b, err := s.NextBlock(ctx, name, 10)
			if err != nil || b != a+10 {
				t.Fatalf("prefix %q name %q: blocks %d then %d, %v", prefix, name, a, b, err)
			}
		}
	}
}

package memorycache_test

import (
	"testing"

	"github.com/scalekit-go/scalekit/cache/cachetest"
	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
)

func TestConformance(t *testing.T) {
	cachetest.Run(t, cachetest.Harness{
		NewStore: func(t *testing.T) driver.Store {
			s, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxBytes: 1 << 20, Shards: 4})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		// In one process a second "instance" shares the store and its bus.
		Peer:     func(t *testing.T, s driver.Store) driver.Store { return s },
		TooLarge: make([]byte, 1<<20),
	})
}

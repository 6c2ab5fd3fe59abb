package cachetest_test

import (
	"testing"

	"github.com/scalekit-go/scalekit/cache/cachetest"
	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
)

// A backend's conformance test. NewStore opens the store under test, Peer
// opens a second instance on the same engine (a second client of the same
// Redis; here the same in-process store), and TooLarge is a value the
// backend must refuse.
func Example() {
	_ = func(t *testing.T) {
		cachetest.Run(t, cachetest.Harness{
			NewStore: func(t *testing.T) driver.Store {
				s, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxBytes: 1 << 20})
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			Peer:     func(t *testing.T, s driver.Store) driver.Store { return s },
			TooLarge: make([]byte, 1<<20),
		})
	}
}

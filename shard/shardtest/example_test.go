package shardtest_test

import (
	"testing"

	"github.com/scalekit-go/scalekit/shard/driver"
	"github.com/scalekit-go/scalekit/shard/memshard"
	"github.com/scalekit-go/scalekit/shard/shardtest"
)

func TestMemshardPassesTheSuite(t *testing.T) {
	shardtest.Run(t, func(t *testing.T) shardtest.Harness {
		s := memshard.New()
		return shardtest.Harness{
			NewStore:     func(*testing.T) driver.MapStore { return s },
			NewDirectory: func(*testing.T) driver.Directory { return s },
		}
	})
}

// A backend's conformance test hands the suite a fresh backend per
// sub-test (here the memory one).
func Example() {
	_ = func(t *testing.T) {
		shardtest.Run(t, func(t *testing.T) shardtest.Harness {
			s := memshard.New()
			return shardtest.Harness{
				NewStore:     func(*testing.T) driver.MapStore { return s },
				NewDirectory: func(*testing.T) driver.Directory { return s },
			}
		})
	}
	// Output:
}

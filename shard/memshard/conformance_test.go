package memshard_test

import (
	"testing"

	"github.com/scalekit-go/scalekit/shard/driver"
	"github.com/scalekit-go/scalekit/shard/memshard"
	"github.com/scalekit-go/scalekit/shard/shardtest"
)

func TestConformance(t *testing.T) {
	shardtest.Run(t, func(t *testing.T) shardtest.Harness {
		s := memshard.New()
		return shardtest.Harness{
			NewStore:     func(*testing.T) driver.MapStore { return s },
			NewDirectory: func(*testing.T) driver.Directory { return s },
		}
	})
}

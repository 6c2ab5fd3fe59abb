package memsaga_test

import (
	"testing"

	"github.com/scalekit-go/scalekit/saga/memsaga"
	"github.com/scalekit-go/scalekit/saga/sagatest"
)

func TestConformance(t *testing.T) {
	sagatest.Run(t, sagatest.Harness{
		New: func(*testing.T) sagatest.Backend { return memsaga.New(nil) },
	})
}

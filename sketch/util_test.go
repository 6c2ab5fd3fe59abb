package sketch_test

import (
	"math"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/sketch"
)

func nan() float64 { return math.NaN() }

// mustPanic fails unless f panics with a message containing want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, want) {
			t.Fatalf("panic %v, want one mentioning %q", r, want)
		}
	}()
	f()
}

func TestZeroValuesPanicClearly(t *testing.T) {
	var b sketch.Bloom
	mustPanic(t, "zero Bloom", func() { b.AddString("x") })
	mustPanic(t, "zero Bloom", func() { b.TestAndAddString("x") })
	var c sketch.CountMin
	if c.CountString("x") != 0 || c.Total() != 0 {
		t.Fatal("zero CountMin counts something")
	}
	mustPanic(t, "zero CountMin", func() { c.AddString("x", 1) })
}

package driver_test

import (
	"context"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
)

// A Store is also useful on its own for short-lived keys, such as
// idempotency keys: Add claims a key for exactly one caller across every
// instance sharing the engine.
func ExampleStore() {
	ctx := context.Background()
	var s driver.Store
	s, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxBytes: 64 << 20}) // rediscache in production
	if err != nil {
		panic(err)
	}
	first, _ := s.Add(ctx, "idem:order-42", []byte("pending"), time.Hour)
	second, _ := s.Add(ctx, "idem:order-42", []byte("pending"), time.Hour)
	v, ok, _ := s.Get(ctx, "idem:order-42")
	fmt.Println(first, second, string(v), ok)
	// Output: true false pending true
}

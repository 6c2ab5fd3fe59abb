package queuetest_test

import (
	"fmt"

	"github.com/scalekit-go/scalekit/queue/queuetest"
)

// OrderChecker flags a key's messages acked out of publish order, or two
// handlers of one key running at once.
func ExampleOrderChecker() {
	oc := queuetest.NewOrderChecker()
	oc.Begin("k")
	oc.End("k", 0, true)
	oc.Begin("k")
	oc.End("k", 2, true) // message 1 was skipped
	fmt.Println(oc.Errors())
	// Output: [key "k": message 2 acked when 1 was next]
}

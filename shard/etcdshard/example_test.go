package etcdshard_test

import (
	"fmt"

	"github.com/scalekit-go/scalekit/shard/etcdshard"
)

func ExampleNew() {
	_, err := etcdshard.New(nil, nil)
	fmt.Println(err)
	// Output: etcdshard.New: nil client
}

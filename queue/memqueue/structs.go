package memqueue

import (
	"container/heap"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// entry is one subscription's copy of a message.
type entry struct {
	msg        driver.Message
	seq        uint64
	deliveries int
	lastErr    string
	lease      uint64    // current lease id (0 when not leased)
	slot       int32     // index in sub.slots while leased
	deadline   time.Time // lease deadline
}

// forget drops what a settled entry references, so that the slab it was
// allocated in keeps no message bodies alive.
func (e *entry) forget() {
	e.msg = driver.Message{}
	e.lastErr = ""
}

// fifo holds ready entries appended in publish order (one per priority).
type fifo struct {
	items []*entry
	head  int
}

func (f *fifo) len() int      { return len(f.items) - f.head }
func (f *fifo) push(e *entry) { f.items = append(f.items, e) }
func (f *fifo) peek() *entry  { return f.items[f.head] }
func (f *fifo) pop() *entry {
	e := f.items[f.head]
	f.items[f.head] = nil
	f.head++
	if f.head == len(f.items) {
		f.items, f.head = f.items[:0], 0
	} else if f.head > 1024 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return e
}

// better reports whether a is delivered before b: higher priority, then
// lower sequence.
func better(a, b *entry) bool {
	if a.msg.Priority != b.msg.Priority {
		return a.msg.Priority > b.msg.Priority
	}
	return a.seq < b.seq
}

// readyHeap holds ready entries that arrived out of publish order
// (retries, expired leases, due delays, next of a key, redrives).
type readyHeap []*entry

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return better(h[i], h[j]) }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *readyHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// delayHeap holds entries waiting for NotBefore.
type delayHeap []*entry

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if !h[i].msg.NotBefore.Equal(h[j].msg.NotBefore) {
		return h[i].msg.NotBefore.Before(h[j].msg.NotBefore)
	}
	return h[i].seq < h[j].seq
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(*entry)) }
func (h *delayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// leaseItem is the deadline of the leases of one Receive batch (or of
// one Extend); entries whose lease was settled or extended since are
// skipped when it is popped.
type leaseItem struct {
	es       []*entry
	leases   []uint64 // the lease id each entry had
	deadline time.Time
}

type leaseHeap []*leaseItem

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h leaseHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *leaseHeap) Push(x any)        { *h = append(*h, x.(*leaseItem)) }
func (h *leaseHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

var (
	_ heap.Interface = (*readyHeap)(nil)
	_ heap.Interface = (*delayHeap)(nil)
	_ heap.Interface = (*leaseHeap)(nil)
)

// deadEntry is a dead letter.
type deadEntry struct {
	dl  driver.DeadLetter
	seq uint64
}

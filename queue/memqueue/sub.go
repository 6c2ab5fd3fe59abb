package memqueue

import (
	"container/heap"
	"strings"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
)

const levels = 19 // priorities -9..9

// sub is one subscription's state. Every method is called with mu held.
type sub struct {
	d       *Driver
	seq     uint64
	ready   [levels]fifo
	late    readyHeap
	delayed delayHeap
	slots   []*entry // leased entries, by slot (nil: free)
	free    []int32  // free slots
	leased  int      // entries leased
	expiry  leaseHeap
	keys    map[string][]*entry // per key: the head (active) then the waiting
	waiting int                 // entries queued behind their key's head
	dead    []*deadEntry
	deadIdx map[string]*deadEntry
	deadSeq uint64
	backlog int64
	notify  map[chan struct{}]struct{}
	woke    bool // add made entries ready: wake after the batch
}

func newSub(d *Driver) *sub {
	return &sub{d: d, keys: map[string][]*entry{},
		deadIdx: map[string]*deadEntry{}, notify: map[chan struct{}]struct{}{}}
}

// add enqueues a new entry (published or redriven).
func (s *sub) add(e *entry, now time.Time) {
	s.seq++
	e.seq = s.seq
	s.backlog++
	if k := e.msg.Key; k != "" {
		q := s.keys[k]
		s.keys[k] = append(q, e)
		if len(q) > 0 {
			s.waiting++
			return
		}
	}
	if e.msg.NotBefore.After(now) {
		heap.Push(&s.delayed, e)
		return
	}
	s.ready[e.msg.Priority-driverMinPriority].push(e)
	s.woke = true
}

// makeReady puts an entry that is not new back among the ready ones, or
// among the delayed ones when its NotBefore is still ahead.
func (s *sub) makeReady(e *entry, now time.Time) {
	if e.msg.NotBefore.After(now) {
		heap.Push(&s.delayed, e)
		return
	}
	heap.Push(&s.late, e)
	s.wake()
}

// remove takes a settled entry out of the backlog and lets the next
// message of its key go.
func (s *sub) remove(e *entry, now time.Time) {
	s.backlog--
	k := e.msg.Key
	if k == "" {
		return
	}
	q := s.keys[k]
	if len(q) == 0 || q[0] != e {
		return
	}
	if len(q) == 1 {
		delete(s.keys, k)
		return
	}
	q[0] = nil
	q = q[1:]
	s.keys[k] = q
	s.waiting--
	s.makeReady(q[0], now)
}

// tick expires leases and promotes due delayed entries.
func (s *sub) tick(now time.Time) {
	for len(s.expiry) > 0 && !s.expiry[0].deadline.After(now) {
		it := heap.Pop(&s.expiry).(*leaseItem)
		for i, e := range it.es {
			if e.lease != it.leases[i] || !e.deadline.Equal(it.deadline) {
				continue // settled or extended since
			}
			s.unlease(e)
			heap.Push(&s.late, e)
			s.wake()
		}
	}
	for len(s.delayed) > 0 && !s.delayed[0].msg.NotBefore.After(now) {
		heap.Push(&s.late, heap.Pop(&s.delayed))
		s.wake()
	}
}

// next pops the best ready entry, or nil.
func (s *sub) next() *entry {
	var best *entry
	lvl := -1
	for i := levels - 1; i >= 0; i-- {
		if s.ready[i].len() > 0 {
			best, lvl = s.ready[i].peek(), i
			break
		}
	}
	if len(s.late) > 0 && (best == nil || better(s.late[0], best)) {
		return heap.Pop(&s.late).(*entry)
	}
	if best != nil {
		s.ready[lvl].pop()
	}
	return best
}

// receive leases up to max ready entries for vis, appending their
// deliveries to out.
func (s *sub) receive(out []driver.Delivery, max int, vis time.Duration, now time.Time) []driver.Delivery {
	s.tick(now)
	first := len(out)
	var it *leaseItem
	for len(out)-first < max {
		e := s.next()
		if e == nil {
			break
		}
		if it == nil {
			n := min(max, s.readyLen()+1)
			it = &leaseItem{es: make([]*entry, 0, n), leases: make([]uint64, 0, n), deadline: now.Add(vis)}
		}
		e.deliveries++
		e.deadline = now.Add(vis)
		s.leaseEntry(e, s.d.handles.Add(1))
		it.es = append(it.es, e)
		it.leases = append(it.leases, e.lease)
		out = append(out, driver.Delivery{Message: e.msg, Deliveries: e.deliveries, LastError: e.lastErr})
	}
	if it == nil {
		return out
	}
	heap.Push(&s.expiry, it)
	// The handles of the batch are cut from one string: "<lease>.<slot>"
	// in hexadecimal.
	var scratch [256 * 26]byte
	buf := scratch[:0]
	var ends [256]int
	for off := 0; off < len(it.es); off += len(ends) {
		part := it.es[off:min(off+len(ends), len(it.es))]
		buf = buf[:0]
		for i, e := range part {
			buf = appendHex(buf, e.lease)
			buf = append(buf, '.')
			buf = appendHex(buf, uint64(e.slot))
			ends[i] = len(buf)
		}
		all, start := string(buf), 0
		for i := range part {
			out[first+off+i].Handle = all[start:ends[i]]
			start = ends[i]
		}
	}
	return out
}

// leaseEntry records e as leased under lease id.
func (s *sub) leaseEntry(e *entry, id uint64) {
	var slot int32
	if n := len(s.free); n > 0 {
		slot = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		slot = int32(len(s.slots))
		s.slots = append(s.slots, nil)
	}
	s.slots[slot] = e
	e.lease, e.slot = id, slot
	s.leased++
}

// lease returns the live lease named handle, or nil.
func (s *sub) lease(handle string, now time.Time) *entry {
	s.tick(now)
	return s.byHandle(handle)
}

// byHandle returns the entry a handle names while its lease is live.
func (s *sub) byHandle(handle string) *entry {
	dot := strings.IndexByte(handle, '.')
	if dot < 0 {
		return nil
	}
	id, ok1 := parseHex(handle[:dot])
	slot, ok2 := parseHex(handle[dot+1:])
	if !ok1 || !ok2 || slot >= uint64(len(s.slots)) {
		return nil
	}
	if e := s.slots[slot]; e != nil && e.lease == id {
		return e
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// appendHex appends v in lower-case hexadecimal.
func appendHex(b []byte, v uint64) []byte {
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = hexDigits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// parseHex parses 1 to 16 lower-case hexadecimal digits written as
// appendHex writes them (no leading zeros), so that one lease has exactly
// one handle.
func parseHex(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func (s *sub) unlease(e *entry) {
	if e.lease == 0 {
		return
	}
	s.slots[e.slot] = nil
	s.free = append(s.free, e.slot)
	e.lease = 0
	s.leased--
}

func (s *sub) nack(e *entry, n driver.Nack, now time.Time) {
	s.unlease(e)
	switch n.Action {
	case driver.ActionRetry:
		e.lastErr = n.Error
		e.msg.NotBefore = now.Add(n.Delay)
		s.makeReady(e, now)
	case driver.ActionDeadLetter:
		s.remove(e, now)
		s.bury(driver.DeadLetter{Message: e.msg, Deliveries: e.deliveries, Reason: n.Reason, LastError: n.Error, DeadAt: now})
		e.forget()
	default:
		s.remove(e, now)
		e.forget()
	}
}

func (s *sub) bury(dl driver.DeadLetter) {
	if old, ok := s.deadIdx[dl.Message.ID]; ok {
		s.unbury(old)
	}
	s.deadSeq++
	de := &deadEntry{dl: dl, seq: s.deadSeq}
	s.dead = append(s.dead, de)
	s.deadIdx[dl.Message.ID] = de
}

func (s *sub) unbury(de *deadEntry) {
	delete(s.deadIdx, de.dl.Message.ID)
	for i, x := range s.dead {
		if x == de {
			s.dead = append(s.dead[:i], s.dead[i+1:]...)
			return
		}
	}
}

func (s *sub) wake() {
	for ch := range s.notify {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (s *sub) stats(now time.Time) driver.Stats {
	s.tick(now)
	st := driver.Stats{Backlog: s.backlog, InFlight: int64(s.leased), DeadLetters: int64(len(s.dead))}
	consider := func(e *entry) {
		if st.Oldest.IsZero() || e.msg.PublishedAt.Before(st.Oldest) {
			st.Oldest = e.msg.PublishedAt
		}
	}
	for i := range s.ready {
		for _, e := range s.ready[i].items[s.ready[i].head:] {
			consider(e)
		}
	}
	for _, e := range s.late {
		consider(e)
	}
	for _, e := range s.delayed {
		consider(e)
	}
	for _, e := range s.slots {
		if e != nil {
			consider(e)
		}
	}
	for _, q := range s.keys {
		for _, e := range q {
			consider(e)
		}
	}
	return st
}

// readyLen estimates the ready entries (for sizing a batch).
func (s *sub) readyLen() int {
	n := len(s.late)
	for i := range s.ready {
		n += s.ready[i].len()
	}
	return n
}

package algo

import "github.com/scalekit-go/scalekit/ratelimit/driver"

type stamp struct {
	t int64
	n int64
}

// stampLog is a FIFO ring of admitted (time, units) pairs with their sum.
// It never holds more than Rate entries, since every entry has n ≥ 1.
type stampLog struct {
	buf        []stamp
	head, size int
	sum        int64
}

func (q *stampLog) push(s stamp, max int) {
	if q.size == len(q.buf) {
		c := 2 * len(q.buf)
		if c < 4 {
			c = 4
		}
		if c > max {
			c = max
		}
		nb := make([]stamp, c)
		for i := 0; i < q.size; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = s
	q.size++
	q.sum += s.n
}

func (q *stampLog) at(i int) stamp { return q.buf[(q.head+i)%len(q.buf)] }

func (q *stampLog) pop() {
	q.sum -= q.buf[q.head].n
	q.head = (q.head + 1) % len(q.buf)
	q.size--
}

func (q *stampLog) newest() (int64, bool) {
	if q.size == 0 {
		return 0, false
	}
	return q.at(q.size - 1).t, true
}

// slidingLog admits n units iff the units admitted in (now-P, now] plus n
// are at most R.
func slidingLog(l driver.Limit, s *State, now int64, n int) driver.Decision {
	p := int64(l.Period)
	r := int64(l.Rate)
	s.init = true
	q := &s.log
	for q.size > 0 && q.at(0).t <= now-p {
		q.pop()
	}
	d := driver.Decision{Limit: l.Rate}
	if q.sum+int64(n) > r {
		// Wait until enough of the oldest units have left the window.
		need := q.sum + int64(n) - r
		for i := 0; i < q.size; i++ {
			need -= q.at(i).n
			if need <= 0 {
				d.RetryAfter = dur(q.at(i).t + p - now)
				break
			}
		}
		d.Remaining = int(r - q.sum)
		newest, _ := q.newest()
		d.ResetAfter = dur(newest + p - now)
		return d
	}
	if newest, ok := q.newest(); ok && newest >= now {
		// Same instant (or a clock that went back): merge into the newest
		// entry so the log stays ordered and within Rate entries.
		q.buf[(q.head+q.size-1)%len(q.buf)].n += int64(n)
		q.sum += int64(n)
	} else {
		q.push(stamp{t: now, n: int64(n)}, l.Rate)
	}
	d.Allowed = true
	d.Remaining = int(r - q.sum)
	newest, _ := q.newest()
	d.ResetAfter = dur(newest + p - now)
	return d
}

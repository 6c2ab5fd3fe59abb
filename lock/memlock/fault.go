package memlock

import "time"

// FailNext makes the next len(errs) driver calls (of any method) return
// errs in order instead of doing their work. Pass ErrTransient for an
// error that package lock retries.
func (m *Locker) FailNext(errs ...error) {
	m.mu.Lock()
	m.fail = append(m.fail, errs...)
	m.mu.Unlock()
}

// Expire ends the lease on key now, as if its TTL had run out or the
// engine had lost the key; the holder learns of it at its next renewal.
// It reports whether a live lease was ended.
func (m *Locker) Expire(key string) bool {
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, live := m.liveLocked(key, now)
	if live {
		m.freeLocked(e)
	}
	return live
}

// Restart simulates an engine restart that loses every lease but keeps the
// fencing-token counters (as a durable engine does).
func (m *Locker) Restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.keys {
		if e.owner != "" {
			m.freeLocked(e)
		}
	}
}

// Held returns the number of live leases (expired ones that nobody has
// looked at yet are counted until a call touches their key).
func (m *Locker) Held() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holders
}

// TTL returns the time left on key's lease as of now, or 0 if it is free.
func (m *Locker) TTL(key string) time.Duration {
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, live := m.liveLocked(key, now)
	if !live {
		return 0
	}
	return e.deadline.Sub(now)
}

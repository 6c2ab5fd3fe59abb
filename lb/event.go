package lb

import "time"

// EventKind says what happened to an endpoint.
type EventKind int

// Event kinds, in rough lifecycle order.
const (
	// EventAdded: the endpoint joined the set.
	EventAdded EventKind = iota + 1
	// EventDraining: the endpoint left the set and gets no new calls.
	EventDraining
	// EventRemoved: a draining endpoint finished (or hit its deadline) and
	// was closed.
	EventRemoved
	// EventHealthy: active health checks passed Rise times in a row.
	EventHealthy
	// EventUnhealthy: active health checks failed Fall times in a row.
	EventUnhealthy
	// EventEjected: outlier detection took the endpoint out of rotation for
	// Event.Period.
	EventEjected
	// EventEjectionSkipped: the endpoint qualified for ejection but the
	// ejected share was already at its cap.
	EventEjectionSkipped
	// EventHalfOpen: an ejection ended; the endpoint takes calls on probation.
	EventHalfOpen
	// EventRecovered: a half-open endpoint served enough calls to be back.
	EventRecovered
	// EventBreaker: the endpoint's circuit breaker changed state (Detail
	// holds "closed", "half-open" or "open").
	EventBreaker
	// EventResolverError: the Resolver of a Balancer made by Open failed
	// after its first update, or reported a bad endpoint (Detail holds the
	// error; Addr is empty). The last good set stays in use.
	EventResolverError
)

var eventNames = [...]string{"", "added", "draining", "removed", "healthy", "unhealthy",
	"ejected", "ejection-skipped", "half-open", "recovered", "breaker", "resolver-error"}

// String returns the kind's lower-case name.
func (k EventKind) String() string {
	if k <= 0 || int(k) >= len(eventNames) {
		return "unknown"
	}
	return eventNames[k]
}

// Event is one endpoint state change, delivered to Options.OnEvent.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Addr is the endpoint's address.
	Addr string
	// Time is when it happened, on the balancer's clock.
	Time time.Time
	// Detail says why (ejection trigger, breaker state, probe error).
	Detail string
	// Period is the ejection period of EventEjected.
	Period time.Duration
}

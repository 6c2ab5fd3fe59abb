package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ProblemContentType is the media type of RFC 9457 problem details.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object. It is also an error, so
// handlers can return one and let Error write it.
//
// Type defaults to "about:blank" on the wire, and Title to the status text.
// Extensions are extra members serialised next to the standard ones (for
// example "errors" with per-field validation failures); they must not reuse
// the standard member names. The zero value is a 500 problem.
type Problem struct {
	Type       string
	Title      string
	Status     int
	Detail     string
	Instance   string
	Extensions map[string]any
}

// NewProblem returns a problem with status and detail; Title is the status
// text.
func NewProblem(status int, detail string) *Problem {
	return &Problem{Status: status, Title: http.StatusText(status), Detail: detail}
}

// Error returns the title and detail.
func (p *Problem) Error() string {
	s := p.Title
	if s == "" {
		s = http.StatusText(p.status())
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// HTTPStatus returns the problem's status (500 when unset).
func (p *Problem) HTTPStatus() int { return p.status() }

func (p *Problem) status() int {
	if p.Status < 400 || p.Status > 599 {
		return http.StatusInternalServerError
	}
	return p.Status
}

// MarshalJSON writes the standard members followed by the extensions.
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(p.Extensions)+5)
	for k, v := range p.Extensions {
		m[k] = v
	}
	typ := p.Type
	if typ == "" {
		typ = "about:blank"
	}
	title := p.Title
	if title == "" {
		title = http.StatusText(p.status())
	}
	m["type"], m["title"], m["status"] = typ, title, p.status()
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	if p.Instance != "" {
		m["instance"] = p.Instance
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the standard members; the others go to Extensions.
func (p *Problem) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*p = Problem{}
	str := func(k string, dst *string) error {
		if v, ok := m[k]; ok {
			delete(m, k)
			return json.Unmarshal(v, dst)
		}
		return nil
	}
	for k, dst := range map[string]*string{"type": &p.Type, "title": &p.Title, "detail": &p.Detail, "instance": &p.Instance} {
		if err := str(k, dst); err != nil {
			return err
		}
	}
	if v, ok := m["status"]; ok {
		delete(m, "status")
		if err := json.Unmarshal(v, &p.Status); err != nil {
			return err
		}
	}
	if len(m) > 0 {
		p.Extensions = make(map[string]any, len(m))
		for k, v := range m {
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			p.Extensions[k] = x
		}
	}
	return nil
}

// WriteProblem writes p as application/problem+json with its status. The
// request ID of r's context, if any, is added as the "request_id" member.
// Problem responses are never cached (Cache-Control: no-store).
func WriteProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if r != nil {
		if id := RequestIDFrom(r.Context()); id != "" {
			if _, set := p.Extensions["request_id"]; !set {
				q := *p
				q.Extensions = make(map[string]any, len(p.Extensions)+1)
				for k, v := range p.Extensions {
					q.Extensions[k] = v
				}
				q.Extensions["request_id"] = id
				p = &q
			}
		}
	}
	body, err := json.Marshal(p)
	if err != nil { // an extension that cannot be encoded
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
		p = &Problem{Status: http.StatusInternalServerError}
	}
	h := w.Header()
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Set("Content-Type", ProblemContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.status())
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// StatusError is implemented by errors that know their HTTP status. Error
// uses it; every bad-input error of this package implements it with 400.
type StatusError interface {
	error
	HTTPStatus() int
}

// ClientMessager is implemented by errors whose message is meant for API
// clients. Error (through ProblemFor) puts ClientMessage, and nothing else
// of the error chain, into the detail of a 4xx problem: a handler that
// wraps a client-safe error with internals (SQL text, host names) exposes
// only the client-safe part. ClientError builds such errors; every
// bad-input error of this package is one.
type ClientMessager interface {
	ClientMessage() string
}

// ClientError returns an error with an HTTP status whose message is safe to
// show to API clients: Error writes it as a problem with that status and,
// for a 4xx status, msg as the detail, however the error was wrapped
// (errors.Is and errors.As see through wrapping as usual). Messages of
// 5xx statuses are never shown.
//
//	if errors.Is(err, sql.ErrNoRows) {
//		return fmt.Errorf("load user %d: %w", id, httpx.ClientError(404, "user not found"))
//	}
func ClientError(status int, msg string) error { return &inputError{msg: msg, status: status} }

// inputError is the type of this package's bad-input sentinels and of
// ClientError: its message is client-safe.
type inputError struct {
	msg    string
	status int
	base   error // the sentinel this one refines, for errors.Is
}

func (e *inputError) Error() string         { return e.msg }
func (e *inputError) HTTPStatus() int       { return e.status }
func (e *inputError) ClientMessage() string { return e.msg }
func (e *inputError) Unwrap() error         { return e.base }

func badInput(msg string) error { return &inputError{msg: msg, status: http.StatusBadRequest} }

// inputErrorf refines the sentinel base (an *inputError) with details: the
// result has base's status, matches base with errors.Is, and its whole
// message is client-safe. Only put request-derived values in the details.
func inputErrorf(base error, format string, args ...any) error {
	st := http.StatusBadRequest
	var ie *inputError
	if errors.As(base, &ie) {
		st = ie.status
	}
	return &inputError{msg: base.Error() + ": " + fmt.Sprintf(format, args...), status: st, base: base}
}

// Error writes err as a problem: a *Problem as itself; an
// *http.MaxBytesError as 413; an error with an HTTPStatus method (every
// parsing error of this package, ClientError) with that status. The detail
// of such a 4xx problem is the ClientMessage of the first ClientMessager in
// err's chain, never the text of the chain around it, so a handler that
// wraps a client-safe error with SQL or host names leaks none of them; a
// status error that is not a ClientMessager gets no detail. Anything else
// is a 500 whose detail does not reveal the error (log it yourself).
func Error(w http.ResponseWriter, r *http.Request, err error) {
	WriteProblem(w, r, ProblemFor(err))
}

// ProblemFor maps err to the problem Error would write.
func ProblemFor(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return NewProblem(http.StatusRequestEntityTooLarge,
			"request body larger than "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
	}
	var se StatusError
	if errors.As(err, &se) {
		st := se.HTTPStatus()
		var cm ClientMessager
		if st >= 400 && st < 500 && errors.As(err, &cm) {
			return NewProblem(st, cm.ClientMessage())
		}
		return NewProblem(st, "")
	}
	return NewProblem(http.StatusInternalServerError, "")
}

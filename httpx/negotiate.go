package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// ErrInvalidAccept is returned (wrapped) for a malformed Accept header.
var ErrInvalidAccept = badInput("httpx: invalid Accept header")

// ErrNotAcceptable is returned by Negotiate when no offer is acceptable; it
// maps to 406.
var ErrNotAcceptable error = &inputError{msg: "httpx: none of the available representations is acceptable", status: http.StatusNotAcceptable}

// ErrUnsupportedMediaType is returned by DecodeJSON for a non-JSON body; it
// maps to 415.
var ErrUnsupportedMediaType error = &inputError{msg: "httpx: request body must be application/json", status: http.StatusUnsupportedMediaType}

// ErrInvalidJSON is returned (wrapped) by DecodeJSON for a body that is not
// valid JSON for the target.
var ErrInvalidJSON = badInput("httpx: invalid JSON body")

// MediaRange is one element of an Accept header.
type MediaRange struct {
	Type, Subtype string  // lower case; "*" for wildcards
	Q             float64 // quality, 0–1
	Params        map[string]string
}

const maxHeaderElems = 64

// ParseAccept parses an Accept header value (RFC 9110 §12.5.1). An empty
// value yields nil (everything is acceptable). At most 64 ranges are
// accepted.
func ParseAccept(s string) ([]MediaRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxHeaderElems {
		return nil, inputErrorf(ErrInvalidAccept, "more than %d media ranges", maxHeaderElems)
	}
	out := make([]MediaRange, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(p)
		if err != nil {
			return nil, inputErrorf(ErrInvalidAccept, "%q: %v", p, err)
		}
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok || typ == "" || sub == "" || (typ == "*" && sub != "*") {
			return nil, inputErrorf(ErrInvalidAccept, "%q", p)
		}
		mr := MediaRange{Type: typ, Subtype: sub, Q: 1}
		if qs, ok := params["q"]; ok {
			q, err := parseQ(qs)
			if err != nil {
				return nil, inputErrorf(ErrInvalidAccept, "%q: %v", p, err)
			}
			mr.Q = q
			delete(params, "q")
		}
		if len(params) > 0 {
			mr.Params = params
		}
		out = append(out, mr)
	}
	return out, nil
}

// parseQ parses a qvalue: 0, 1, or up to three decimals.
func parseQ(s string) (float64, error) {
	if len(s) == 0 || len(s) > 5 {
		return 0, errors.New("bad q value")
	}
	q, err := strconv.ParseFloat(s, 64)
	if err != nil || q < 0 || q > 1 || (s[0] != '0' && s[0] != '1') {
		return 0, errors.New("bad q value")
	}
	return q, nil
}

// specificity ranks how precisely mr matches typ/sub: -1 no match, 0 */*,
// 1 type/*, 2 exact.
func (mr MediaRange) specificity(typ, sub string) int {
	switch {
	case mr.Type == "*":
		return 0
	case !strings.EqualFold(mr.Type, typ):
		return -1
	case mr.Subtype == "*":
		return 1
	case strings.EqualFold(mr.Subtype, sub):
		return 2
	}
	return -1
}

// Negotiate returns the offer (a media type such as "application/json")
// the request's Accept header prefers: the highest quality of the most
// specific matching range, ties broken by the order of offers. With no
// Accept header the first offer wins. It returns an error wrapping
// ErrInvalidAccept for a malformed header and ErrNotAcceptable when nothing
// matches.
func Negotiate(r *http.Request, offers ...string) (string, error) {
	if len(offers) == 0 {
		return "", ErrNotAcceptable
	}
	ranges, err := ParseAccept(r.Header.Get("Accept"))
	if err != nil {
		return "", err
	}
	if ranges == nil {
		return offers[0], nil
	}
	best, bestQ := "", 0.0
	for _, off := range offers {
		typ, sub, _ := strings.Cut(off, "/")
		spec, q := -1, 0.0
		for _, mr := range ranges {
			if s := mr.specificity(typ, sub); s > spec {
				spec, q = s, mr.Q
			}
		}
		if spec >= 0 && q > bestQ {
			best, bestQ = off, q
		}
	}
	if best == "" {
		return "", ErrNotAcceptable
	}
	return best, nil
}

// Negotiation answers 406 problem+json (or 400 for a malformed Accept
// header) before the handler runs when none of offers is acceptable. Offers
// default to application/json. Problem responses are always sent as
// problem+json regardless.
func Negotiation(offers ...string) Middleware {
	if len(offers) == 0 {
		offers = []string{"application/json"}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := Negotiate(r, offers...); err != nil {
				Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// WriteJSON writes v as application/json with status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// DecodeJSON decodes the request body into v, rejecting unknown fields and
// trailing data. Errors map to problems through Error: a non-JSON
// Content-Type is 415, a body over BodyLimit is 413, anything malformed is
// 400 (wrapping ErrInvalidJSON).
func DecodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return ErrUnsupportedMediaType
		}
	}
	if r.Body == nil {
		return inputErrorf(ErrInvalidJSON, "empty body")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		if errors.Is(err, io.EOF) {
			return inputErrorf(ErrInvalidJSON, "empty body")
		}
		return inputErrorf(ErrInvalidJSON, "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return inputErrorf(ErrInvalidJSON, "trailing data after the JSON value")
	}
	return nil
}

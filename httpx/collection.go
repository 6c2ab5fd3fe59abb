package httpx

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Errors of the collection helpers; each maps to 400 through Error.
var (
	// ErrInvalidLimit is returned (wrapped) for a limit that is not an
	// integer in [1, MaxLimit].
	ErrInvalidLimit = badInput("httpx: invalid limit")
	// ErrInvalidOffset is returned (wrapped) for an offset that is not an
	// integer in [0, MaxOffset].
	ErrInvalidOffset = badInput("httpx: invalid offset")
	// ErrInvalidSort is returned (wrapped) for a malformed sort parameter
	// or one naming a field that cannot be sorted on.
	ErrInvalidSort = badInput("httpx: invalid sort")
	// ErrInvalidFields is returned (wrapped) for a malformed fields
	// parameter or one naming an unknown field.
	ErrInvalidFields = badInput("httpx: invalid fields")
	// ErrInvalidFilter is returned (wrapped) for a filter on an unknown
	// field, with an operator the field does not allow, or a repeated one.
	ErrInvalidFilter = badInput("httpx: invalid filter")
)

// Query parameter names read by ParseCollection.
const (
	ParamLimit  = "limit"
	ParamOffset = "offset"
	ParamCursor = "cursor"
	ParamSort   = "sort"
	ParamFields = "fields"
)

// Filter operators. A filter is written field=value (OpEq) or
// field[op]=value.
const (
	OpEq  = "eq"
	OpNe  = "ne"
	OpLt  = "lt"
	OpLte = "lte"
	OpGt  = "gt"
	OpGte = "gte"
	OpIn  = "in" // comma-separated values
)

const (
	maxSortFields  = 16
	maxFieldsCount = 64
	maxFilters     = 32
	maxParamLen    = 1024
)

// CollectionSpec says which collection parameters an endpoint accepts.
// The zero value accepts limit (default 20, at most 100) and offset only.
// A CollectionSpec is read-only once in use and may be shared.
type CollectionSpec struct {
	// DefaultLimit is the page size without a limit parameter (default 20).
	DefaultLimit int
	// MaxLimit is the largest accepted limit (default 100).
	MaxLimit int
	// MaxOffset is the largest accepted offset (default 10,000: deep
	// offsets are slow in every database; use cursors past it).
	MaxOffset int
	// Sortable lists the fields sort may name; none means sort is refused.
	Sortable []string
	// DefaultSort applies when there is no sort parameter.
	DefaultSort []SortField
	// Fields lists the fields the fields parameter may select; none means
	// the parameter is refused.
	Fields []string
	// Filters maps each filterable field (a query parameter name) to the
	// operators it allows; nil or empty allows OpEq only.
	Filters map[string][]string
	// Cursors, when set, enables the cursor parameter: a cursor must verify
	// under this codec, and cursor and offset are mutually exclusive.
	Cursors *CursorCodec
	// Strict refuses query parameters that are neither collection
	// parameters nor filters (default: they are ignored).
	Strict bool
}

// SortField is one element of a sort parameter.
type SortField struct {
	Name string
	Desc bool
}

// String renders the field as it appears in a sort parameter: -name or
// name.
func (f SortField) String() string {
	if f.Desc {
		return "-" + f.Name
	}
	return f.Name
}

// Filter is one parsed filter parameter.
type Filter struct {
	Field  string
	Op     string   // one of the Op constants
	Values []string // one value, or several for OpIn
}

// Collection is a parsed collection request. Cursor is the verified
// payload of the cursor parameter (nil without one); decode it as it was
// encoded (CursorCodec.EncodeBytes or Encode: use json.Unmarshal).
type Collection struct {
	Limit   int
	Offset  int
	Cursor  []byte
	Sort    []SortField
	Fields  []string
	Filters []Filter
}

// Filter returns the first filter on field, if any.
func (c *Collection) Filter(field string) (Filter, bool) {
	for _, f := range c.Filters {
		if f.Field == field {
			return f, true
		}
	}
	return Filter{}, false
}

func (s *CollectionSpec) defaults() (def, maxLimit, maxOffset int) {
	def, maxLimit, maxOffset = s.DefaultLimit, s.MaxLimit, s.MaxOffset
	if maxLimit <= 0 {
		maxLimit = 100
	}
	if def <= 0 {
		def = min(20, maxLimit)
	}
	if maxOffset <= 0 {
		maxOffset = 10_000
	}
	return def, maxLimit, maxOffset
}

// ParseCollection parses the collection parameters of r's URL query
// against spec (nil means the zero CollectionSpec): limit, offset, cursor,
// sort (for example sort=-created,+name; a '+' that query decoding turned
// into a space is accepted), fields (fields=id,name) and filters
// (status=open, price[gte]=10, tag[in]=a,b). Every malformed or disallowed
// value is an error that Error answers as 400 problem+json; a repeated
// collection parameter is an error too.
func ParseCollection(r *http.Request, spec *CollectionSpec) (*Collection, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badInput("httpx: malformed query string")
	}
	return ParseCollectionQuery(q, spec)
}

// ParseCollectionQuery is ParseCollection on parsed query parameters.
func ParseCollectionQuery(q url.Values, spec *CollectionSpec) (*Collection, error) {
	if spec == nil {
		spec = &CollectionSpec{}
	}
	def, maxLimit, maxOffset := spec.defaults()
	c := &Collection{Limit: def}
	one := func(name string) (string, bool, error) {
		vs, ok := q[name]
		if !ok {
			return "", false, nil
		}
		if len(vs) != 1 {
			return "", true, badInput("httpx: parameter " + name + " given more than once")
		}
		if len(vs[0]) > maxParamLen {
			return "", true, badInput("httpx: parameter " + name + " too long")
		}
		return vs[0], true, nil
	}
	v, ok, err := one(ParamLimit)
	if err != nil {
		return nil, err
	}
	if ok {
		n, err := parseBoundedInt(v, 1, maxLimit)
		if err != nil {
			return nil, inputErrorf(ErrInvalidLimit, "%q (want an integer from 1 to %d)", v, maxLimit)
		}
		c.Limit = n
	}
	v, hasOffset, err := one(ParamOffset)
	if err != nil {
		return nil, err
	}
	if hasOffset {
		n, err := parseBoundedInt(v, 0, maxOffset)
		if err != nil {
			return nil, inputErrorf(ErrInvalidOffset, "%q (want an integer from 0 to %d)", v, maxOffset)
		}
		c.Offset = n
	}
	v, ok, err = one(ParamCursor)
	if err != nil {
		return nil, err
	}
	if ok {
		if spec.Cursors == nil {
			return nil, inputErrorf(ErrInvalidCursor, "this collection does not page by cursor")
		}
		if hasOffset {
			return nil, inputErrorf(ErrInvalidCursor, "cursor and offset cannot be combined")
		}
		if c.Cursor, err = spec.Cursors.DecodeBytes(v); err != nil {
			return nil, err
		}
	}
	v, ok, err = one(ParamSort)
	if err != nil {
		return nil, err
	}
	if ok {
		if c.Sort, err = ParseSort(v, spec.Sortable...); err != nil {
			return nil, err
		}
	} else {
		c.Sort = slices.Clone(spec.DefaultSort)
	}
	v, ok, err = one(ParamFields)
	if err != nil {
		return nil, err
	}
	if ok {
		if c.Fields, err = ParseFields(v, spec.Fields...); err != nil {
			return nil, err
		}
	}
	if c.Filters, err = parseFilters(q, spec); err != nil {
		return nil, err
	}
	return c, nil
}

// parseBoundedInt parses a plain decimal integer (no sign, no spaces) in
// [lo, hi].
func parseBoundedInt(s string, lo, hi int) (int, error) {
	if s == "" || len(s) > 10 {
		return 0, ErrInvalidLimit
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrInvalidLimit
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, ErrInvalidLimit
	}
	return n, nil
}

// isFieldName reports whether s is a plausible field name: letters,
// digits, '_', '.' and '-' (not first), at most 64 bytes.
func isFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case (c >= '0' && c <= '9') || c == '.' || c == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ParseSort parses a sort parameter: comma-separated field names, each
// optionally prefixed with '-' (descending) or '+' (ascending, also
// accepted as a space, which is what '+' becomes in a decoded query).
// Fields must be among allowed (none allowed: every sort is refused), may
// not repeat, and at most 16 are accepted. Errors wrap ErrInvalidSort.
func ParseSort(s string, allowed ...string) ([]SortField, error) {
	if len(s) > maxParamLen {
		return nil, inputErrorf(ErrInvalidSort, "too long")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxSortFields {
		return nil, inputErrorf(ErrInvalidSort, "more than %d fields", maxSortFields)
	}
	out := make([]SortField, 0, len(parts))
	for _, p := range parts {
		var f SortField
		switch {
		case strings.HasPrefix(p, "-"):
			f.Desc, p = true, p[1:]
		case strings.HasPrefix(p, "+"), strings.HasPrefix(p, " "):
			p = p[1:]
		}
		if !isFieldName(p) {
			return nil, inputErrorf(ErrInvalidSort, "%q is not a field name", p)
		}
		if !slices.Contains(allowed, p) {
			return nil, inputErrorf(ErrInvalidSort, "cannot sort by %q", p)
		}
		for _, o := range out {
			if o.Name == p {
				return nil, inputErrorf(ErrInvalidSort, "%q given twice", p)
			}
		}
		f.Name = p
		out = append(out, f)
	}
	return out, nil
}

// ParseFields parses a fields parameter: comma-separated names from
// allowed, without repeats (at most 64). Errors wrap ErrInvalidFields.
func ParseFields(s string, allowed ...string) ([]string, error) {
	if len(s) > maxParamLen {
		return nil, inputErrorf(ErrInvalidFields, "too long")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxFieldsCount {
		return nil, inputErrorf(ErrInvalidFields, "more than %d fields", maxFieldsCount)
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if !isFieldName(p) {
			return nil, inputErrorf(ErrInvalidFields, "%q is not a field name", p)
		}
		if !slices.Contains(allowed, p) {
			return nil, inputErrorf(ErrInvalidFields, "unknown field %q", p)
		}
		if slices.Contains(out, p) {
			return nil, inputErrorf(ErrInvalidFields, "%q given twice", p)
		}
		out = append(out, p)
	}
	return out, nil
}

var filterOps = []string{OpEq, OpNe, OpLt, OpLte, OpGt, OpGte, OpIn}

func parseFilters(q url.Values, spec *CollectionSpec) ([]Filter, error) {
	var out []Filter
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic order and errors
	for _, k := range keys {
		switch k {
		case ParamLimit, ParamOffset, ParamCursor, ParamSort, ParamFields:
			continue
		}
		field, op := k, OpEq
		if i := strings.IndexByte(k, '['); i >= 0 {
			if !strings.HasSuffix(k, "]") {
				return nil, inputErrorf(ErrInvalidFilter, "malformed parameter %q", k)
			}
			field, op = k[:i], k[i+1:len(k)-1]
			if !slices.Contains(filterOps, op) {
				return nil, inputErrorf(ErrInvalidFilter, "unknown operator %q", op)
			}
		}
		ops, known := spec.Filters[field]
		if !known {
			if spec.Strict || field != k {
				return nil, inputErrorf(ErrInvalidFilter, "cannot filter by %q", field)
			}
			continue
		}
		if len(ops) == 0 {
			ops = []string{OpEq}
		}
		if !slices.Contains(ops, op) {
			return nil, inputErrorf(ErrInvalidFilter, "%q does not allow operator %q", field, op)
		}
		vs := q[k]
		if len(vs) != 1 {
			return nil, inputErrorf(ErrInvalidFilter, "%q given more than once", k)
		}
		if len(vs[0]) > maxParamLen {
			return nil, inputErrorf(ErrInvalidFilter, "%q too long", k)
		}
		f := Filter{Field: field, Op: op, Values: []string{vs[0]}}
		if op == OpIn {
			f.Values = strings.Split(vs[0], ",")
			if len(f.Values) > 100 {
				return nil, inputErrorf(ErrInvalidFilter, "%q has more than 100 values", k)
			}
		}
		if len(out) == maxFilters {
			return nil, inputErrorf(ErrInvalidFilter, "more than %d filters", maxFilters)
		}
		out = append(out, f)
	}
	return out, nil
}

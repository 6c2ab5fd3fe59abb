package doccheck

import (
	"fmt"
	"regexp"
	"strings"
)

// Block is one fenced code block of a Markdown file.
type Block struct {
	File    string // path of the Markdown file, as given to Extract
	Line    int    // 1-based line of the block's first code line
	Lang    string // language tag of the fence, lower case ("go", "sh")
	Code    string // the block's content, indentation of the fence removed
	Prelude string // Go declarations from a doccheck:prelude comment
	// PreludeLine is the 1-based line of the prelude's first code line.
	PreludeLine int
	Skip        string // reason given by a doccheck:skip comment
}

// IsGo reports whether b is fenced as Go.
func (b Block) IsGo() bool { return b.Lang == "go" || b.Lang == "golang" }

var fenceRE = regexp.MustCompile("^( *)(```+|~~~+)[ \t]*([^ \t`]*)")

type directive struct {
	kind, text string
	line       int // line of the comment's opening
	textLine   int // line where text starts
}

// Extract returns the fenced code blocks of a Markdown document. It reports
// a fence without a language tag, an unterminated fence, a doccheck comment
// that does not precede a block, an unknown doccheck directive and a skip
// without a reason as errors, all prefixed with file:line.
func Extract(file, text string) ([]Block, []error) {
	var (
		blocks  []Block
		errs    []error
		pending []directive
	)
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		ln := lines[i]
		trimmed := strings.TrimSpace(ln)
		if strings.HasPrefix(trimmed, "<!-- doccheck:") {
			start := i
			body := strings.TrimPrefix(trimmed, "<!-- doccheck:")
			var parts []string
			for !strings.Contains(body, "-->") {
				parts = append(parts, body)
				i++
				if i >= len(lines) {
					fail(start+1, "unterminated doccheck comment")
					return blocks, errs
				}
				body = lines[i]
			}
			parts = append(parts, body[:strings.Index(body, "-->")])
			all := strings.Join(parts, "\n")
			kind, rest, _ := strings.Cut(all, "\n")
			kind, first, _ := strings.Cut(strings.TrimSpace(kind), " ")
			d := directive{kind: kind, line: start + 1, textLine: start + 2}
			switch kind {
			case "skip":
				d.text = strings.TrimSpace(first + " " + rest)
				if d.text == "" {
					fail(start+1, "doccheck:skip needs a reason")
				}
			case "prelude":
				d.text = rest
				if strings.TrimSpace(first) != "" {
					d.text = first + "\n" + rest
					d.textLine = start + 1
				}
			default:
				fail(start+1, "unknown doccheck directive %q (want skip or prelude)", kind)
				continue
			}
			pending = append(pending, d)
			continue
		}
		m := fenceRE.FindStringSubmatch(ln)
		if m == nil {
			if trimmed != "" && len(pending) > 0 {
				fail(pending[0].line, "doccheck:%s comment is not followed by a code block", pending[0].kind)
				pending = nil
			}
			continue
		}
		indent, fence, lang := len(m[1]), m[2], strings.ToLower(m[3])
		open := i + 1
		if lang == "" {
			fail(open, "code block without a language tag: fence Go as ```go and commands as ```sh (or ```text)")
		}
		var code []string
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if t := strings.TrimLeft(l, " "); strings.HasPrefix(t, fence) && strings.TrimSpace(strings.TrimLeft(t, fence[:1])) == "" {
				closed = true
				break
			}
			for n := 0; n < indent && strings.HasPrefix(l, " "); n++ {
				l = l[1:]
			}
			code = append(code, l)
		}
		if !closed {
			fail(open, "unterminated code block")
		}
		b := Block{File: file, Line: open + 1, Lang: lang, Code: strings.Join(code, "\n")}
		for _, d := range pending {
			switch d.kind {
			case "skip":
				b.Skip = d.text
			case "prelude":
				b.Prelude, b.PreludeLine = d.text, d.textLine
			}
		}
		if len(pending) > 0 && !b.IsGo() {
			fail(pending[0].line, "doccheck:%s comment precedes a %q block, not a go block", pending[0].kind, lang)
		}
		pending = nil
		blocks = append(blocks, b)
	}
	if len(pending) > 0 {
		fail(pending[0].line, "doccheck:%s comment is not followed by a code block", pending[0].kind)
	}
	return blocks, errs
}

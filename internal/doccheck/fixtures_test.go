package doccheck

import (
	"fmt"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	md := strings.Join([]string{
		"# title",                 // 1
		"```go",                   // 2
		"x := 1",                  // 3
		"```",                     // 4
		"",                        // 5
		"1. item",                 // 6
		"   ```sh",                // 7
		"   go test ./...",        // 8
		"   ```",                  // 9
		"<!-- doccheck:prelude",   // 10
		"var ctx context.Context", // 11
		"-->",                     // 12
		"<!-- doccheck:skip needs a live cluster -->", // 13
		"````go", // 14
		"```",    // 15
		"y := 2", // 16
		"````",   // 17
	}, "\n")
	blocks, errs := Extract("a.md", md)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []Block{
		{File: "a.md", Line: 3, Lang: "go", Code: "x := 1"},
		{File: "a.md", Line: 8, Lang: "sh", Code: "go test ./..."},
		{File: "a.md", Line: 15, Lang: "go", Code: "```\ny := 2", Prelude: "var ctx context.Context\n", PreludeLine: 11, Skip: "needs a live cluster"},
	}
	if fmt.Sprintf("%+v", blocks) != fmt.Sprintf("%+v", want) {
		t.Errorf("blocks\n got %+v\nwant %+v", blocks, want)
	}
}

func TestExtractRejects(t *testing.T) {
	for _, tc := range []struct {
		name, md, want string
	}{
		{"untagged fence", "text\n```\nfoo()\n```\n", "a.md:2: code block without a language tag"},
		{"unterminated fence", "```go\nfoo()\n", "a.md:1: unterminated code block"},
		{"skip without reason", "<!-- doccheck:skip -->\n```go\nfoo()\n```\n", "a.md:1: doccheck:skip needs a reason"},
		{"directive before prose", "<!-- doccheck:skip flaky -->\nsome prose\n```go\nfoo()\n```\n", "a.md:1: doccheck:skip comment is not followed by a code block"},
		{"directive at end", "<!-- doccheck:skip flaky -->\n", "a.md:1: doccheck:skip comment is not followed by a code block"},
		{"directive before shell", "<!-- doccheck:prelude\nvar x int\n-->\n```sh\nls\n```\n", `a.md:1: doccheck:prelude comment precedes a "sh" block`},
		{"unknown directive", "<!-- doccheck:ignore -->\n```go\nfoo()\n```\n", `a.md:1: unknown doccheck directive "ignore"`},
		{"unterminated directive", "<!-- doccheck:prelude\nvar x int\n", "a.md:1: unterminated doccheck comment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := Extract("a.md", tc.md)
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Errorf("errors = %v, want one starting with %q", errs, tc.want)
			}
		})
	}
}

// TestCheckReportsBrokenSnippets feeds Check snippets that must fail, and
// ones that must pass, against the real repository.
func TestCheckReportsBrokenSnippets(t *testing.T) {
	root := repoRoot(t)
	md := strings.Join([]string{
		"```go",                                // 1
		"g, err := idgen.NewSnowflake(7, nil)", // 2: fine
		"if err != nil { return err }",         // 3
		"id, err := g.Next(ctx)",               // 4: ctx undefined
		"```",                                  // 5
		"<!-- doccheck:prelude",                // 6
		"var ctx context.Context",              // 7
		"-->",                                  // 8
		"```go",                                // 9
		"g, err := idgen.NewSnowflake(\"seven\", nil)",        // 10: wrong type
		"if err != nil { return err }",                        // 11
		"_, _ = g.Next(ctx)",                                  // 12: dropped error
		"_, _ = g.Next(ctx) // a demo: the ID is thrown away", // 13: explained
		"```",                      // 14
		"```go",                    // 15
		"func broken() {",          // 16
		"\tidgen.NoSuchFunction()", // 17
		"}",                        // 18
		"```",                      // 19
		"```go",                    // 20
		"x := := 1",                // 21: syntax
		"```",                      // 22
		"<!-- doccheck:skip shows a compile error on purpose -->", // 23
		"```go",                  // 24
		"idgen.NoSuchFunction()", // 25
		"```",                    // 26
		"```go",                  // 27
		"package demo",           // 28
		"",                       // 29
		"import \"github.com/scalekit-go/scalekit/idgen\"", // 30
		"",                                       // 31
		"var S = idgen.EncodeBase62(42)",         // 32: fine
		"```",                                    // 33
		"```go",                                  // 34
		"func good() error {",                    // 35
		"\t_, err := idgen.NewSnowflake(1, nil)", // 36
		"\treturn err",                           // 37
		"}",                                      // 38
		"```",                                    // 39
		"```go",                                  // 40
		"var _ = etcdlock.New",                   // 41: checked in the lock/etcdlock module
		"```",                                    // 42
	}, "\n")
	blocks, errs := Extract("x/a.md", md)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, err := range Check(root, blocks) {
		got = append(got, err.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"x/a.md:2: snippet does not compile:\n\tx/a.md:4:",
		"undefined: ctx",
		"x/a.md:10:",
		"x/a.md:12:",
		"error assigned to _",
		"x/a.md:17:",
		"NoSuchFunction",
		"x/a.md:21: snippet does not compile:\n\tx/a.md:21:",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("want %q in the report:\n%s", want, all)
		}
	}
	for _, bad := range []string{"x/a.md:3:", "x/a.md:13:", "x/a.md:25:", "x/a.md:28:", "x/a.md:41:"} {
		if strings.Contains(all, bad) {
			t.Errorf("unexpected %q in the report:\n%s", bad, all)
		}
	}
	if len(got) != 4 {
		t.Errorf("got %d failing snippets, want 4 (blocks at lines 2, 10, 16, 21):\n%s", len(got), all)
	}
}

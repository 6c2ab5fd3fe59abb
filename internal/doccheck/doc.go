// Package doccheck checks that the Go snippets in the repository's Markdown
// files compile against the current API.
//
// [Extract] reads the fenced code blocks of a Markdown file. Every fence
// carries a language tag, so a Go snippet cannot hide in an untagged block:
// ```go blocks are checked, ```sh, ```text and the like are not. [Check]
// type-checks the Go blocks:
//
//   - a block with a package clause is a whole file;
//   - a block of declarations (func, type, var, const) is put in a file of
//     package main;
//   - any other block is a fragment of statements and becomes the body of
//     func _() error { …; return nil }.
//
// Imports are added for the package names a snippet uses (the standard
// library and third-party packages the snippets need, and every public
// scalekit package), and "declared and not used" errors are ignored, since a
// snippet often stops where the reader's own code would go on. An error
// result assigned to the blank identifier is reported unless a comment on
// the same line says why it may be dropped: readers copy snippets, and a
// dropped error there (an empty key from the environment, a failed
// connection) becomes a silent failure in their service.
//
// Names the reader's code would supply (ctx, a database handle, a User type)
// are declared in a hidden prelude, an HTML comment right before the block:
//
//	<!-- doccheck:prelude
//	var ctx context.Context
//	type User struct{ Name string }
//	-->
//
// A block that is Go but deliberately not compilable opts out with
// <!-- doccheck:skip reason -->; the reason is required.
//
// A snippet that imports a package of a nested module (lock/etcdlock,
// lb/etcdlb) is checked in that module. Type information comes from
// `go list -export`, so the check reuses the build cache.
package doccheck

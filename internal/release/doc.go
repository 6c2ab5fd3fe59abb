// Package release holds the test of scripts/release.sh: it runs the script
// on a copy of the tree, publishes the tagged modules into a file-based
// GOPROXY, and builds a fresh module that `go get`s the root and a nested
// module at the new version. The package has no non-test code.
package release

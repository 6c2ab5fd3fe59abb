// Package cachetest is the conformance suite for cache backends. A backend
// passes it by calling Run from a test with a Harness that makes stores on
// a real engine; the suite drives the stores through cache.Cache (the
// concrete type applications use) and reports every failure as a named
// sub-test with an explanation.
package cachetest

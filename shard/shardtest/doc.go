// Package shardtest is the conformance suite for shard's drivers (map
// stores and directories). A backend's conformance_test.go calls
//
//	shardtest.Run(t, func(t *testing.T) shardtest.Harness { … })
//
// and the suite exercises the driver through package shard's concrete
// types, as named sub-tests that explain each failure.
package shardtest

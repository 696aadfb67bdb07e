// Package cluster holds the throwaway SLURM cluster that hpcorch's
// integration tests, `make demo` and CI run on, and the tests that check
// the cluster itself.
//
// The cluster is brought up by `make cluster-up` (minicluster.sh up) and
// torn down by `make cluster-down`. It is a test bed, not part of the SDK:
// no hpcorch package imports this one.
package cluster

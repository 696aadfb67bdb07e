package sshx

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// Client, server and listener must be closed and waited for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

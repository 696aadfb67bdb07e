//go:build !unix

package slurm

import (
	"context"
	"errors"
	"time"
)

// errNoLocal reports that the local scheduler needs a Unix system.
var errNoLocal = errors.New("slurm: the local scheduler needs a Unix system")

// LocalOptions configures a Local scheduler; see the Unix build.
type LocalOptions struct {
	StateDir   string
	Shell      string
	SubmitDir  string
	MaxRunning int
	KillWait   time.Duration
	MinJobAge  time.Duration
}

// Local is unavailable on this system: every method returns an error.
type Local struct{}

// ErrClosed is returned by a Local's Submit after Close.
var ErrClosed = errors.New("slurm: scheduler closed")

// NewLocal returns a Local whose methods all fail on this system.
func NewLocal(LocalOptions) *Local { return &Local{} }

// Submit fails on this system.
func (*Local) Submit(context.Context, JobSpec) (string, error) { return "", errNoLocal }

// Status fails on this system.
func (*Local) Status(context.Context, []string) (map[string]Job, error) { return nil, errNoLocal }

// List fails on this system.
func (*Local) List(context.Context) ([]Job, error) { return nil, errNoLocal }

// Cancel fails on this system.
func (*Local) Cancel(context.Context, string) error { return errNoLocal }

// OutputPath fails on this system.
func (*Local) OutputPath(context.Context, string) (string, error) { return "", errNoLocal }

// Close does nothing.
func (*Local) Close() error { return nil }

// Host returns "localhost".
func (*Local) Host() string { return "localhost" }

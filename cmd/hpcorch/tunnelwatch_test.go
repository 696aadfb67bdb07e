package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

// TestWatchJobEnd: the watcher keeps going through active states and
// failed looks, and stops at the first state that is not active.
func TestWatchJobEnd(t *testing.T) {
	var n atomic.Int32
	states := []slurm.State{slurm.StateRunning, slurm.StateUnknown, slurm.StateCompleting,
		slurm.StateFailed}
	st, ok := watchJobEnd(context.Background(), time.Millisecond,
		func(context.Context) (slurm.State, error) {
			i := n.Add(1) - 1
			if i == 1 {
				return slurm.StateUnknown, errors.New("ssh: connection lost")
			}
			return states[i], nil
		})
	require.True(t, ok)
	require.Equal(t, slurm.StateFailed, st)
	require.Equal(t, int32(4), n.Load())

	// It gives up, with false, when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	st, ok = watchJobEnd(ctx, time.Millisecond, func(context.Context) (slurm.State, error) {
		if calls.Add(1) == 3 {
			cancel()
		}
		return slurm.StateRunning, nil
	})
	require.False(t, ok)
	require.Equal(t, slurm.StateUnknown, st)
}

// TestTunnelEndsWithJob: --create-tunnel closes its tunnel and fails once
// the service's job ends.
func TestTunnelEndsWithJob(t *testing.T) {
	old := tunnelWatchInterval
	tunnelWatchInterval = 50 * time.Millisecond
	t.Cleanup(func() { tunnelWatchInterval = old })

	l := newLocalCLI(t)
	r := l.run(t, "--recipe", l.recipe(t, "web"), "--wait")
	require.Equal(t, exitOK, r.code, r.stderr)
	id := strings.Fields(r.stdout)[2]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config", l.config, "--create-tunnel", id, "0"}, &out, &errb)
	}()
	urlRE := regexp.MustCompile(`Then access the service at: http://localhost:\d+\n`)
	require.Eventually(t, func() bool { return urlRE.MatchString(out.String()) },
		30*time.Second, 20*time.Millisecond, "no tunnel box; stderr: %s", errb.String())

	r = l.run(t, "--stop-service", id)
	require.Equal(t, exitOK, r.code, r.stderr)
	select {
	case code := <-done:
		require.Equal(t, exitFail, code)
	case <-time.After(30 * time.Second):
		t.Fatal("--create-tunnel did not end with its job")
	}
	require.Contains(t, errb.String(), "hpcorch: service "+id+" ended (CANCELLED); "+
		"closing the tunnel\n")
	require.NotContains(t, errb.String(), "Tunnel closed.")
}

func TestForeignPort(t *testing.T) {
	svc := &servers.Service{ID: "prometheus_2f4e7292", Node: "node2", Port: 9091,
		Ports: []int{9091}, CAdvisorPort: 8081}
	require.Empty(t, foreignPort(svc, 9091))
	require.Empty(t, foreignPort(svc, 8081), "its cAdvisor")
	require.Equal(t, "9090 is not a port of prometheus_2f4e7292, which bound 9091, 8081 "+
		"(cAdvisor) on node2: the tunnel reaches whatever listens on node2:9090 (leave "+
		"REMOTE out for the service's own port)", foreignPort(svc, 9090))
	require.Empty(t, foreignPort(&servers.Service{ID: "x_1", Node: "n"}, 5000),
		"no ports known: nothing to compare with")
}

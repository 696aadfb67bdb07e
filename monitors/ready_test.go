package monitors

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

func TestWaitReady(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	m := newTestMonitors(t, b)

	mon, err := m.WaitReady(ctxT(t), svc.ID)
	require.NoError(t, err)
	assert.Equal(t, "running", mon.Status)
	assert.NotEmpty(t, mon.Endpoint)

	paths := map[string]bool{}
	for _, r := range stub.requests() {
		paths[r.path] = true
		assert.True(t, r.authOK)
	}
	assert.True(t, paths["/-/ready"])
	assert.True(t, paths["/api/v1/targets"])
}

func TestWaitReadyWaitsForTheJob(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	host, port := stub.addr()
	b.set(svc.ID, func(s *servers.Service) {
		s.State, s.Node, s.Nodes, s.Port = slurm.StatePending, "", nil, 0
	})
	m := newTestMonitors(t, b)

	// The job starts on the third look: pending, pending, running.
	b.onCheck = func(n int, s *servers.Service) {
		if n >= 3 {
			s.State, s.Node, s.Nodes, s.Port = slurm.StateRunning, host, []string{host}, port
		}
	}

	mon, err := m.WaitReady(ctxT(t), svc.ID)
	require.NoError(t, err)
	assert.Equal(t, port, mon.Port)
}

func TestWaitReadyListsDownTargets(t *testing.T) {
	stub := newPromStub(t)
	stub.onPath("/api/v1/targets", fixture(t, "targets_mixed"))
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	m := newTestMonitors(t, b)

	ctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
	defer cancel()
	_, err := m.WaitReady(ctx, svc.ID)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTargetsDown)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	var re *ReadyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "targets", re.Phase)
	require.Len(t, re.Down, 2)
	for _, d := range re.Down {
		assert.Equal(t, "down", d.Health)
		assert.Contains(t, d.LastError, "connection refused")
	}
	assert.Equal(t, "svc-a", re.Down[1].Job)
	assert.Equal(t, "a_1", re.Down[1].Service)
	assert.Contains(t, err.Error(), "127.0.0.1:19998")
}

func TestWaitReadyJobEnded(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	b.set(svc.ID, func(s *servers.Service) { s.State = slurm.StateFailed })
	b.logs = "err: opening storage failed: lock DB directory: resource temporarily unavailable\n"
	m := newTestMonitors(t, b)

	_, err := m.WaitReady(ctxT(t), svc.ID)
	require.ErrorIs(t, err, ErrNotRunning)
	assert.Contains(t, err.Error(), "lock DB directory")
	assert.Empty(t, stub.requests())
}

func TestWaitReadyUnauthorized(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	writeRunFile(t, svc.RunDir, passwordFile, "not-the-password\n")
	m := newTestMonitors(t, b)

	_, err := m.WaitReady(ctxT(t), svc.ID)
	require.ErrorIs(t, err, ErrUnauthorized)
}

func TestWaitReadyUnknownMonitor(t *testing.T) {
	b := newFakeBackend(t)
	m := newTestMonitors(t, b)
	_, err := m.WaitReady(ctxT(t), "prometheus_ffffffff")
	require.ErrorIs(t, err, ErrMonitorNotFound)
}

func TestTargets(t *testing.T) {
	stub := newPromStub(t)
	stub.onPath("/api/v1/targets", fixture(t, "targets_up"))
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	m := newTestMonitors(t, b)

	ts, err := m.Targets(ctxT(t), svc.ID)
	require.NoError(t, err)
	require.Len(t, ts, 3)
	assert.Equal(t, []string{"extra", "prometheus", "svc-a"}, []string{ts[0].Job, ts[1].Job,
		ts[2].Job})
	for _, x := range ts {
		assert.Equal(t, "up", x.Health)
	}
}

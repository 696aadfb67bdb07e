//go:build integration

package bench

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// slurmBenchJobs is how many jobs the status benchmark watches.
const slurmBenchJobs = 200

// countingExec counts the commands run through it by program name.
type countingExec struct {
	sshx.Executor
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingExec) Run(ctx context.Context, cmd string, in io.Reader) ([]byte, []byte, error) {
	c.mu.Lock()
	c.calls[strings.Fields(cmd)[0]]++
	c.mu.Unlock()
	return c.Executor.Run(ctx, cmd, in)
}

func (c *countingExec) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.calls
	c.calls = map[string]int{}
	return m
}

// BenchmarkSlurmPollerRound submits 200 held jobs (held, so they take no
// resources from other tests), lets a slurm.Poller track them all, and
// compares one forced poller round (Scheduler.Status: one squeue, plus
// sacct only for jobs squeue has forgotten) with one raw `squeue` for the
// same ids over the same connection. It reports the mean time of each,
// their ratio poll/raw (target ≤ 1.5), and the squeue and sacct calls per
// round (target 1 and at most 1).
func BenchmarkSlurmPollerRound(b *testing.B) {
	cl := clustertest.Env(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	client, err := sshx.Dial(ctx, sshx.Config{
		Host:            cl.SSHHost,
		Port:            cl.SSHPort,
		User:            cl.User,
		IdentityFiles:   []string{cl.KeyFile},
		KnownHostsFiles: []string{cl.KnownHosts},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	exec := &countingExec{Executor: client, calls: map[string]int{}}
	s := slurm.New(exec, slurm.Options{})

	ids := submitHeld(ctx, b, s, slurmBenchJobs)
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if _, errOut, err := client.Run(cctx, "scancel "+strings.Join(ids, " "), nil); err != nil {
			b.Logf("scancel: %v: %s", err, errOut)
		}
	}()

	p := slurm.NewPoller(s, time.Hour) // rounds only when forced
	defer p.Close()
	trackAll(ctx, b, p, ids)

	raw := "squeue -h -t all -j " + strings.Join(ids, ",")
	exec.take()
	var dPoll, dRaw time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := p.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		dPoll += time.Since(t0)

		t0 = time.Now()
		if _, errOut, err := client.Run(ctx, raw, nil); err != nil {
			b.Fatalf("raw squeue: %v: %s", err, errOut)
		}
		dRaw += time.Since(t0)
	}
	b.StopTimer()

	calls := exec.take()
	n := float64(b.N)
	b.ReportMetric(float64(dPoll.Microseconds())/1000/n, "poll-ms/round")
	b.ReportMetric(float64(dRaw.Microseconds())/1000/n, "raw-ms/round")
	b.ReportMetric(float64(dPoll)/float64(dRaw), "poll/raw")
	b.ReportMetric(float64(calls["squeue"])/n, "squeue/round")
	b.ReportMetric(float64(calls["sacct"])/n, "sacct/round")
}

// submitHeld submits n held jobs with 8 submitters and returns their ids.
func submitHeld(ctx context.Context, b *testing.B, s *slurm.Slurm, n int) []string {
	b.Helper()
	ids := make([]string, n)
	errs := make(chan error, n)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				id, err := s.Submit(ctx, slurm.JobSpec{
					Name:       slurm.UniqueName("bench-slurm"),
					Comment:    "hpcorch:bench",
					Time:       5 * time.Minute,
					Directives: []string{"--hold"},
					Script:     "true",
				})
				ids[i] = id
				errs <- err
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// trackAll makes p track every id: each first Get waits for a round that
// includes it, and rounds run only when forced.
func trackAll(ctx context.Context, b *testing.B, p *slurm.Poller, ids []string) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := p.Get(ctx, id)
			if err == nil && j.State != slurm.StatePending {
				b.Errorf("job %s: %v, want PENDING (held)", id, j.State)
			}
			errs <- err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
			if err := p.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

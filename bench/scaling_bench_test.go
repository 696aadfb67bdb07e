//go:build integration

package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/slurm"
)

// scalingRounds is how many status rounds each size of BenchmarkScaling
// times, per iteration.
const scalingRounds = 20

// BenchmarkScaling records how the cost of watching jobs grows with their
// number: for N = 10, 100 and 1000 jobs on the local scheduler (all of them
// running `sleep`: with MaxRunning, Local rewrites every pending job's
// record at each submission, which makes 1000 submissions take minutes),
// one slurm.Poller tracking all of them. It reports the submission time per
// job (8 submitters), the time of one forced poller round
// (Refresh), the time of one bare Scheduler.Status call for the same ids
// (the scheduler's own cost, which the round wraps), and the Go heap held
// for the N jobs (live heap bytes after a garbage collection):
// by the local scheduler and the poller together (Local keeps a process
// handle and a goroutine per running job), and by the poller alone, which
// is what watching N jobs on a real cluster costs.
func BenchmarkScaling(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("jobs-%d", n), func(b *testing.B) { scalingBench(b, n) })
	}
}

func scalingBench(b *testing.B, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := b.TempDir()

	var dPoll, dRaw, dSubmit time.Duration
	var heap, pollHeap uint64
	for range b.N {
		before := heapLive()
		sched := slurm.NewLocal(slurm.LocalOptions{StateDir: filepath.Join(dir, "state"),
			KillWait: time.Second})
		t0 := time.Now()
		ids := scalingSubmit(ctx, b, sched, n)
		dSubmit += time.Since(t0)
		p := slurm.NewPoller(sched, time.Hour) // rounds only when forced
		scalingTrack(ctx, b, p, ids)
		after := heapLive()
		heap = after - min(before, after)

		for range scalingRounds {
			t0 := time.Now()
			if err := p.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
			dPoll += time.Since(t0)

			t0 = time.Now()
			jobs, err := sched.Status(ctx, ids)
			if err != nil {
				b.Fatal(err)
			}
			dRaw += time.Since(t0)
			if len(jobs) != n {
				b.Fatalf("Status reported %d jobs, want %d", len(jobs), n)
			}
		}
		// The poller's own share: what its Close and release frees, once
		// the scheduler is in a steady state.
		withPoller := heapLive()
		_ = p.Close()
		p = nil
		without := heapLive()
		pollHeap = withPoller - min(without, withPoller)
		runtime.KeepAlive(ids)
		if err := sched.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()

	rounds := float64(b.N * scalingRounds)
	b.ReportMetric(ms(dPoll)/rounds, "poll-ms/round")
	b.ReportMetric(ms(dRaw)/rounds, "status-ms/call")
	b.ReportMetric(float64(dPoll)/float64(dRaw), "poll/status")
	b.ReportMetric(ms(dSubmit)/float64(b.N*n), "submit-ms/job")
	b.ReportMetric(float64(heap)/1024, "heap-KiB")
	b.ReportMetric(float64(heap)/float64(n), "heap-B/job")
	b.ReportMetric(float64(pollHeap)/1024, "poller-heap-KiB")
	b.ReportMetric(0, "ns/op")
}

// heapLive returns the bytes of live heap objects after a garbage
// collection (runtime/metrics' /gc/heap/live:bytes).
func heapLive() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// scalingSubmit submits n sleeping jobs to s with 8 submitters.
func scalingSubmit(ctx context.Context, b *testing.B, s slurm.Scheduler, n int) []string {
	ids := make([]string, n)
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				id, err := s.Submit(ctx, slurm.JobSpec{
					Name:   slurm.UniqueName("bench-scaling"),
					Time:   time.Hour,
					Output: "/dev/null",
					Script: "exec sleep 3600",
				})
				ids[i] = id
				if err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return ids
}

// cmp returns a unless it is nil, else b.
func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// scalingTrack makes p track every id and waits until one round has
// reported all of them.
func scalingTrack(ctx context.Context, b *testing.B, p *slurm.Poller, ids []string) {
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			_, err := p.Get(ctx, id)
			errs <- err
		})
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

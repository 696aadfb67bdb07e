//go:build integration

package bench

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// submitBenchJobs is how many jobs each arm of BenchmarkSubmit submits.
const submitBenchJobs = 100

// submitBenchScript is the body of every job: it never runs, since every
// job is submitted held (--hold) and cancelled once counted.
const submitBenchScript = "sleep 600"

// heldScheduler submits every job held, so that the benchmark's jobs take
// nothing from the cluster; everything else goes to the Scheduler inside.
type heldScheduler struct {
	slurm.Scheduler
}

// Submit submits spec with --hold added.
func (h heldScheduler) Submit(ctx context.Context, spec slurm.JobSpec) (string, error) {
	spec.Directives = append(slices.Clone(spec.Directives), "--hold")
	return h.Scheduler.Submit(ctx, spec)
}

// submitArm is what one way of submitting 100 jobs gave.
type submitArm struct {
	elapsed  time.Duration
	ids      []string
	failures int
	firstErr error
}

// BenchmarkSubmit submits 100 held jobs three ways, one after the other
// in each iteration, and cancels each arm's jobs before the next:
//
//   - seq: a new `ssh minicluster sbatch --parsable` per job, one after the
//     other, with the very script slurm.Render produces on standard input
//     (what a shell loop over ssh does);
//   - scheduler: 100 goroutines calling slurm.Slurm.Submit on one
//     sshx.Client;
//   - servers: 100 goroutines calling servers.Servers.StartService (run
//     folder, service.json, sbatch, job id file) on one sshx.Client.
//
// It reports each arm's seconds for the 100, the speed-ups seq/scheduler
// and seq/servers (target ≥ 5) and the failures of each (target 0).
func BenchmarkSubmit(b *testing.B) {
	cl := clustertest.Env(b)
	client := benchDial(b, cl)
	tag := benchHex(b, 4)
	runRoot := "$HOME/.hpcorch-bench/submit-" + tag
	b.Cleanup(func() { benchRun(b, client, "rm -rf \"$HOME\"/.hpcorch-bench/submit-"+tag) })

	sched := slurm.New(client, slurm.Options{})
	srv := servers.New(client, heldScheduler{sched}, servers.Options{
		Session: "bench-" + tag,
		RunRoot: runRoot,
	})
	rcp := benchRecipe(b, `
service:
  name: bench-submit
  command: sleep
  args: ["600"]
  resources:
    time: "00:05:00"
    mem: 16M
`)
	spec := func() slurm.JobSpec {
		return slurm.JobSpec{
			Name:       slurm.UniqueName("bench-submit"),
			Comment:    "hpcorch:bench",
			Time:       5 * time.Minute,
			Mem:        "16M",
			Output:     "/dev/null",
			Directives: []string{"--hold"},
			Script:     submitBenchScript,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	var arms [3]submitArm
	names := [3]string{"seq", "scheduler", "servers"}
	for range b.N {
		runs := [3]func() submitArm{
			func() submitArm { return submitSequential(ctx, cl, spec) },
			func() submitArm {
				return submitConcurrent(func() (string, error) { return sched.Submit(ctx, spec()) })
			},
			func() submitArm {
				return submitConcurrent(func() (string, error) {
					svc, err := srv.StartService(ctx, rcp)
					if err != nil {
						return "", err
					}
					return svc.JobID, nil
				})
			},
		}
		for i, run := range runs {
			a := run()
			benchCancel(b, client, a.ids)
			if a.firstErr != nil {
				b.Logf("%s: %d failures, the first: %v", names[i], a.failures, a.firstErr)
			}
			arms[i].elapsed += a.elapsed
			arms[i].failures += a.failures
		}
	}
	b.StopTimer()

	n := float64(b.N)
	for i, a := range arms {
		b.ReportMetric(a.elapsed.Seconds()/n, names[i]+"-s")
		b.ReportMetric(float64(a.failures)/n, names[i]+"-failures")
	}
	b.ReportMetric(float64(arms[0].elapsed)/float64(arms[1].elapsed), "seq/scheduler")
	b.ReportMetric(float64(arms[0].elapsed)/float64(arms[2].elapsed), "seq/servers")
	b.ReportMetric(0, "ns/op")
}

// submitSequential submits submitBenchJobs jobs with a new ssh process
// each, one after the other.
func submitSequential(ctx context.Context, cl *clustertest.Cluster,
	spec func() slurm.JobSpec) submitArm {
	var a submitArm
	start := time.Now()
	for range submitBenchJobs {
		id, err := sshSbatch(ctx, cl, spec())
		if err != nil {
			a.failures++
			if a.firstErr == nil {
				a.firstErr = err
			}
			continue
		}
		a.ids = append(a.ids, id)
	}
	a.elapsed = time.Since(start)
	return a
}

// sshSbatch submits spec as `ssh minicluster sbatch --parsable` would,
// the rendered script on standard input, and returns the job id.
func sshSbatch(ctx context.Context, cl *clustertest.Cluster, spec slurm.JobSpec) (string, error) {
	script, err := slurm.Render(spec)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "ssh", "-F", cl.SSHConfig, "-o", "BatchMode=yes",
		"minicluster", sshx.QuoteAll("sbatch", "--parsable"))
	cmd.Stdin = strings.NewReader(script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("ssh sbatch: %w: %s", err, stderr.String())
	}
	sub, err := slurm.ParseSubmission(out, []byte(stderr.String()))
	if err != nil {
		return "", err
	}
	return sub.JobID, nil
}

// submitConcurrent calls submit submitBenchJobs times at once, from as
// many goroutines.
func submitConcurrent(submit func() (string, error)) submitArm {
	var (
		a  submitArm
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := time.Now()
	for range submitBenchJobs {
		wg.Go(func() {
			id, err := submit()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				a.failures++
				if a.firstErr == nil {
					a.firstErr = err
				}
				return
			}
			a.ids = append(a.ids, id)
		})
	}
	wg.Wait()
	a.elapsed = time.Since(start)
	return a
}

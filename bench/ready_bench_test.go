//go:build integration

package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// readyBenchScript is a service for a job: it listens on the port given as
// argument, writes the time (Unix seconds) at which it listened to the file
// "opened" in its run folder, and holds every connection it accepts open
// until the peer closes it.
const readyBenchScript = `
import os, socket, sys, threading, time

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(128)
opened = time.time()
run = os.environ["HPCORCH_RUN_DIR"]
with open(os.path.join(run, "opened.tmp"), "w") as f:
    f.write("%.6f\n" % opened)
os.rename(os.path.join(run, "opened.tmp"), os.path.join(run, "opened"))

def hold(c):
    with c:
        while c.recv(4096):
            pass

while True:
    c, _ = s.accept()
    threading.Thread(target=hold, args=(c,), daemon=True).start()
`

// readyBenchStarts is how many services each iteration of
// BenchmarkStartReady starts, one after the other.
const readyBenchStarts = 5

// readyBench is a Servers on the cluster for services running
// readyBenchScript, with its own run root, removed when b ends.
type readyBench struct {
	srv    *servers.Servers
	client *sshx.Client
	recipe *recipe.Recipe
}

func newReadyBench(b *testing.B, cl *clustertest.Cluster) *readyBench {
	client := benchDial(b, cl)
	tag := benchHex(b, 4)
	root := ".hpcorch-bench/ready-" + tag
	b.Cleanup(func() { benchRun(b, client, "rm -rf \"$HOME\"/"+root) })

	n, err := rand.Int(rand.Reader, big.NewInt(5000))
	if err != nil {
		b.Fatal(err)
	}
	rcp := benchRecipe(b, fmt.Sprintf(`
service:
  name: bench-ready
  command: python3
  args: ["${HPCORCH_RUN_DIR}/ready.py", "${HPCORCH_PORT}"]
  resources:
    time: "00:10:00"
    mem: 64M
  ports: [%d]
`, 40000+n.Int64()))
	srv := servers.New(client, slurm.New(client, slurm.Options{}), servers.Options{
		Session: "bench-" + tag,
		RunRoot: "$HOME/" + root,
	})
	return &readyBench{srv: srv, client: client, recipe: rcp}
}

// start starts one service and returns it once WaitReady says it is ready,
// with the moment WaitReady returned. The service is stopped when b ends.
func (rb *readyBench) start(ctx context.Context, b *testing.B) (*servers.Readiness, time.Time) {
	svc, err := rb.srv.Start(ctx, rb.recipe, servers.StartOptions{
		Files: []servers.File{{Name: "ready.py", Data: []byte(readyBenchScript)}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rb.srv.StopService(ctx, svc.ID); err != nil {
			b.Logf("stop %s: %v", svc.ID, err)
		}
	})

	rd, err := rb.srv.WaitReady(ctx, svc.ID)
	ready := time.Now()
	if err != nil {
		b.Fatal(err)
	}
	return rd, ready
}

// opened reads the time the service's job wrote when its port opened.
func (rb *readyBench) opened(ctx context.Context, b *testing.B, id string) time.Time {
	data, err := rb.srv.ReadRunFile(ctx, id, "opened")
	if err != nil {
		b.Fatal(err)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
	if err != nil {
		b.Fatalf("opened: %v", err)
	}
	return time.Unix(0, int64(f*1e9))
}

// BenchmarkStartReady starts services on the cluster with
// servers.StartService's path (Start with a file) and measures how long
// after the service's port opened servers.WaitReady returned: the job
// writes the time it listened (the nodes share this machine's clock), and
// the benchmark takes the time WaitReady returned. Each iteration starts
// readyBenchStarts services one after the other (each with a fresh
// WaitReady, as a new caller would). It reports the mean and the worst
// overhead (target ≤ 1 s) and the mean time from submission to ready.
func BenchmarkStartReady(b *testing.B) {
	cl := clustertest.Env(b)
	rb := newReadyBench(b, cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var sum, worst, total time.Duration
	count := 0
	for range b.N {
		for range readyBenchStarts {
			t0 := time.Now()
			rd, ready := rb.start(ctx, b)
			over := ready.Sub(rb.opened(ctx, b, rd.Service.ID))
			if over < 0 {
				b.Fatalf("%s: ready %v before its port opened", rd.Service.ID, -over)
			}
			sum += over
			worst = max(worst, over)
			total += ready.Sub(t0)
			count++
			if err := rb.srv.StopService(ctx, rd.Service.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()

	b.ReportMetric(ms(sum)/float64(count), "overhead-ms")
	b.ReportMetric(ms(worst), "worst-overhead-ms")
	b.ReportMetric(total.Seconds()/float64(count), "start-to-ready-s")
	b.ReportMetric(0, "ns/op")
}

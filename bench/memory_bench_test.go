//go:build integration

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
	"github.com/hpcorch/hpcorch/tunnel"
)

// The environment of a child process of BenchmarkSDKMemory.
const (
	memEnvMode   = "HPCORCH_BENCH_MEMORY_MODE"   // "baseline" or "sdk"
	memEnvTarget = "HPCORCH_BENCH_MEMORY_TARGET" // node:port the tunnels reach
)

// How much the child holds: services on the local scheduler and tunnels
// through one SSH connection to the cluster.
const (
	memServices = 100
	memTunnels  = 10
)

// memPrefix starts the line on which a child reports its memory.
const memPrefix = "HPCORCH_BENCH_MEMORY "

// memUsage is a child's memory: from /proc/self/status (VmRSS, VmHWM) and
// runtime.MemStats, after a garbage collection.
type memUsage struct {
	RSSKiB      int64  `json:"rss_kib"`
	AnonKiB     int64  `json:"anon_kib"`
	FileKiB     int64  `json:"file_kib"`
	HWMKiB      int64  `json:"hwm_kib"`
	HeapInuse   uint64 `json:"heap_inuse"`
	StackInuse  uint64 `json:"stack_inuse"`
	Sys         uint64 `json:"sys"`
	Goroutines  int    `json:"goroutines"`
	Services    int    `json:"services"`
	Tunnels     int    `json:"tunnels"`
	RunningJobs int    `json:"running_jobs"`
}

// BenchmarkSDKMemory measures the resident memory of a process that uses
// the SDK as an orchestrating program would: it runs this test binary again
// as a child (TestSDKMemoryChild) which starts 100 services with
// servers.StartService on the local scheduler (sleep jobs; the jobs are
// separate processes, not counted), watches all of them with one
// slurm.Poller, lists them with ListRunningServices, and holds 10 tunnels
// open through one SSH connection to the cluster, each with a live
// connection to a service on a node. The child then runs a garbage
// collection and reads its VmRSS from /proc/self/status (target < 30 MiB),
// with its two parts: anonymous memory (heap, stacks, runtime: the SDK's
// own) and file-backed pages (the pages of this test binary it touched; the
// binary links every benchmark's dependencies, and those pages are shared
// and reclaimable). A second child that only starts and collects gives the
// test binary's own floor.
func BenchmarkSDKMemory(b *testing.B) {
	cl := clustertest.Env(b)
	rb := newReadyBench(b, cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rd, _ := rb.start(ctx, b)
	target := net.JoinHostPort(rd.Service.Node, strconv.Itoa(rd.Service.Port))

	var sdk, base memUsage
	for range b.N {
		base = memChild(ctx, b, "baseline", target)
		sdk = memChild(ctx, b, "sdk", target)
	}
	if sdk.Services != memServices || sdk.RunningJobs != memServices {
		b.Fatalf("the child listed %d services and saw %d jobs running, want %d",
			sdk.Services, sdk.RunningJobs, memServices)
	}
	b.StopTimer()

	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	b.ReportMetric(mib(sdk.RSSKiB), "rss-MiB")
	b.ReportMetric(mib(sdk.HWMKiB), "peak-rss-MiB")
	b.ReportMetric(mib(sdk.AnonKiB), "anon-rss-MiB")
	b.ReportMetric(mib(sdk.FileKiB), "file-rss-MiB")
	b.ReportMetric(mib(base.RSSKiB), "baseline-rss-MiB")
	b.ReportMetric(mib(base.AnonKiB), "baseline-anon-rss-MiB")
	b.ReportMetric(float64(sdk.HeapInuse+sdk.StackInuse)/(1<<20), "heap+stack-MiB")
	b.ReportMetric(float64(sdk.Goroutines), "goroutines")
	b.ReportMetric(0, "ns/op")
}

// memChild runs TestSDKMemoryChild in mode and returns what it reported.
func memChild(ctx context.Context, b *testing.B, mode, target string) memUsage {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSDKMemoryChild$",
		"-test.bench=^$", "-test.v")
	cmd.Env = append(os.Environ(), memEnvMode+"="+mode, memEnvTarget+"="+target)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("memory child (%s): %v\n%s", mode, err, out)
	}

	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, memPrefix); ok {
			var u memUsage
			if err := json.Unmarshal([]byte(rest), &u); err != nil {
				b.Fatalf("memory child (%s): %v: %s", mode, err, rest)
			}
			return u
		}
	}
	b.Fatalf("memory child (%s) reported nothing:\n%s", mode, out)
	return memUsage{}
}

// TestSDKMemoryChild is the child process of BenchmarkSDKMemory; run
// without its environment, it returns at once.
func TestSDKMemoryChild(t *testing.T) {
	mode := os.Getenv(memEnvMode)
	if mode == "" {
		return
	}
	var u memUsage
	if mode == "sdk" {
		u = memHold(t, os.Getenv(memEnvTarget))
	}

	runtime.GC()
	readStatus(t, &u)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.HeapInuse, u.StackInuse, u.Sys = ms.HeapInuse, ms.StackInuse, ms.Sys
	u.Goroutines = runtime.NumGoroutine()
	data, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(memPrefix + string(data))
}

// memHold sets up what the child holds while its memory is read: it
// registers the teardown with t, which runs after the reading.
func memHold(t *testing.T, target string) memUsage {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	sched := slurm.NewLocal(slurm.LocalOptions{StateDir: filepath.Join(dir, "state"),
		KillWait: time.Second})
	t.Cleanup(func() { _ = sched.Close() })
	srv := servers.New(&sshx.Local{}, sched, servers.Options{RunRoot: filepath.Join(dir, "run")})
	rcp := benchRecipe(t, `
service:
  name: bench-memory
  command: sleep
  args: ["3600"]
  resources:
    time: "01:00:00"
`)

	ids := make([]string, 0, memServices)
	for range memServices {
		svc, err := srv.StartService(ctx, rcp)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, svc.JobID)
	}
	p := slurm.NewPoller(sched, time.Second)
	t.Cleanup(func() { _ = p.Close() })
	running := memWatch(ctx, t, p, ids)
	list, err := srv.ListRunningServices(ctx)
	if err != nil {
		t.Fatal(err)
	}

	cl := clustertest.Env(t)
	client := benchDial(t, cl)
	for range memTunnels {
		memTunnel(ctx, t, client, target)
	}
	return memUsage{Services: len(list), Tunnels: memTunnels, RunningJobs: running}
}

// memWatch watches every job in ids with p until each has been seen
// running, and returns how many were. The watches last until t ends.
func memWatch(ctx context.Context, t *testing.T, p *slurm.Poller, ids []string) int {
	seen := make(chan slurm.State, len(ids))
	for _, id := range ids {
		ch, err := p.Watch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			sent := false
			for j := range ch {
				if !sent && j.State != slurm.StatePending {
					seen <- j.State
					sent = true
				}
			}
		}()
	}

	running := 0
	for range ids {
		select {
		case st := <-seen:
			if st == slurm.StateRunning {
				running++
			}
		case <-ctx.Done():
			t.Fatalf("watching %d jobs: %v", len(ids), ctx.Err())
		}
	}
	return running
}

// memTunnel opens a tunnel to target and one connection through it, both
// open until t ends.
func memTunnel(ctx context.Context, t *testing.T, d tunnel.Dialer, target string) {
	tn, err := tunnel.Open(ctx, d, target, tunnel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	if err := tn.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", tn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
}

// readStatus fills u's VmRSS, VmHWM, RssAnon and RssFile from
// /proc/self/status.
func readStatus(t *testing.T, u *memUsage) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch {
		case err != nil:
		case name == "VmRSS":
			u.RSSKiB = kib
		case name == "VmHWM":
			u.HWMKiB = kib
		case name == "RssAnon":
			u.AnonKiB = kib
		case name == "RssFile":
			u.FileKiB = kib
		}
	}
}

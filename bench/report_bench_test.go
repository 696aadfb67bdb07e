//go:build integration

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
	"github.com/hpcorch/hpcorch/tunnel"
)

// The report BenchmarkReport builds: reportTargets monitored services over
// reportWindow, at the monitor's scrape interval.
const (
	reportTargets  = 100
	reportWindow   = time.Hour
	reportScrape   = "15s"
	reportsPerPath = 3
)

// promSynth is a Prometheus HTTP API stub that serves synthetic data: 100
// cAdvisor targets, each with every series a report asks for, at every
// step of any range. It asks for basic auth like a monitor's Prometheus.
// Answers are rendered once per distinct request and then replayed, so
// that the stub costs little of the machine's two cores: what is measured
// is the SDK (requests, decoding, summaries, JSON and HTML), not the stub.
type promSynth struct {
	password string

	mu    sync.Mutex
	cache map[string][]byte
	reqs  int
}

// reportTerm matches the selector of one target in a metric query.
var reportTerm = regexp.MustCompile(
	`job="([^"]*)",instance="([^"]*)"(?:,address="[^"]*")?,id="([^"]*)"`)

func (p *promSynth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, pw, ok := r.BasicAuth(); !ok || u != monitors.User || pw != p.password {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := r.URL.Path + "?" + r.Form.Encode()
	p.mu.Lock()
	p.reqs++
	body, ok := p.cache[key]
	p.mu.Unlock()
	if !ok {
		var status int
		status, body = p.render(r.URL.Path, r.Form)
		if status != http.StatusOK {
			http.Error(w, string(body), status)
			return
		}
		p.mu.Lock()
		p.cache[key] = body
		p.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// requests returns how many requests the stub has answered.
func (p *promSynth) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqs
}

// render builds the answer to one request.
func (p *promSynth) render(path string, form map[string][]string) (int, []byte) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	switch path {
	case "/api/v1/status/buildinfo":
		return 200, []byte(`{"status":"success","data":{"version":"2.42.0","revision":"stub",` +
			`"branch":"","buildUser":"","buildDate":"","goVersion":"go1.19"}}`)
	case "/api/v1/targets":
		return 200, reportTargetsJSON()
	case "/api/v1/query_range":
	default:
		return 404, []byte("not found")
	}

	start, err1 := strconv.ParseFloat(get("start"), 64)
	end, err2 := strconv.ParseFloat(get("end"), 64)
	step, err3 := strconv.ParseFloat(get("step"), 64)
	if err1 != nil || err2 != nil || err3 != nil || step <= 0 {
		return 400, []byte(`{"status":"error","errorType":"bad_data","error":"bad range"}`)
	}
	q := get("query")
	if q == `up{job!="prometheus"}` {
		series := make([]map[string]string, reportTargets)
		for i := range series {
			series[i] = reportLabels(i)
			series[i]["__name__"] = "up"
		}
		return 200, matrix(series, start, end, step, func(i int, t float64) float64 {
			// Each target is down for one step in its own tenth of the hour.
			if int(t/step)%(reportTargets*10) == i*10 {
				return 0
			}
			return 1
		})
	}

	scale := 1.0
	switch {
	case strings.Contains(q, "cpu"):
		scale = 0.5
	case strings.Contains(q, "memory"):
		scale = 1 << 28
	case strings.Contains(q, "network"):
		scale = 1 << 16
	case strings.Contains(q, "fs_usage"):
		scale = 1 << 30
	case strings.Contains(q, "scrape_samples"):
		scale = 3000
	case strings.Contains(q, "scrape_duration"):
		scale = 0.02
	}
	wave := func(i int, t float64) float64 { return scale * (1.5 + math.Sin(t/600+float64(i))) }

	// A target's series (scrape_*): every target's, with its labels.
	if strings.HasPrefix(q, "scrape_") {
		series := make([]map[string]string, reportTargets)
		for i := range series {
			series[i] = reportLabels(i)
		}
		return 200, matrix(series, start, end, step, wave)
	}

	// A metric: one series per target selected, with the labels the
	// query groups by. (Before hpcorch asked once per metric for every
	// target, it asked once per target; both forms are answered.)
	terms := reportTerm.FindAllStringSubmatch(q, -1)
	if len(terms) == 0 {
		return 400, []byte(`{"status":"error","errorType":"bad_data","error":"no target"}`)
	}
	series := make([]map[string]string, len(terms))
	index := make([]int, len(terms))
	for k, m := range terms {
		series[k] = map[string]string{"job": m[1], "instance": m[2], "id": m[3]}
		index[k] = reportIndex(m[2])
	}
	return 200, matrix(series, start, end, step, func(k int, t float64) float64 {
		return wave(index[k], t)
	})
}

// matrix renders a query_range answer with one series per label set and a
// value at every step from start to end.
func matrix(series []map[string]string, start, end, step float64,
	value func(i int, t float64) float64) []byte {
	b := []byte(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for i, labels := range series {
		if i > 0 {
			b = append(b, ',')
		}
		l, _ := json.Marshal(labels)
		b = append(b, `{"metric":`...)
		b = append(b, l...)
		b = append(b, `,"values":[`...)
		for k, t := 0, start; t <= end; k, t = k+1, t+step {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = strconv.AppendFloat(b, t, 'f', -1, 64)
			b = append(b, `,"`...)
			b = strconv.AppendFloat(b, value(i, t), 'f', -1, 64)
			b = append(b, `"]`...)
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}}"...)
}

// reportLabels are the labels of target i, as a monitor's targets carry
// them.
func reportLabels(i int) map[string]string {
	node := fmt.Sprintf("node%d", i%3+1)
	job := strconv.Itoa(1000 + i)
	return map[string]string{
		"job":                 "cadvisor",
		"instance":            fmt.Sprintf("%s:%d", node, 18000+i),
		monitors.LabelService: fmt.Sprintf("svc-%03d_%08x", i, i),
		monitors.LabelJobID:   job,
		monitors.LabelNode:    node,
		monitors.LabelCgroup:  "/slurm_" + node + "/uid_2001/job_" + job,
	}
}

// reportIndex returns the target index of an instance "nodeN:PORT".
func reportIndex(instance string) int {
	_, port, _ := net.SplitHostPort(instance)
	p, _ := strconv.Atoi(port)
	return p - 18000
}

// reportTargetsJSON is /api/v1/targets with every target up.
func reportTargetsJSON() []byte {
	type target struct {
		Labels             map[string]string `json:"labels"`
		DiscoveredLabels   map[string]string `json:"discoveredLabels"`
		ScrapePool         string            `json:"scrapePool"`
		ScrapeURL          string            `json:"scrapeUrl"`
		GlobalURL          string            `json:"globalUrl"`
		LastError          string            `json:"lastError"`
		LastScrape         time.Time         `json:"lastScrape"`
		LastScrapeDuration float64           `json:"lastScrapeDuration"`
		Health             string            `json:"health"`
		ScrapeInterval     string            `json:"scrapeInterval"`
		ScrapeTimeout      string            `json:"scrapeTimeout"`
	}
	active := make([]target, reportTargets)
	for i := range active {
		l := reportLabels(i)
		url := "http://" + l["instance"] + "/metrics"
		active[i] = target{Labels: l, DiscoveredLabels: map[string]string{}, ScrapePool: "cadvisor",
			ScrapeURL: url, GlobalURL: url, LastScrape: time.Now().UTC(),
			LastScrapeDuration: 0.01, Health: "up", ScrapeInterval: reportScrape,
			ScrapeTimeout: "10s"}
	}
	data, _ := json.Marshal(map[string]any{"status": "success",
		"data": map[string]any{"activeTargets": active, "droppedTargets": []any{}}})
	return data
}

// redirectDialer dials one fixed address, whatever it is asked for: the
// monitor's node:port becomes the stub's address, through d.
type redirectDialer struct {
	d  tunnel.Dialer
	to string
}

func (r redirectDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	return r.d.DialContext(ctx, network, r.to)
}

// BenchmarkReport times monitors.ConstructReport (JSON and HTML) over one
// hour of 100 monitored services. The monitor is a real monitor job, started
// by StartMonitor on the local scheduler (its Prometheus program replaced by
// one that only sleeps), and its Prometheus is promSynth, which needs the
// password StartMonitor generated. Each report uses a new Monitors (so
// the monitor is looked up and its password read, as in a new process)
// and reaches the stub two ways: through the SSH connection to the cluster
// (tunnel.HTTPClient, the SDK's default path, to the stub listening on the
// cluster bridge: what a user sees, minus Prometheus' own query time), and
// on loopback (the SDK's own cost). Target: < 1 s per report. It also
// reports the process's CPU time per report (the SDK's, the stub's
// replaying, and on the SSH path x/crypto's), and the requests per report.
func BenchmarkReport(b *testing.B) {
	cl := clustertest.Env(b)
	client := benchDial(b, cl)
	// A real Monitors has run squeue on its connection before it queries
	// (CheckServiceStatus). Until a connection has run its first session,
	// OpenSSH's sshd holds back forwarded data that does not fill a packet
	// for about 40 ms (see RESULTS.md); the local scheduler here runs none.
	// sshx.Dial now runs `true` itself; this keeps the measurement
	// independent of that.
	benchRun(b, client, "true")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, mon := reportMonitor(ctx, b)

	_, pw, err := monitors.New(srv, monitors.Options{}).Credentials(ctx, mon)
	if err != nil {
		b.Fatal(err)
	}
	stub := &promSynth{password: pw, cache: map[string][]byte{}}
	loop := reportServe(b, stub, "127.0.0.1:0")
	bridge := reportServe(b, stub, net.JoinHostPort(bridgeAddr(b, cl), "0"))

	end := time.Now().Truncate(time.Minute)
	window := monitors.ReportWindow(end.Add(-reportWindow), end)
	dir := b.TempDir()
	paths := []struct {
		name string
		hc   func() *http.Client
	}{
		{"ssh", func() *http.Client {
			return tunnel.HTTPClient(redirectDialer{d: client, to: bridge})
		}},
		{"loopback", func() *http.Client {
			return tunnel.HTTPClient(redirectDialer{d: &net.Dialer{}, to: loop})
		}},
	}

	var elapsed, worst, cpu [2]time.Duration
	reqs := 0
	for i := range b.N {
		for k := range reportsPerPath * 2 {
			p := (i + k) % 2
			m := monitors.New(srv, monitors.Options{MetricsDir: dir, HTTPClient: paths[p].hc()})
			before := stub.requests()
			c0, t0 := cpuTime(b), time.Now()
			rep, err := m.ConstructReport(ctx, mon, fmt.Sprintf("report-%d.json", k), window)
			d := time.Since(t0)
			cpu[p] += cpuTime(b) - c0
			_ = m.Close()
			if err != nil {
				b.Fatalf("%s: %v", paths[p].name, err)
			}
			reportCheck(b, rep)
			elapsed[p] += d
			worst[p] = max(worst[p], d)
			reqs = stub.requests() - before
		}
	}
	b.StopTimer()

	n := float64(b.N * reportsPerPath)
	b.ReportMetric(elapsed[0].Seconds()/n, "ssh-s/report")
	b.ReportMetric(worst[0].Seconds(), "ssh-worst-s")
	b.ReportMetric(elapsed[1].Seconds()/n, "loopback-s/report")
	b.ReportMetric(cpu[0].Seconds()/n, "ssh-cpu-s/report")
	b.ReportMetric(cpu[1].Seconds()/n, "loopback-cpu-s/report")
	b.ReportMetric(float64(reqs), "requests/report")
	b.ReportMetric(0, "ns/op")
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCheck fails b unless rep covers every target with every metric
// over the whole hour.
func reportCheck(b *testing.B, rep *monitors.Report) {
	if len(rep.Services) != reportTargets {
		b.Fatalf("report has %d services, want %d", len(rep.Services), reportTargets)
	}
	want := int(reportWindow/(15*time.Second)) + 1
	for _, s := range rep.Services {
		if len(s.Metrics) != 7 {
			b.Fatalf("%s: %d metrics, want 7", s.Service, len(s.Metrics))
		}
		for _, m := range s.Metrics {
			if len(m.Points) != want || m.Error != "" {
				b.Fatalf("%s %s: %d points (want %d) %s", s.Service, m.Name, len(m.Points), want,
					m.Error)
			}
		}
	}
	if _, err := os.Stat(rep.HTMLPath); err != nil {
		b.Fatal(err)
	}
}

// reportServe serves stub on addr until b ends and returns its address.
func reportServe(b *testing.B, stub http.Handler, addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	s := httptest.NewUnstartedServer(stub)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	b.Cleanup(s.Close)
	return ln.Addr().String()
}

// bridgeAddr returns this machine's address on the cluster's network: the
// local interface address in the same /24 as node1.
func bridgeAddr(b *testing.B, cl *clustertest.Cluster) string {
	node := net.ParseIP(cl.NodeAddrs[cl.Nodes[0]])
	addrs, err := net.InterfaceAddrs()
	if err != nil || node == nil {
		b.Fatalf("bridge address: %v (node %q)", err, cl.NodeAddrs[cl.Nodes[0]])
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.Contains(node) {
			return ipn.IP.String()
		}
	}
	b.Fatalf("no local address on the network of %s", node)
	return ""
}

// reportMonitor starts a monitor job on the local scheduler whose
// Prometheus program only sleeps, and returns its Servers and ID once it
// runs and has reported its port.
func reportMonitor(ctx context.Context, b *testing.B) (*servers.Servers, string) {
	dir := b.TempDir()
	fake := filepath.Join(dir, "fake-prometheus")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 3600\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	sched := slurm.NewLocal(slurm.LocalOptions{StateDir: filepath.Join(dir, "state"),
		KillWait: time.Second})
	b.Cleanup(func() { _ = sched.Close() })
	srv := servers.New(&sshx.Local{}, sched, servers.Options{RunRoot: filepath.Join(dir, "run")})
	rcp := benchRecipe(b, fmt.Sprintf(`
service:
  name: prometheus
  command: %s
  monitoring_targets: []
  scrape_interval: %s
  resources:
    time: "02:00:00"
  ports: [%d]
`, fake, reportScrape, benchFreePort(b)))

	mons := monitors.New(srv, monitors.Options{MetricsDir: dir})
	mon, err := mons.StartMonitor(ctx, rcp)
	if err != nil {
		b.Fatal(err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		m, err := mons.CheckMonitorStatus(ctx, mon.ID)
		if err != nil {
			b.Fatal(err)
		}
		if m.State == slurm.StateRunning && m.Port != 0 {
			return srv, mon.ID
		}
		if m.State.Terminal() {
			b.Fatalf("monitor %s ended: %s", mon.ID, m.State)
		}
		select {
		case <-ctx.Done():
			b.Fatalf("monitor %s: %v", mon.ID, ctx.Err())
		case <-tick.C:
		}
	}
}

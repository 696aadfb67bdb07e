package monitors

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// stubResp is one canned HTTP answer.
type stubResp struct {
	status int
	body   string
}

// stubReq is one request the stub saw.
type stubReq struct {
	path, query string
	rng         v1.Range
	authOK      bool
}

// promStub is an httptest Prometheus answering with recorded bodies. It
// asks for basic auth like a monitor's Prometheus.
type promStub struct {
	t        *testing.T
	srv      *httptest.Server
	password string

	mu      sync.Mutex
	queries map[string]stubResp
	ranges  map[string]func(r v1.Range) stubResp
	anyRng  func(q string, r v1.Range) stubResp
	paths   map[string]stubResp
	reqs    []stubReq
}

func newPromStub(t *testing.T) *promStub {
	t.Helper()
	s := &promStub{
		t:        t,
		password: "stub-password",
		queries:  map[string]stubResp{},
		ranges:   map[string]func(v1.Range) stubResp{},
		paths: map[string]stubResp{
			"/-/ready":                        {200, "Prometheus Server is Ready.\n"},
			"/api/v1/status/buildinfo":        fixture(t, "buildinfo"),
			"/api/v1/targets":                 fixture(t, "targets_up"),
			"/api/v1/label/__name__/values":   fixture(t, "labels"),
			"/api/v1/status/runtimeinfo":      {404, "not found"},
			"/api/v1/status/no-such-endpoint": {404, "not found"},
		},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// fixture returns a recorded body with the status Prometheus sent with it.
func fixture(t *testing.T, name string) stubResp {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "prom", name+".json"))
	require.NoError(t, err)

	var env struct {
		ErrorType string `json:"errorType"`
	}
	require.NoError(t, json.Unmarshal(data, &env))
	status := map[string]int{"": 200, "bad_data": 400, "execution": 422,
		"timeout": 503}[env.ErrorType]
	return stubResp{status, string(data)}
}

func (s *promStub) on(query string, r stubResp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries[query] = r
}

func (s *promStub) onRange(query string, f func(v1.Range) stubResp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ranges[query] = f
}

func (s *promStub) onPath(path string, r stubResp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths[path] = r
}

func (s *promStub) requests() []stubReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stubReq(nil), s.reqs...)
}

func (s *promStub) rangeRequests(query string) []v1.Range {
	var out []v1.Range
	for _, r := range s.requests() {
		if r.path == "/api/v1/query_range" && r.query == query {
			out = append(out, r.rng)
		}
	}
	return out
}

// addr returns the stub's host and port.
func (s *promStub) addr() (string, int) {
	host, port, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return host, p
}

func (s *promStub) serve(w http.ResponseWriter, r *http.Request) {
	user, pw, ok := r.BasicAuth()
	authOK := ok && user == User && pw == s.password
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	req := stubReq{path: r.URL.Path, query: r.Form.Get("query"), authOK: authOK}
	if r.URL.Path == "/api/v1/query_range" {
		req.rng = v1.Range{
			Start: parseStubTime(r.Form.Get("start")),
			End:   parseStubTime(r.Form.Get("end")),
			Step:  parseStubStep(r.Form.Get("step")),
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()

	if !authOK {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	resp, found := s.answer(req)
	if !found {
		s.t.Errorf("prometheus stub: no answer for %s %q", req.path, req.query)
		resp = stubResp{500,
			`{"status":"error","errorType":"internal","error":"stub has no answer"}`}
	}
	if strings.HasPrefix(resp.body, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.status)
	fmt.Fprint(w, resp.body)
}

func (s *promStub) answer(req stubReq) (stubResp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.path {
	case "/api/v1/query":
		r, ok := s.queries[req.query]
		return r, ok
	case "/api/v1/query_range":
		if f, ok := s.ranges[req.query]; ok {
			return f(req.rng), true
		}
		if s.anyRng != nil {
			return s.anyRng(req.query, req.rng), true
		}
		return stubResp{}, false
	}
	r, ok := s.paths[req.path]
	return r, ok
}

func parseStubTime(s string) time.Time {
	f, _ := strconv.ParseFloat(s, 64)
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
}

func parseStubStep(s string) time.Duration {
	f, _ := strconv.ParseFloat(s, 64)
	return time.Duration(f * float64(time.Second))
}

// matrixJSON renders a query_range answer: one series per label set,
// with value(t) at every step of r.
func matrixJSON(r v1.Range, series []map[string]string, value func(i int,
	t time.Time) string) string {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for i, labels := range series {
		if i > 0 {
			b.WriteString(",")
		}
		l, _ := json.Marshal(labels)
		b.WriteString(`{"metric":` + string(l) + `,"values":[`)
		n := 0
		for t := r.Start; !t.After(r.End); t = t.Add(r.Step) {
			if n > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `[%d,"%s"]`, t.Unix(), value(i, t))
			n++
		}
		b.WriteString("]}")
	}
	b.WriteString("]}}")
	return b.String()
}

// fakeBackend stands in for *servers.Servers: services in memory, run
// folders in a temporary folder reached through sshx.Local.
type fakeBackend struct {
	t    *testing.T
	root string
	exec *sshx.Local

	mu      sync.Mutex
	svcs    map[string]*servers.Service
	started []servers.StartOptions
	dryRuns []servers.StartOptions
	recipes []*recipe.Recipe
	stopped []string
	logs    string
	nextID  int
	checks  int
	// onCheck, when set, may change a service before CheckServiceStatus
	// reports it; n counts the calls.
	onCheck func(n int, s *servers.Service)
}

func newFakeBackend(t *testing.T) *fakeBackend {
	return &fakeBackend{
		t: t, root: t.TempDir(), exec: &sshx.Local{},
		svcs: map[string]*servers.Service{},
	}
}

func (f *fakeBackend) Executor() sshx.Executor { return f.exec }

func (f *fakeBackend) add(svc servers.Service) *servers.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	if svc.RunDir == "" {
		svc.RunDir = filepath.Join(f.root, svc.ID)
	}
	require.NoError(f.t, os.MkdirAll(svc.RunDir, 0o755))
	cp := svc
	f.svcs[svc.ID] = &cp
	return &cp
}

func (f *fakeBackend) Start(ctx context.Context, r *recipe.Recipe,
	o servers.StartOptions) (*servers.Service, error) {
	f.mu.Lock()
	f.nextID++
	id := fmt.Sprintf("%s_%08x", o.IDPrefix, f.nextID)
	f.started = append(f.started, o)
	f.recipes = append(f.recipes, r)
	f.mu.Unlock()

	svc := f.add(servers.Service{
		ID: id, JobID: strconv.Itoa(100 + f.nextID), Kind: o.Kind, Name: r.Service.Name,
		State: slurm.StatePending,
	})
	for _, file := range o.Files {
		p := filepath.Join(svc.RunDir, file.Name)
		require.NoError(f.t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(f.t, os.WriteFile(p, file.Data, file.Mode))
	}
	cp := *svc
	return &cp, nil
}

// DryRunStart renders a script naming the command, as the real one does,
// and records the options.
func (f *fakeBackend) DryRunStart(ctx context.Context, r *recipe.Recipe,
	o servers.StartOptions) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dryRuns = append(f.dryRuns, o)
	return "#!/bin/bash\n# " + o.IDPrefix + " " + strings.Join(o.Command[6:], " ") + "\n", nil
}

func (f *fakeBackend) List(ctx context.Context, kind servers.Kind) ([]servers.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []servers.Service
	for _, s := range f.svcs {
		if s.Kind == kind && s.State.Active() {
			out = append(out, *s)
		}
	}
	return out, nil
}

func (f *fakeBackend) CheckServiceStatus(ctx context.Context, id string) (*servers.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	for _, s := range f.svcs {
		if s.ID == id || s.JobID == id {
			if f.onCheck != nil {
				f.onCheck(f.checks, s)
			}
			cp := *s
			return &cp, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", servers.ErrNotFound, id)
}

func (f *fakeBackend) StopService(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.svcs[id]
	if !ok {
		return fmt.Errorf("%w: %s", servers.ErrNotFound, id)
	}
	f.stopped = append(f.stopped, id)
	s.State = slurm.StateCancelled
	return nil
}

func (f *fakeBackend) ReadRunFile(ctx context.Context, id, name string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(f.root, id, name))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("fake: %s: %w", name, fs.ErrNotExist)
	}
	return data, err
}

func (f *fakeBackend) ServiceLogs(ctx context.Context, id string, lines int) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs, nil
}

func (f *fakeBackend) set(id string, change func(*servers.Service)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.svcs[id])
}

// runningMonitor adds a running monitor whose Prometheus is stub, with its
// password and record in its run folder.
func runningMonitor(t *testing.T, b *fakeBackend, stub *promStub, rec *record) *servers.Service {
	t.Helper()
	host, port := stub.addr()
	svc := b.add(servers.Service{
		ID: "prometheus_0a1b2c3d", JobID: "42", Kind: servers.KindMonitor, Name: "prometheus",
		State: slurm.StateRunning, Node: host, Nodes: []string{host}, Port: port,
		Elapsed: 10 * time.Minute,
	})
	if rec == nil {
		rec = &record{Version: recordVersion, ScrapeInterval: "15s", Retention: "15d",
			Created: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Jobs: []scrapeJob{}}
	}
	writeRunFile(t, svc.RunDir, passwordFile, stub.password+"\n")
	data, err := json.Marshal(rec)
	require.NoError(t, err)
	writeRunFile(t, svc.RunDir, recordFile, string(data))
	return svc
}

func writeRunFile(t *testing.T, dir, name, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
}

// newTestMonitors returns Monitors over b, with a fast poll and metrics
// going to a temporary folder.
func newTestMonitors(t *testing.T, b *fakeBackend) *Monitors {
	t.Helper()
	m := newMonitors(b, Options{
		MetricsDir:   filepath.Join(t.TempDir(), "metrics"),
		PollInterval: 10 * time.Millisecond,
	})
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// ctxT returns a context that ends with the test.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func itoa(i int) string { return strconv.Itoa(i) }

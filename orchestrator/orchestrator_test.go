package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

func cadvisorSource(exe string) servers.CAdvisorSource {
	return servers.CAdvisorSource{LocalPath: exe}
}

func TestOpenMissingConfig(t *testing.T) {
	_, err := Open(testCtx(t), filepath.Join(t.TempDir(), "config.yaml"))
	require.ErrorIs(t, err, ErrNoConfig)
	require.Contains(t, err.Error(), "executor: local", "the error says how to get local mode")

	_, err = Open(testCtx(t), "")
	require.ErrorContains(t, err, "no config file given")
}

func TestOpenInvalidConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte("executor: local\nexcutor: ssh\n"), 0o644))
	_, err := Open(testCtx(t), path)
	require.ErrorIs(t, err, recipe.ErrUnknownKey)
	require.NotEmpty(t, recipe.FieldErrors(err))
}

func TestOpenLocal(t *testing.T) {
	s := newLocalSetup(t)
	o := s.open(t)

	require.IsType(t, &sshx.Local{}, o.Executor())
	require.IsType(t, &slurm.Local{}, o.Scheduler())
	require.NotNil(t, o.Servers)
	require.NotNil(t, o.Monitors)
	require.Equal(t, "00:10:00", string(o.Cluster().Slurm.Time))
}

func TestOpenSSHUnreachable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	cfg := "hpc:\n  hostname: 127.0.0.1\n  port: " + strconv.Itoa(freePort(t)) + "\n  username: u\n"
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))

	_, err := Open(testCtx(t), path)
	require.ErrorContains(t, err, "orchestrator: connecting to u@127.0.0.1:")
}

func TestOpenConfigRefusesReadyMadeParts(t *testing.T) {
	_, err := OpenConfig(testCtx(t), nil, Config{Executor: &sshx.Local{}})
	require.ErrorContains(t, err, "use New")
}

func TestNewRequiresParts(t *testing.T) {
	_, err := New(testCtx(t), Config{Scheduler: slurm.NewLocal(slurm.LocalOptions{})})
	require.ErrorContains(t, err, "Executor is required")
	_, err = New(testCtx(t), Config{Executor: &sshx.Local{}})
	require.ErrorContains(t, err, "Scheduler is required")
	_, err = New(testCtx(t), Config{Executor: &sshx.Local{}, Scheduler: &listCounter{},
		Session: "a b"})
	require.ErrorContains(t, err, `session "a b"`)
}

// TestSessionScope: with Config.Session, Servers and SystemStatus see only
// the jobs of that session.
func TestSessionScope(t *testing.T) {
	s := newLocalSetup(t)
	all := s.open(t)
	ctx := testCtx(t)

	cfg, err := LoadConfig(s.config)
	require.NoError(t, err)
	scoped, err := New(ctx, Config{Executor: all.Executor(), Scheduler: all.Scheduler(),
		Cluster: cfg, Session: "mine"})
	require.NoError(t, err)
	defer scoped.Close()

	mine, err := scoped.Servers.StartService(ctx, serviceRecipe(t, "mine"))
	require.NoError(t, err)
	require.Equal(t, "mine", mine.Session)
	_, err = all.Servers.StartService(ctx, serviceRecipe(t, "theirs"))
	require.NoError(t, err)

	st, err := scoped.SystemStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st.Services, 1)
	require.Equal(t, mine.ID, st.Services[0].ID)

	st, err = all.SystemStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st.Services, 2)
}

func TestSSHConfig(t *testing.T) {
	sc, err := SSHConfig(recipe.HPC{Hostname: "login.example.org", Port: 8822,
		Username: "user1", KeyFilename: "/k/id", KnownHosts: "/k/known", Password: "pw",
		ProxyJump: "jumper@bastion:2200,inner"})
	require.NoError(t, err)

	require.Equal(t, "login.example.org", sc.Host)
	require.Equal(t, 8822, sc.Port)
	require.Equal(t, "user1", sc.User)
	require.Equal(t, []string{"/k/id"}, sc.IdentityFiles)
	require.True(t, sc.IdentitiesOnly)
	require.Equal(t, []string{"/k/known"}, sc.KnownHostsFiles)
	require.Equal(t, "pw", sc.Password)
	require.Equal(t, sshx.HostKeyStrict, sc.HostKeyPolicy)

	// ssh -J a,b: a is reached first, so it is the innermost hop's jump.
	require.NotNil(t, sc.ProxyJump)
	require.Equal(t, "inner", sc.ProxyJump.Host)
	require.Equal(t, 0, sc.ProxyJump.Port)
	require.NotNil(t, sc.ProxyJump.ProxyJump)
	require.Equal(t, "bastion", sc.ProxyJump.ProxyJump.Host)
	require.Equal(t, "jumper", sc.ProxyJump.ProxyJump.User)
	require.Equal(t, 2200, sc.ProxyJump.ProxyJump.Port)
	require.Nil(t, sc.ProxyJump.ProxyJump.ProxyJump)
	require.Equal(t, []string{"/k/known"}, sc.ProxyJump.KnownHostsFiles)
	require.True(t, sc.UseAgent, "the agent is offered after the key file, as by OpenSSH")
	require.True(t, sc.ProxyJump.UseAgent)
}

func TestSSHConfigFromAlias(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(
		"Host cluster\n  HostName login.example.org\n  Port 8822\n  User fromfile\n"+
			"  IdentityFile ~/.ssh/id_cluster\n"), 0o600))

	sc, err := SSHConfig(recipe.HPC{SSHConfigHost: "cluster", Username: "override"})
	require.NoError(t, err)
	require.Equal(t, "login.example.org", sc.Host)
	require.Equal(t, 8822, sc.Port)
	require.Equal(t, "override", sc.User, "the config's fields win over ssh_config")
	require.Equal(t, []string{filepath.Join(home, ".ssh", "id_cluster")}, sc.IdentityFiles)
	require.Equal(t, sshx.HostKeyStrict, sc.HostKeyPolicy)
	require.True(t, sc.UseAgent)

	require.NoError(t, os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(
		"Host cluster\n  HostName login.example.org\n  IdentityAgent none\n"), 0o600))
	sc, err = SSHConfig(recipe.HPC{SSHConfigHost: "cluster"})
	require.NoError(t, err)
	require.False(t, sc.UseAgent, "IdentityAgent none")
}

func TestSSHConfigHostKeyPolicy(t *testing.T) {
	sc, err := SSHConfig(recipe.HPC{Hostname: "h", HostKeyPolicy: "accept-new",
		ProxyJump: "bastion"})
	require.NoError(t, err)
	require.Equal(t, sshx.HostKeyAcceptNew, sc.HostKeyPolicy)
	require.Equal(t, sshx.HostKeyAcceptNew, sc.ProxyJump.HostKeyPolicy)

	home := t.TempDir()
	t.Setenv("HOME", home)
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(
		"Host cluster\n  HostName login\n  StrictHostKeyChecking accept-new\n"), 0o600))
	sc, err = SSHConfig(recipe.HPC{SSHConfigHost: "cluster"})
	require.NoError(t, err)
	require.Equal(t, sshx.HostKeyAcceptNew, sc.HostKeyPolicy, "the alias says accept-new")
	sc, err = SSHConfig(recipe.HPC{SSHConfigHost: "cluster", HostKeyPolicy: "strict"})
	require.NoError(t, err)
	require.Equal(t, sshx.HostKeyStrict, sc.HostKeyPolicy, "the config wins")

	_, err = SSHConfig(recipe.HPC{Hostname: "h", HostKeyPolicy: "insecure-ignore"})
	require.ErrorContains(t, err, "neither strict nor accept-new")
}

func TestCAdvisorSource(t *testing.T) {
	cfg := recipe.CAdvisor{LocalPath: "/bin/cadvisor", URL: "https://x/c", SHA256: "ab"}
	require.Equal(t, servers.CAdvisorSource{LocalPath: "/bin/cadvisor", URL: "https://x/c",
		SHA256: "ab"}, CAdvisorSource(cfg, servers.CAdvisorSource{}))
	require.Equal(t, servers.CAdvisorSource{LocalPath: "/flag", URL: "https://x/c",
		SHA256: "ab", Path: "/p"},
		CAdvisorSource(cfg, servers.CAdvisorSource{LocalPath: "/flag", Path: "/p"}))
	require.Equal(t, servers.CAdvisorSource{}, CAdvisorSource(recipe.CAdvisor{},
		servers.CAdvisorSource{}))
}

func TestSSHConfigErrors(t *testing.T) {
	_, err := SSHConfig(recipe.HPC{})
	require.ErrorContains(t, err, "names no login node")

	_, err = SSHConfig(recipe.HPC{Hostname: "h", ProxyJump: "j:99999"})
	require.ErrorContains(t, err, `proxy_jump "j:99999": bad port`)

	_, err = SSHConfig(recipe.HPC{Hostname: "h", ProxyJump: "u@"})
	require.ErrorContains(t, err, "no host")
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
	}{
		{"h", "h", 0},
		{"h:22", "h", 22},
		{"[::1]:2222", "::1", 2222},
		{"[::1]", "::1", 0},
		{"::1", "::1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, p, err := splitHostPort(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.host, h)
			require.Equal(t, tt.port, p)
		})
	}
}

func TestLoadRecipe(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mine.yaml")
	require.NoError(t, os.WriteFile(file, []byte("service:\n  name: mine\n  command: x\n"),
		0o644))

	tests := []struct {
		name, path, want string
	}{
		{"file", file, "mine"},
		{"catalog name", "redis", "redis"},
		{"catalog name with extension", "mini_http_bare.yaml", "mini-http-bare"},
		{"reference path outside a checkout", "recipes/services/ollama_with_cadvisor.yaml",
			"ollama"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := LoadRecipe(tt.path)
			require.NoError(t, err)
			require.Equal(t, tt.want, r.Service.Name)
		})
	}

	_, err := LoadRecipe("no_such_recipe")
	require.ErrorContains(t, err, "no catalog recipe of that name (see")
	_, err = LoadRecipe("redis_with_cadvsior")
	require.ErrorContains(t, err, `no catalog recipe of that name; did you mean `+
		`"redis_with_cadvisor"? (see hpcorch --list-recipes)`)
	_, err = LoadRecipe(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = LoadRecipe("")
	require.ErrorContains(t, err, "no recipe given")
}

func TestOrchestratorLoadRecipeAppliesDefaults(t *testing.T) {
	o, err := New(testCtx(t), Config{Executor: &sshx.Local{}, Scheduler: &listCounter{},
		Cluster: &recipe.Config{Slurm: recipe.Resources{Account: "proj1", Time: "01:00:00"}}})
	require.NoError(t, err)
	defer o.Close()

	r, err := o.LoadRecipe("mini_http_bare")
	require.NoError(t, err)
	require.Equal(t, "proj1", r.Service.Resources.Account)
	require.Equal(t, "00:30:00", string(r.Service.Resources.Time), "the recipe's own time wins")
}

func TestWriteTable(t *testing.T) {
	jobs := []servers.Service{
		{JobID: "3653331", ID: "ollama_abc123", State: slurm.StateRunning,
			Elapsed: 5*time.Minute + 23*time.Second, Node: "mel2073"},
		{JobID: "3653332", ID: "prometheus_6355d49f", State: slurm.StateRunning,
			Elapsed: 4*time.Minute + 35*time.Second, Node: "mel2074"},
		{JobID: "3653333", ID: "redis_def456", State: slurm.StatePending,
			Reason: "Resources"},
	}
	var b bytes.Buffer
	WriteTable(&b, "Services", jobs)
	require.Equal(t, `Services:
   3653331 | ollama_abc123       |    RUNNING |     5:23 | mel2073
   3653332 | prometheus_6355d49f |    RUNNING |     4:35 | mel2074
   3653333 | redis_def456        |    PENDING |     0:00 | (Resources)
`, b.String())

	// The reference's one-line example, byte for byte.
	jobs[0].Elapsed = time.Minute + 23*time.Second
	b.Reset()
	WriteTable(&b, "Services", jobs[:1])
	require.Equal(t, "Services:\n   3653331 | ollama_abc123 |    RUNNING |     1:23 | mel2073\n",
		b.String())

	b.Reset()
	WriteTable(&b, "Monitors", nil)
	require.Equal(t, "Monitors:\n   (none)\n", b.String())
}

func TestFormatElapsed(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0:00"},
		{-time.Second, "0:00"},
		{35 * time.Second, "0:35"},
		{83*time.Second + 900*time.Millisecond, "1:23"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1:02:03"},
		{26*time.Hour + 5*time.Second, "1-02:00:05"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, FormatElapsed(tt.d), "%v", tt.d)
	}
}

func TestSSHCommand(t *testing.T) {
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	tests := []struct {
		name   string
		target sshx.Target
		want   string
	}{
		{
			name: "the reference's form",
			target: sshx.Target{User: "user1", Host: "login.lxp.lu", Port: 8822,
				IdentityFiles: []string{"~/.ssh/id_ed25519_mlux"},
				KnownHostsFiles: []string{filepath.Join(home, ".ssh", "known_hosts"),
					"/etc/ssh/ssh_known_hosts"}},
			want: "ssh -i ~/.ssh/id_ed25519_mlux -L 9090:mel2074:9090 -N " +
				"user1@login.lxp.lu -p 8822",
		},
		{
			name: "default port, own known_hosts and a jump host",
			target: sshx.Target{User: "hpcuser", Host: "127.0.0.1", Port: 22,
				KnownHostsFiles: []string{"/opt/c/known hosts"}, ProxyJump: "j@bastion:2200"},
			want: "ssh -L 9090:mel2074:9090 -N hpcuser@127.0.0.1 " +
				"-o 'UserKnownHostsFile=/opt/c/known hosts' -J j@bastion:2200",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, SSHCommand(tt.target, 9090, "mel2074", 9090))
		})
	}
}

// listCounter is a Scheduler with no jobs that counts its List calls.
type listCounter struct {
	lists atomic.Int32
}

func (l *listCounter) Submit(context.Context, slurm.JobSpec) (string, error) {
	return "", errors.New("listCounter: no submissions")
}

func (l *listCounter) Status(_ context.Context, ids []string) (map[string]slurm.Job, error) {
	out := map[string]slurm.Job{}
	for _, id := range ids {
		out[id] = slurm.Job{ID: id}
	}
	return out, nil
}

func (l *listCounter) List(context.Context) ([]slurm.Job, error) {
	l.lists.Add(1)
	return nil, nil
}

func (l *listCounter) Cancel(context.Context, string) error { return nil }

func TestSystemStatusOneRound(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	sched := &listCounter{}
	o, err := New(testCtx(t), Config{Executor: &sshx.Local{}, Scheduler: sched})
	require.NoError(t, err)
	defer o.Close()

	st, err := o.SystemStatus(testCtx(t))
	require.NoError(t, err)
	require.EqualValues(t, 1, sched.lists.Load(), "services and monitors from one round")
	require.True(t, st.Connection.OK)
	require.Equal(t, "local", st.Connection.Executor)
	require.Equal(t, "*orchestrator.listCounter", st.Connection.Scheduler)
	require.Empty(t, st.Services)
	require.Empty(t, st.Monitors)
}

// failingList is a Scheduler whose List fails.
type failingList struct{ listCounter }

func (f *failingList) List(context.Context) ([]slurm.Job, error) {
	return nil, errors.New("squeue: connection refused")
}

func TestSystemStatusFailure(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	o, err := New(testCtx(t), Config{Executor: &sshx.Local{}, Scheduler: &failingList{}})
	require.NoError(t, err)
	defer o.Close()

	st, err := o.SystemStatus(testCtx(t))
	require.ErrorContains(t, err, "squeue: connection refused")
	require.NotNil(t, st)
	require.False(t, st.Connection.OK)
	require.Contains(t, st.Connection.Error, "connection refused")
}

func TestClose(t *testing.T) {
	o, err := New(testCtx(t), Config{Executor: &sshx.Local{}, Scheduler: &listCounter{}})
	require.NoError(t, err)
	require.NoError(t, o.Close())
	require.NoError(t, o.Close(), "Close is idempotent")

	ctx := testCtx(t)
	_, err = o.SystemStatus(ctx)
	require.ErrorIs(t, err, ErrClosed)
	_, err = o.OpenTunnel(ctx, "x", 0, 0)
	require.ErrorIs(t, err, ErrClosed)
	_, err = o.StartBenchmarkSession(ctx, &recipe.Recipe{})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, o.StopBenchmarkSession(ctx, "session_x"), ErrClosed)
	require.ErrorIs(t, o.ShowMonitorsStatus(ctx, io.Discard), ErrClosed)
	_, err = o.WaitReady(ctx, "x", nil)
	require.ErrorIs(t, err, ErrClosed)
}

// TestLocalServiceLifecycle runs a service through the Orchestrator on the
// local scheduler: start, wait with progress, status, endpoint, tunnel,
// Close leaving it running, found again by a second Orchestrator, stop.
func TestLocalServiceLifecycle(t *testing.T) {
	s := newLocalSetup(t)
	o := s.open(t)
	ctx := testCtx(t)

	svc, err := o.Servers.StartService(ctx, serviceRecipe(t, "web"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(svc.ID, "web_"), svc.ID)

	var mu sync.Mutex
	var seen []Progress
	ready, err := o.WaitReady(ctx, svc.ID, func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p)
	})
	require.NoError(t, err)
	require.Equal(t, slurm.StateRunning, ready.State)
	require.NotZero(t, ready.Port)
	mu.Lock()
	require.NotEmpty(t, seen, "progress is reported at least once")
	require.Equal(t, svc.ID, seen[0].ID)
	require.Equal(t, svc.JobID, seen[0].JobID)
	mu.Unlock()

	st, err := o.SystemStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st.Services, 1)
	require.Equal(t, svc.ID, st.Services[0].ID)
	require.Equal(t, ready.Node, st.Services[0].Node)
	require.Empty(t, st.Monitors)

	tun, err := o.OpenTunnel(ctx, svc.ID, 0, 0)
	require.NoError(t, err)
	require.Equal(t, "", o.SSHCommand(tun), "no ssh command for the local executor")
	body := get(t, tun.URL()+"/")
	require.Equal(t, serviceBody, body)

	// A second Orchestrator, as a new process, sees the job; closing the
	// first leaves it running and closes its tunnel.
	o2 := s.open(t)
	require.NoError(t, o.Close())
	_, err = http.Get(tun.URL() + "/")
	require.Error(t, err, "the tunnel closed with the Orchestrator")
	got, err := o2.Servers.CheckServiceStatus(ctx, svc.JobID)
	require.NoError(t, err)
	require.Equal(t, slurm.StateRunning, got.State)

	require.NoError(t, o2.Servers.StopService(ctx, svc.ID))
	got, err = o2.Servers.CheckServiceStatus(ctx, svc.ID)
	require.NoError(t, err)
	require.Equal(t, slurm.StateCancelled, got.State)
}

func TestOpenTunnelErrors(t *testing.T) {
	s := newLocalSetup(t)
	o := s.open(t)
	ctx := testCtx(t)

	_, err := o.OpenTunnel(ctx, "nope_12345678", 0, 0)
	require.ErrorIs(t, err, servers.ErrNotFound)

	// A service that ended has no address any more.
	r := serviceRecipe(t, "short")
	r.Service.Command, r.Service.HealthCheck = "true", nil
	svc, err := o.Servers.StartService(ctx, r)
	require.NoError(t, err)
	_, err = o.Servers.WaitReady(ctx, svc.ID)
	require.Error(t, err)
	_, err = o.OpenTunnel(ctx, svc.ID, 0, 0)
	require.ErrorIs(t, err, servers.ErrNotRunning)
}

func TestStopBenchmarkSessionBySessionID(t *testing.T) {
	s := newLocalSetup(t)
	o := s.open(t)
	ctx := testCtx(t)

	// Jobs tagged with a session, as StartBenchmarkSession (in another
	// process) tags them.
	const sid = "session_0badf00d"
	tagged := servers.New(o.Executor(), o.Scheduler(), servers.Options{Session: sid})
	a, err := tagged.StartService(ctx, serviceRecipe(t, "a"))
	require.NoError(t, err)
	b, err := tagged.StartService(ctx, serviceRecipe(t, "b"))
	require.NoError(t, err)
	other, err := o.Servers.StartService(ctx, serviceRecipe(t, "other"))
	require.NoError(t, err)

	st, err := o.SystemStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st.Services, 3)
	require.Len(t, st.Sessions, 1)
	require.Equal(t, sid, st.Sessions[0].ID)
	require.ElementsMatch(t, []string{a.ID, b.ID}, st.Sessions[0].Services)
	require.Empty(t, st.Sessions[0].Monitors)

	require.NoError(t, o.StopBenchmarkSession(ctx, sid))
	st, err = o.SystemStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st.Services, 1)
	require.Equal(t, other.ID, st.Services[0].ID, "jobs of no session are left alone")
	require.Empty(t, st.Sessions)

	err = o.StopBenchmarkSession(ctx, sid)
	require.ErrorIs(t, err, servers.ErrNotFound, "nothing left to stop")
}

// TestStartBenchmarkSessionUndo: when the service never becomes ready,
// StartBenchmarkSession fails, says which step, and leaves nothing running.
func TestStartBenchmarkSessionUndo(t *testing.T) {
	s := newLocalSetup(t)
	o := s.open(t)
	ctx := testCtx(t)

	r := serviceRecipe(t, "broken")
	r.Service.Command = "false"
	sess, err := o.StartBenchmarkSession(ctx, r)
	require.Nil(t, sess)
	require.ErrorContains(t, err, "orchestrator: waiting for service broken_")
	require.ErrorIs(t, err, servers.ErrJobEnded)

	st, err := o.SystemStatus(ctx)
	require.NoError(t, err)
	require.Empty(t, st.Services)
	require.Empty(t, st.Monitors)
}

func TestShowMonitorsStatusEmpty(t *testing.T) {
	s := newLocalSetup(t)
	o := s.open(t)
	var b bytes.Buffer
	require.NoError(t, o.ShowMonitorsStatus(testCtx(t), &b))
	require.Equal(t, "Monitors:\n   (none)\n", b.String())
}

// get fetches url and returns its body, failing the test on any error.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(b)
}

// TestOpenConfigCAdvisor: the config's cadvisor section reaches Servers,
// so that a recipe enabling cAdvisor uploads local_path without an install
// step; a source given in code wins.
func TestOpenConfigCAdvisor(t *testing.T) {
	cfg, err := recipe.DecodeConfig(strings.NewReader("executor: local\nstate_dir: "+
		t.TempDir()+"\ncadvisor:\n  local_path: /opt/bin/cadvisor\n"), "config.yaml")
	require.NoError(t, err)
	o, err := OpenConfig(context.Background(), cfg, Config{})
	require.NoError(t, err)
	defer o.Close()
	require.Equal(t, "/opt/bin/cadvisor", o.cfg.CAdvisor.LocalPath)

	o2, err := OpenConfig(context.Background(), cfg,
		Config{CAdvisor: servers.CAdvisorSource{LocalPath: "/flag"}})
	require.NoError(t, err)
	defer o2.Close()
	require.Equal(t, "/flag", o2.cfg.CAdvisor.LocalPath)
}

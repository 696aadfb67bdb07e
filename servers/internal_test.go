package servers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// TestDryRunTestdataGolden renders the recipes in testdata/recipes, which
// use what the catalog does not (runscript, binds, GPUs, several ports,
// awkward environment values, a session).
func TestDryRunTestdataGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "recipes", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	s := dryRunServers(t, Options{Session: "golden",
		CAdvisor: CAdvisorSource{URL: "https://example.invalid/cadvisor", SHA256: "ab12"},
		Defaults: recipe.Resources{QOS: "normal", Partition: "ignored-when-set"}})
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			r, err := recipe.Load(file)
			require.NoError(t, err)
			got, err := s.DryRun(context.Background(), r)
			require.NoError(t, err)
			checkGolden(t, filepath.Join("testdata", "golden", "testdata_"+name+".sh"), got)
		})
	}
}

func TestDryRunContents(t *testing.T) {
	s := dryRunServers(t, Options{Session: "golden"})
	r, err := recipe.Load(filepath.Join("testdata", "recipes", "everything.yaml"))
	require.NoError(t, err)
	got, err := s.DryRun(context.Background(), r)
	require.NoError(t, err)

	for _, want := range []string{
		"#SBATCH --job-name=everything_0a1b2c3d\n",
		"#SBATCH --comment=hpcorch:service:golden\n",
		"#SBATCH --gres=gpu:2\n",
		"#SBATCH --mem=32G\n",
		"hpcorch_pick 7000 1 || exit 1\n",
		"hpcorch_pick 7001 1 || exit 1\n",
		"hpcorch_pick 7002 0 || exit 1\n", // nothing reads HPCORCH_PORT_2
		"hpcorch_pick 9100 1 || exit 1\n",
		`hpcorch_env MODELS "${HOME}"/models` + "\n",
		`HPCORCH_IMAGE="${HOME}"/containers/tools.sif` + "\n",
		`hpcorch_image "$HPCORCH_IMAGE" docker://ghcr.io/example/tools:1.2 || exit 1`,
		`apptainer run --nv --bind "${HOME}"/data:/data:ro --bind /scratch:/scratch ` +
			`"${HPCORCH_APPTAINER_ENV[@]}" "$HPCORCH_IMAGE" --listen 0.0.0.0:"${HPCORCH_PORT}" ` +
			`--admin "${HPCORCH_PORT_1}" --data "${HOME}"/data` + "\n",
	} {
		require.Contains(t, got, want)
	}
}

func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run go test -update to create the golden file")
	if diff := firstDiff(string(want), got); diff != "" {
		t.Fatalf("%s differs from the dry run (go test -update rewrites it):\n%s", file, diff)
	}
}

func TestComment(t *testing.T) {
	tests := []struct {
		kind    Kind
		session string
		text    string
	}{
		{KindService, "", "hpcorch:service"},
		{KindService, "s1", "hpcorch:service:s1"},
		{KindMonitor, "a.b-c", "hpcorch:monitor:a.b-c"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.text, comment(tt.kind, tt.session))
		k, s, ok := parseComment(tt.text)
		require.True(t, ok)
		require.Equal(t, tt.kind, k)
		require.Equal(t, tt.session, s)
	}
	for _, other := range []string{"", "my own job", "hpcorch", "xhpcorch:service"} {
		_, _, ok := parseComment(other)
		require.False(t, ok, other)
	}
}

func TestParseStatuses(t *testing.T) {
	out := "\x1ea_00000001\nVERSION=1\nPORT=18080\nPORTS=18080,18081\nCADVISOR_PORT=8080\n" +
		"CGROUP=/slurm_node2/uid_2001/job_42\nNAME=web\n\x1eb_00000002\n"
	st := parseStatuses([]byte(out))
	require.Len(t, st, 2)
	require.Empty(t, st["b_00000002"])

	svc := Service{ID: "a_00000001", State: slurm.StateRunning}
	svc.apply(st["a_00000001"])
	require.Equal(t, 18080, svc.Port)
	require.Equal(t, []int{18080, 18081}, svc.Ports)
	require.Equal(t, 8080, svc.CAdvisorPort)
	require.Equal(t, "/slurm_node2/uid_2001/job_42", svc.CgroupID)
	require.Equal(t, "web", svc.Name)
}

// homeExec answers the home folder lookup and records commands.
type homeExec struct {
	mu   sync.Mutex
	cmds []string
}

func (h *homeExec) Run(_ context.Context, cmd string, _ io.Reader) ([]byte, []byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmds = append(h.cmds, cmd)
	return []byte("/home/remote\n"), nil, nil
}

func (h *homeExec) Put(context.Context, string, io.Reader, fs.FileMode) error { return nil }

func (h *homeExec) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, net.ErrClosed
}

func TestRunRoot(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/home/remote/.hpcorch/run"},
		{"~/x", "/home/remote/x"},
		{"$HOME/y/z", "/home/remote/y/z"},
		{"${HOME}/w", "/home/remote/w"},
		{"rel/dir", "/home/remote/rel/dir"},
		{"/abs/dir/", "/abs/dir"},
	}
	for _, tt := range tests {
		h := &homeExec{}
		s := New(h, slurm.NewLocal(slurm.LocalOptions{StateDir: t.TempDir()}),
			Options{RunRoot: tt.in})
		got, err := s.root(context.Background())
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
		_, err = s.root(context.Background())
		require.NoError(t, err)
		if strings.HasPrefix(tt.in, "/") {
			require.Empty(t, h.cmds, "an absolute root needs no lookup")
		} else {
			require.Len(t, h.cmds, 1, "the home folder is looked up once")
		}
	}

	s := New(&homeExec{}, nil, Options{RunRoot: "$HOME/$USER"})
	_, err := s.root(context.Background())
	require.Error(t, err)
}

func TestRecipeCheck(t *testing.T) {
	_, ok := RecipeCheck(nil)
	require.False(t, ok)

	c, ok := RecipeCheck(&recipe.HealthCheck{Path: "/ready", Timeout: time.Minute})
	require.True(t, ok)
	require.Equal(t, "http :port/ready", c.Name)
	require.Equal(t, time.Minute, c.Timeout)

	c, ok = RecipeCheck(&recipe.HealthCheck{Type: recipe.CheckTCP, Port: 6379})
	require.True(t, ok)
	require.Equal(t, "tcp :6379", c.Name)
	require.Equal(t, recipe.DefaultHealthTimeout, c.Timeout)

	c, ok = RecipeCheck(&recipe.HealthCheck{Expect: "listening"})
	require.True(t, ok)
	require.Equal(t, `log "listening"`, c.Name)

	c, ok = RecipeCheck(&recipe.HealthCheck{Endpoint: "http://localhost:11434/api/tags"})
	require.True(t, ok)
	require.Equal(t, "http http://localhost:11434/api/tags", c.Name)

	tg := &Target{Servers: New(&homeExec{}, slurm.New(&homeExec{}, slurm.Options{}), Options{}),
		Service: &Service{ID: "x_1", Node: "node2", Port: 80}}
	addr, err := tg.addr("localhost", 11434)
	require.NoError(t, err)
	require.Equal(t, "node2:11434", addr)
	addr, err = tg.addr("", 0)
	require.NoError(t, err)
	require.Equal(t, "node2:80", addr)
	tg.Service.Port = 0
	_, err = tg.addr("", 0)
	require.ErrorIs(t, err, ErrNoPort)
}

func TestValidRelPath(t *testing.T) {
	for _, ok := range []string{"a", "a/b.yml", "conf/x"} {
		require.True(t, validRelPath(ok), ok)
	}
	for _, bad := range []string{"", "/a", "../a", "a/../../b", ".", "a//b", "a/./b"} {
		require.False(t, validRelPath(bad), bad)
	}
}

func TestClassifyLog(t *testing.T) {
	base := errors.New("job ended")
	tests := []struct {
		log  string
		want error
	}{
		{"F0225 cadvisor.go:153] listen tcp :8080: bind: address already in use", ErrPortInUse},
		{"OSError: [Errno 98] Address in use", ErrPortInUse},
		{"FATAL:   While making image from oci registry: error fetching image to cache: " +
			"failed to get checksum for docker://org/img:0.4.2: error pinging docker registry " +
			"registry-1.docker.io: Get \"https://registry-1.docker.io/v2/\": dial tcp 1.2.3.4:443: " +
			"i/o timeout", ErrRegistryUnreachable},
		{"hpcorch: cannot build /h/x.sif from docker://x: node2 may not reach the registry; ...",
			ErrRegistryUnreachable},
		{"FATAL:   ... Error reading manifest latest in docker.io/org/img: manifest unknown",
			ErrImageNotFound},
		{"FATAL:   container creation failed: mount hook function failure: mount " +
			"/tmp/test->/tmp/test error: while mounting /tmp/test: destination /tmp/test " +
			"doesn't exist in container", ErrBindDestination},
		{"my service: upstream i/o timeout, retrying", nil},
		{"all good", nil},
	}
	for _, tt := range tests {
		err := classifyLog(tt.log, base)
		require.ErrorIs(t, err, base)
		for _, s := range []error{ErrPortInUse, ErrRegistryUnreachable, ErrImageNotFound,
			ErrBindDestination} {
			require.Equal(t, s == tt.want, errors.Is(err, s), "%q: %v", tt.log, s)
		}
	}
}

func TestClassifyLogBindDestination(t *testing.T) {
	err := classifyLog("FATAL:   container creation failed: mount hook function failure: "+
		"mount /data->/data error: while mounting /data: destination /data doesn't exist in "+
		"container\n", errors.New("job ended"))
	var be *BindError
	require.ErrorAs(t, err, &be)
	require.Equal(t, "/data", be.Path)
	require.Contains(t, err.Error(), "bind destination /data does not exist in the container")
}

func TestImages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := New(&sshx.Local{}, slurm.NewLocal(slurm.LocalOptions{StateDir: t.TempDir()}),
		Options{RunRoot: dir})
	img := filepath.Join(dir, "img", "x.sif")
	r := &recipe.Recipe{Service: recipe.Service{Name: "x",
		Container: &recipe.Container{ImagePath: img}}}

	// Missing, and nothing to build it from: said once.
	_, err := s.BuildImage(ctx, r)
	require.ErrorContains(t, err, "names no docker_source")
	require.Equal(t, 1, strings.Count(err.Error(), "names no docker_source"), err.Error())

	// What is not an image is not uploaded: a folder, a text file.
	_, err = s.UploadImage(ctx, r, t.TempDir())
	require.ErrorContains(t, err, "not a regular file")
	text := filepath.Join(t.TempDir(), "hostname")
	require.NoError(t, os.WriteFile(text, []byte("vm\n"), 0o644))
	_, err = s.UploadImage(ctx, r, text)
	require.ErrorContains(t, err, "not a SIF or SquashFS image (3 bytes)")
	require.NoFileExists(t, img)

	// A SIF: a 32-byte launch line, then its magic.
	sif := append([]byte(fmt.Sprintf("%-31s\n", "#!/usr/bin/env run-singularity")),
		"SIF_MAGIC\x0001\x00rest"...)
	local := filepath.Join(t.TempDir(), "local.sif")
	require.NoError(t, os.WriteFile(local, sif, 0o644))
	got, err := s.UploadImage(ctx, r, local)
	require.NoError(t, err)
	require.Equal(t, img, got)
	data, err := os.ReadFile(img)
	require.NoError(t, err)
	require.Equal(t, sif, data, "uploaded whole, from its first byte")

	// An empty file at the image path is no image: Build sees it missing.
	require.NoError(t, os.WriteFile(img, nil, 0o644))
	_, err = s.BuildImage(ctx, r)
	require.ErrorContains(t, err, "names no docker_source")
	require.NoError(t, os.WriteFile(img, sif, 0o644))

	// Present: nothing to do.
	got, err = s.BuildImage(ctx, r)
	require.NoError(t, err)
	require.Equal(t, img, got)

	_, err = s.BuildImage(ctx, &recipe.Recipe{Service: recipe.Service{Name: "bare"}})
	require.Error(t, err)
}

// StartOptions.Env, which skips recipe validation, cannot change the
// variables the job script relies on either.
func TestReservedEnvRefused(t *testing.T) {
	s := dryRunServers(t, Options{})
	r := &recipe.Recipe{Service: recipe.Service{Name: "b", Command: "x"}}
	for _, name := range []string{"HPCORCH_RUN_DIR", "SLURM_JOB_ID", "HOME"} {
		_, err := s.DryRunStart(context.Background(), r, StartOptions{Kind: KindService,
			Env: map[string]string{name: "/tmp"}})
		require.ErrorContains(t, err, "environment name "+name+" is set by", name)
	}
}

// Recipe validation refuses a destination bound twice (BC-20), so the
// script never carries Apptainer's duplicate-bind warning.
func TestBindsValidated(t *testing.T) {
	s := dryRunServers(t, Options{})
	r := &recipe.Recipe{Service: recipe.Service{Name: "b", Command: "x",
		Container: &recipe.Container{ImagePath: "/i.sif",
			BindMounts: []string{"/data", "/data:/data"}}}}
	_, err := s.DryRun(context.Background(), r)
	require.ErrorContains(t, err, "already bound")
}

// TestLibraryRecordsExitCode: a job script that fails before its service
// starts records its exit code in status.env too, so that WaitReady's error
// can tell it when the scheduler does not (squeue prints none).
func TestLibraryRecordsExitCode(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is needed")
	}
	tests := []struct {
		name, body, want string
	}{
		{"before the service", "hpcorch_status PHASE starting\nexit 4\n", "EXIT_CODE=4\n"},
		{"service", "hpcorch_run sh -c 'exit 3'\n", "EXIT_CODE=3\n"},
		{"set -e", "set -e\nfalse\n", "EXIT_CODE=1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command("bash", "-c", jobLibrary+tc.body)
			cmd.Env = append(os.Environ(), "HPCORCH_RUN_DIR="+dir, "HPCORCH_RUN_ROOT="+dir,
				"HPCORCH_ID=x_00000000")
			require.Error(t, cmd.Run())
			st, err := os.ReadFile(filepath.Join(dir, "status.env"))
			require.NoError(t, err)
			require.Equal(t, 1, strings.Count(string(st), "EXIT_CODE="), string(st))
			require.Contains(t, string(st), tc.want)
		})
	}
}

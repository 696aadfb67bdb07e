package recipe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func decodeConfig(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	return DecodeConfig(strings.NewReader(detab(doc)), "config.yaml")
}

func TestDefaultConfig(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	t.Setenv("XDG_STATE_HOME", "")
	c := DefaultConfig()
	require.Equal(t, ExecutorLocal, c.Executor)
	require.Equal(t, SchedulerLocal, c.Scheduler)
	require.Equal(t, DefaultMetricsDir, c.MetricsDir)
	require.Equal(t, "/home/me/.local/state/hpcorch", c.StateDir)
	require.NoError(t, c.Validate())

	t.Setenv("XDG_STATE_HOME", "/xdg")
	require.Equal(t, "/xdg/hpcorch", DefaultConfig().StateDir)

	c, err := LoadConfig("")
	require.NoError(t, err)
	require.Equal(t, ExecutorLocal, c.Executor)

	c, err = decodeConfig(t, "executor: local\n")
	require.NoError(t, err)
	require.Equal(t, SchedulerLocal, c.Scheduler)
}

// A config file that names neither a cluster nor local mode is an error,
// never a silent switch to running jobs on this machine.
func TestConfigMustNameWhereJobsRun(t *testing.T) {
	for _, doc := range []string{"", "# nothing yet\n", "hpc:\n", "slurm: {partition: debug}\n"} {
		c, err := decodeConfig(t, doc)
		require.Nil(t, c, "%q", doc)
		require.ErrorIs(t, err, ErrMissing, "%q", doc)
		fe := one(t, err)
		require.Equal(t, "hpc.hostname", fe.Path)
		require.Contains(t, fe.Error(), "executor: local")
	}
}

func TestDecodeConfig(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	c, err := decodeConfig(t, `
hpc:
	hostname: login.cluster.example
	username: user1
	port: 8822
	key_filename: ~/.ssh/id_ed25519_cluster
	known_hosts: $HOME/.ssh/known_hosts
	proxy_jump: user1@bastion.example:22
slurm:
	account: p200000
	partition: cpu
	qos: default
	time: "01:00:00"
metrics_dir: ~/hpcorch-metrics
cadvisor:
	local_path: ~/bin/cadvisor
	url: https://example.org/cadvisor
	sha256: `+strings.Repeat("ab", 32)+`
`)
	require.NoError(t, err)
	require.Equal(t, "config.yaml", c.File())
	require.Equal(t, HPC{Hostname: "login.cluster.example", Username: "user1", Port: 8822,
		KeyFilename: "/home/me/.ssh/id_ed25519_cluster",
		KnownHosts:  "/home/me/.ssh/known_hosts", ProxyJump: "user1@bastion.example:22"},
		c.HPC)
	require.Equal(t, ExecutorSSH, c.Executor, "hostname implies ssh")
	require.Equal(t, SchedulerSlurm, c.Scheduler, "ssh implies slurm")
	require.Equal(t, "/home/me/hpcorch-metrics", c.MetricsDir)
	require.Equal(t, CAdvisor{LocalPath: "/home/me/bin/cadvisor",
		URL: "https://example.org/cadvisor", SHA256: strings.Repeat("ab", 32)}, c.CAdvisor)
	require.Equal(t, Resources{Account: "p200000", Partition: "cpu", QOS: "default",
		Time: "01:00:00"}, c.Slurm)

	s := Service{Name: "x", Resources: Resources{Partition: "gpu", Time: "00:10:00"}}
	c.Apply(&s)
	require.Equal(t, Resources{Account: "p200000", Partition: "gpu", QOS: "default",
		Time: "00:10:00"}, s.Resources)
}

func TestDecodeConfigSSHConfigHost(t *testing.T) {
	c, err := decodeConfig(t, "hpc:\n\tssh_config_host: minicluster\n")
	require.NoError(t, err)
	require.Equal(t, ExecutorSSH, c.Executor)
	require.Equal(t, SchedulerSlurm, c.Scheduler)
	require.Zero(t, c.HPC.Port, "left for the ssh config")

	c, err = decodeConfig(t, "executor: local\nscheduler: slurm\n")
	require.NoError(t, err, "sbatch on this machine, as on a login node")
	require.Equal(t, SchedulerSlurm, c.Scheduler)
}

func TestDecodeConfigErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		path      string
		line, col int
		kind      error
		want      string
	}{
		{"typo", "hpc:\n\thostnme: x\n", "hpc.hostnme", 2, 3, ErrUnknownKey,
			`did you mean "hostname"?`},
		{"ssh alias", "hpc:\n\tHostName: x\n", "hpc.HostName", 2, 3, ErrUnknownKey,
			`did you mean "hostname"?`},
		{"identity file", "hpc:\n\thostname: x\n\tidentity_file: ~/.ssh/k\n",
			"hpc.identity_file", 3, 3, ErrUnknownKey, `did you mean "key_filename"?`},
		{"wrong level", "partition: gpu\n", "partition", 1, 1, ErrUnknownKey,
			"it belongs under slurm"},
		{"duplicate", "hpc:\n\thostname: a\n\thostname: b\n", "hpc.hostname", 3, 3,
			ErrDuplicateKey, "already given at line 2"},
		{"executor", "executor: slurm\n", "executor", 1, 11, ErrInvalid,
			`executor "slurm" is neither ssh nor local`},
		{"scheduler", "scheduler: pbs\n", "scheduler", 1, 12, ErrInvalid, ""},
		{"ssh without host", "executor: ssh\n", "hpc.hostname", 1, 1, ErrMissing,
			"needs hpc.hostname or hpc.ssh_config_host"},
		{"ssh with local", "hpc: {hostname: x}\nscheduler: local\n", "scheduler", 2, 12,
			ErrInvalid, "needs executor: local"},
		{"url host", "hpc: {hostname: 'ssh://x'}\n", "hpc.hostname", 1, 17, ErrInvalid,
			"is a URL"},
		{"user in host", "hpc: {hostname: user1@x}\n", "hpc.hostname", 1, 17, ErrInvalid,
			"put it in username"},
		{"octal port", "hpc: {hostname: x, port: 022}\n", "hpc.port", 1, 26, ErrType,
			"write 22"},
		{"port zero", "hpc: {hostname: x, port: 0}\n", "hpc.port", 1, 26, ErrInvalid,
			"leave it out for the ssh config's port"},
		{"proxy", "hpc: {hostname: x, proxy_jump: 'a b'}\n", "hpc.proxy_jump", 1, 32,
			ErrInvalid, ""},
		{"pattern alias", "hpc: {ssh_config_host: 'login*'}\n", "hpc.ssh_config_host",
			1, 24, ErrInvalid, "without patterns"},
		{"slurm time", "slurm:\n\ttime: 60\n", "slurm.time", 2, 9, ErrType,
			"60 minutes"},
		{"slurm partition no", "slurm: {partition: no}\n", "slurm.partition", 1, 20,
			ErrType, "quote it"},
		{"syntax", "hpc:\n\thostname: %h\n", "", 2, 13, ErrSyntax, quoteHint},
		{"host key policy", "hpc: {hostname: x, host_key_policy: insecure-ignore}\n",
			"hpc.host_key_policy", 1, 37, ErrInvalid, "neither strict nor accept-new"},
		{"host key accept-new", "hpc: {hostname: x, host_key_policy: accept-new}\n", "",
			0, 0, nil, ""},
		{"cadvisor typo", "executor: local\ncadvisor:\n\tlocal_pth: /x\n",
			"cadvisor.local_pth", 3, 3, ErrUnknownKey, `did you mean "local_path"?`},
		{"cadvisor url", "executor: local\ncadvisor: {url: ftp://x}\n", "cadvisor.url", 2,
			17, ErrInvalid, "not an http or https URL"},
		{"cadvisor sha", "executor: local\ncadvisor: {url: 'https://x', sha256: abc}\n",
			"cadvisor.sha256", 2, 38, ErrInvalid, "64 hex digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := decodeConfig(t, tc.doc)
			if tc.kind == nil {
				require.NoError(t, err)
				return
			}
			require.Nil(t, c)
			fe := one(t, err)
			require.Equal(t, tc.path, fe.Path, "error: %v", fe)
			require.Equal(t, tc.line, fe.Line, "error: %v", fe)
			require.Equal(t, tc.col, fe.Column, "error: %v", fe)
			require.ErrorIs(t, fe, tc.kind)
			require.Contains(t, fe.Error(), tc.want)
		})
	}
}

// The password is accepted but never printed, neither by fmt nor in
// errors about the config.
func TestConfigPasswordIsSecret(t *testing.T) {
	const pw = "hunter2-very-secret"
	c, err := decodeConfig(t, "hpc:\n\thostname: x\n\tpassword: "+pw+"\n")
	require.NoError(t, err)
	require.Equal(t, pw, string(c.HPC.Password))
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		require.NotContains(t, fmt.Sprintf(f, c), pw, f)
		require.NotContains(t, fmt.Sprintf(f, *c), pw, f)
	}
	require.Equal(t, "[redacted]", c.HPC.Password.String())
	require.Empty(t, Secret("").String())

	_, err = decodeConfig(t, "hpc:\n\thostname: x\n\tpassword: "+pw+"\n\tport: 99999\n")
	require.Error(t, err)
	require.NotContains(t, err.Error(), pw)
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte("executor: local\nslurm: {partition: debug}\n"), 0o600))
	c, err := LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, path, c.File())
	require.Equal(t, "debug", c.Slurm.Partition)

	_, err = LoadConfig(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "recipe: open ")

	_, err = LoadConfig(dir)
	require.EqualError(t, err, "recipe: "+dir+" is a folder, not a config file")
}

func TestExpandHome(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	for in, want := range map[string]string{
		"":            "",
		"~":           "/home/me",
		"~/x":         "/home/me/x",
		"$HOME/x":     "/home/me/x",
		"${HOME}/x/y": "/home/me/x/y",
		"$HOME":       "/home/me",
		"/abs":        "/abs",
		"rel/x":       "rel/x",
		"~other/x":    "~other/x",
		"$HOMEDIR/x":  "$HOMEDIR/x",
		"$USER/x":     "$USER/x",
	} {
		require.Equal(t, want, expandHome(in), in)
	}
}

func TestSecretEncoders(t *testing.T) {
	const pw = "hunter2-very-secret"
	h := HPC{Hostname: "x", Password: pw}

	j, err := json.Marshal(h)
	require.NoError(t, err)
	require.NotContains(t, string(j), pw)
	require.Contains(t, string(j), "[redacted]")

	y, err := yaml.Marshal(h)
	require.NoError(t, err)
	require.NotContains(t, string(y), pw)

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("connect", "password", h.Password,
		"hpc", h)
	require.NotContains(t, buf.String(), pw)
}

package recipe

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The executors and schedulers a Config can choose.
const (
	// ExecutorSSH runs commands on the cluster's login node over SSH.
	ExecutorSSH = "ssh"
	// ExecutorLocal runs commands on this machine.
	ExecutorLocal = "local"

	// SchedulerSlurm submits batch jobs to SLURM.
	SchedulerSlurm = "slurm"
	// SchedulerLocal runs batch scripts as local process groups, for
	// trying recipes without a cluster.
	SchedulerLocal = "local"

	// HostKeyStrict is the hpc.host_key_policy that refuses login nodes
	// whose host key is not in known_hosts.
	HostKeyStrict = "strict"
	// HostKeyAcceptNew is the hpc.host_key_policy that trusts a login node
	// seen for the first time and records its key in known_hosts.
	HostKeyAcceptNew = "accept-new"

	// DefaultMetricsDir is where collected metrics are written, relative
	// to the working directory.
	DefaultMetricsDir = "metrics"
)

// Config describes the cluster hpcorch works with and how it reaches it;
// it is usually read from config.yaml with LoadConfig. Every field may be
// left out. After LoadConfig, DecodeConfig, DefaultConfig or SetDefaults,
// the defaults below are filled in:
//
//   - Executor is "ssh" when hpc.hostname or hpc.ssh_config_host is
//     given, else "local".
//   - Scheduler is "slurm" with the ssh executor, else "local".
//   - MetricsDir is "metrics"; StateDir is $XDG_STATE_HOME/hpcorch, or
//     ~/.local/state/hpcorch.
//
// So with no file at all, DefaultConfig runs everything on this machine.
// Paths in a Config are on this machine: ~ and $HOME at their start are
// expanded with the local home folder (unlike paths in recipes).
type Config struct {
	// HPC says how to reach the cluster's login node.
	HPC HPC `yaml:"hpc"`

	// Slurm holds resource defaults for every job (account, partition,
	// qos, time, and any other Resources field); a recipe's own values
	// override them. See Apply.
	Slurm Resources `yaml:"slurm"`

	// Executor is ExecutorSSH or ExecutorLocal.
	Executor string `yaml:"executor"`

	// Scheduler is SchedulerSlurm or SchedulerLocal. The local scheduler
	// needs the local executor; the slurm scheduler works with both (the
	// local executor then runs sbatch on this machine, as on a login
	// node).
	Scheduler string `yaml:"scheduler"`

	// CAdvisor says where cAdvisor comes from when a recipe enables it.
	// The zero value lets the job download the default release.
	CAdvisor CAdvisor `yaml:"cadvisor"`

	// MetricsDir is where collected metrics and reports are written.
	MetricsDir string `yaml:"metrics_dir"`

	// StateDir is where hpcorch keeps the records that let a later run
	// find its services again.
	StateDir string `yaml:"state_dir"`

	file string
	pos  map[string]position
}

// HPC says how to reach the login node. With SSHConfigHost set, the other
// fields default to what ~/.ssh/config says for that Host alias, and any
// field given here overrides it.
type HPC struct {
	// Hostname is the login node's name or address, without user or
	// port.
	Hostname string `yaml:"hostname"`

	// Username is the cluster account; empty means the ssh config's
	// User, or the local user name.
	Username string `yaml:"username"`

	// Port is the login node's SSH port; 0 means the ssh config's Port,
	// or 22.
	Port Port `yaml:"port"`

	// KeyFilename is the private key to log in with; empty means the ssh
	// config's IdentityFile, the SSH agent and the usual key files.
	KeyFilename string `yaml:"key_filename"`

	// KnownHosts is the known_hosts file that holds the login node's host
	// key; empty means ~/.ssh/known_hosts. Host keys are always checked.
	KnownHosts string `yaml:"known_hosts"`

	// HostKeyPolicy says what to do with a login node whose host key is
	// not in known_hosts: HostKeyStrict ("strict") refuses it,
	// HostKeyAcceptNew ("accept-new") trusts it the first time and records
	// it. A key that changed is refused either way; checks cannot be
	// turned off. Empty means what the ssh config alias says
	// (StrictHostKeyChecking), else strict.
	HostKeyPolicy string `yaml:"host_key_policy"`

	// ProxyJump is a jump host, "[user@]host[:port]", as ssh -J takes it.
	ProxyJump string `yaml:"proxy_jump"`

	// SSHConfigHost is a Host alias from ~/.ssh/config to take settings
	// from.
	SSHConfigHost string `yaml:"ssh_config_host"`

	// Password is used only when the server offers password
	// authentication and no key works. Prefer keys: the value sits in the
	// file in clear. It never appears in output; see Secret.
	Password Secret `yaml:"password"`
}

// CAdvisor is the cadvisor section of a Config: where the cAdvisor binary
// that services with enable_cadvisor run comes from. It is installed once
// per cluster, on its shared storage.
type CAdvisor struct {
	// URL is the binary a job downloads when the cluster has none yet;
	// it must be http or https. Empty means hpcorch's default release
	// (servers.DefaultCAdvisorURL, with its checksum). It is not used when
	// LocalPath is set.
	URL string `yaml:"url"`

	// SHA256 is URL's checksum, 64 hex digits; a download that does not
	// match is not installed. Empty means no check for a URL of your own.
	SHA256 string `yaml:"sha256"`

	// LocalPath is a cAdvisor binary on this machine, uploaded over the
	// SSH connection: for clusters whose compute nodes cannot download.
	// Empty means the job downloads URL. A leading ~ or $HOME is
	// expanded locally.
	LocalPath string `yaml:"local_path"`
}

// Secret is a string that is never printed: fmt, log/slog, encoding/json
// and yaml.v3 all show it as "[redacted]". Use string(s) to get the value.
type Secret string

// String returns "[redacted]", or "" for the empty Secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString returns the same as String, so that %#v hides the value too.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue hides the value from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes the redacted form, so that a Config dumped as JSON
// does not leak the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML writes the redacted form, so that a Config dumped as YAML
// does not leak the value. Write the value itself with string(s).
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// DefaultConfig returns the configuration used when there is no config
// file: local executor, local scheduler, default directories.
func DefaultConfig() *Config {
	c := &Config{}
	c.SetDefaults()
	return c
}

// LoadConfig reads, decodes and validates the config file at path. An
// empty path gives DefaultConfig.
func LoadConfig(path string) (*Config, error) {
	if path == "" {
		return DefaultConfig(), nil
	}
	f, err := openFile(path, "config")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeConfig(f, path)
}

// DecodeConfig reads one config from r as Decode reads a recipe (strict,
// with every problem reported as a *FieldError), fills in the defaults and
// validates it; name is used in error messages.
//
// A config must say where jobs run: hpc.hostname or hpc.ssh_config_host
// for a cluster, or executor: local for this machine. One that says
// neither, an empty file included, is an error wrapping ErrMissing rather
// than a silent switch to local mode. (DefaultConfig, for running with no
// file at all, is local.)
func DecodeConfig(r io.Reader, name string) (*Config, error) {
	c := &Config{}
	d, err := decodeFile(r, name, c)
	if errors.Is(err, errEmpty) {
		c.file = name
		return nil, errNoTarget(name)
	}
	if err != nil {
		return nil, err
	}

	c.file, c.pos = name, d.pos
	v := newValidator(name, d.pos, d.bad)
	noTarget := c.Executor == "" && c.HPC.Hostname == "" && c.HPC.SSHConfigHost == ""
	c.SetDefaults()
	c.validate(v)
	if noTarget && len(d.errs) == 0 && len(v.errs) == 0 {
		// Said only when nothing else is wrong: a misspelt hostname
		// key is the likelier cause, and its error says so.
		v.fail("hpc.hostname", errNoTarget(""))
	}
	return nil2(c, joinSorted(append(d.errs, v.errs...)))
}

// errNoTarget is the error for a config that names neither a cluster nor
// local mode; file is set only where no position can be given.
func errNoTarget(file string) error {
	err := errorf(ErrMissing, "the config names no cluster: set hpc.hostname (or "+
		"hpc.ssh_config_host), or executor: local to run jobs on this machine")
	if file == "" {
		return err
	}
	return &FieldError{File: file, Path: "hpc.hostname", Err: err}
}

// File returns the name the config was loaded or decoded from, or "".
func (c *Config) File() string { return c.file }

// SetDefaults fills in the documented defaults of every empty field and
// expands ~ and $HOME at the start of local paths. It is idempotent.
func (c *Config) SetDefaults() {
	if c.Executor == "" {
		c.Executor = ExecutorLocal
		if c.HPC.Hostname != "" || c.HPC.SSHConfigHost != "" {
			c.Executor = ExecutorSSH
		}
	}
	if c.Scheduler == "" {
		c.Scheduler = SchedulerLocal
		if c.Executor == ExecutorSSH {
			c.Scheduler = SchedulerSlurm
		}
	}
	if c.MetricsDir == "" {
		c.MetricsDir = DefaultMetricsDir
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir()
	}

	c.HPC.KeyFilename = expandHome(c.HPC.KeyFilename)
	c.HPC.KnownHosts = expandHome(c.HPC.KnownHosts)
	c.CAdvisor.LocalPath = expandHome(c.CAdvisor.LocalPath)
	c.MetricsDir = expandHome(c.MetricsDir)
	c.StateDir = expandHome(c.StateDir)
}

// Apply fills the empty resources of s from the config's slurm defaults.
func (c *Config) Apply(s *Service) {
	s.Resources = s.Resources.WithDefaults(c.Slurm)
}

// Validate checks the config and reports every problem, each as a
// *FieldError, joined with errors.Join.
func (c *Config) Validate() error {
	v := newValidator(c.file, c.pos, nil)
	c.validate(v)
	return joinSorted(v.errs)
}

var (
	hostnameRe  = regexp.MustCompile(`^[A-Za-z0-9_.:%-]+$`)
	usernameRe  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.@-]*$`)
	proxyJumpRe = regexp.MustCompile(`^[A-Za-z0-9_.@:\[\]%-]+(,[A-Za-z0-9_.@:\[\]%-]+)*$`)
)

func (c *Config) validate(v *validator) {
	switch c.Executor {
	case ExecutorSSH, ExecutorLocal:
	default:
		v.fail("executor", errorf(ErrInvalid, "executor %q is neither ssh nor local",
			c.Executor))
	}
	switch c.Scheduler {
	case SchedulerSlurm, SchedulerLocal:
	default:
		v.fail("scheduler", errorf(ErrInvalid, "scheduler %q is neither slurm nor local",
			c.Scheduler))
	}
	if c.Executor == ExecutorSSH && c.Scheduler == SchedulerLocal {
		v.fail("scheduler", errorf(ErrInvalid, "the local scheduler runs jobs on this "+
			"machine and needs executor: local"))
	}
	if c.Executor == ExecutorSSH && c.HPC.Hostname == "" && c.HPC.SSHConfigHost == "" {
		v.fail("hpc.hostname", errorf(ErrMissing, "the ssh executor needs hpc.hostname "+
			"or hpc.ssh_config_host"))
	}

	c.HPC.validate(v, "hpc")
	c.Slurm.validate(v, "slurm")
	c.CAdvisor.validate(v, "cadvisor")
}

var sha256Re = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (c *CAdvisor) validate(v *validator, path string) {
	if u := c.URL; u != "" && !strings.HasPrefix(u, "https://") &&
		!strings.HasPrefix(u, "http://") {
		v.fail(path+".url", errorf(ErrInvalid, "url %q is not an http or https URL", u))
	}
	if c.SHA256 != "" && !sha256Re.MatchString(c.SHA256) {
		v.fail(path+".sha256", errorf(ErrInvalid, "sha256 %q is not 64 hex digits",
			c.SHA256))
	}
	if c.SHA256 != "" && c.URL == "" {
		v.fail(path+".sha256", errorf(ErrInvalid, "sha256 checks url, which is not set"))
	}
}

func (h *HPC) validate(v *validator, path string) {
	switch host := h.Hostname; {
	case host == "":
	case strings.Contains(host, "://"):
		v.fail(path+".hostname", errorf(ErrInvalid, "hostname %q is a URL; give only the "+
			"host name", host))
	case strings.Contains(host, "@"):
		v.fail(path+".hostname", errorf(ErrInvalid, "hostname %q holds a user; put it in "+
			"username", host))
	case !hostnameRe.MatchString(host):
		v.fail(path+".hostname", errorf(ErrInvalid, "hostname %q is not a host name or "+
			"address (give the port in port)", host))
	}
	if h.Username != "" && !usernameRe.MatchString(h.Username) {
		v.fail(path+".username", errorf(ErrInvalid, "username %q is not a user name",
			h.Username))
	}
	v.optionalPort(path+".port", h.Port, "the ssh config's port, or 22")
	switch h.HostKeyPolicy {
	case "", HostKeyStrict, HostKeyAcceptNew:
	default:
		v.fail(path+".host_key_policy", errorf(ErrInvalid, "host_key_policy %q is neither "+
			"%s nor %s (host keys are always checked)", h.HostKeyPolicy, HostKeyStrict,
			HostKeyAcceptNew))
	}
	if h.ProxyJump != "" && !proxyJumpRe.MatchString(h.ProxyJump) {
		v.fail(path+".proxy_jump", errorf(ErrInvalid, "proxy_jump %q is not "+
			"[user@]host[:port]", h.ProxyJump))
	}
	if h.SSHConfigHost != "" && strings.ContainsAny(h.SSHConfigHost, " \t*?!") {
		v.fail(path+".ssh_config_host", errorf(ErrInvalid, "ssh_config_host %q must be "+
			"one Host alias, without patterns", h.SSHConfigHost))
	}
}

// defaultStateDir is $XDG_STATE_HOME/hpcorch, else ~/.local/state/hpcorch,
// else .hpcorch in the working directory.
func defaultStateDir() string {
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "hpcorch")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "hpcorch")
	}
	return ".hpcorch"
}

// expandHome expands ~, ~/, $HOME and ${HOME} at the start of a local
// path. It leaves the path alone when the home folder is unknown.
func expandHome(p string) string {
	var rest string
	switch {
	case p == "~" || p == "$HOME" || p == "${HOME}":
	case strings.HasPrefix(p, "~/"):
		rest = p[2:]
	case strings.HasPrefix(p, "$HOME/"):
		rest = p[6:]
	case strings.HasPrefix(p, "${HOME}/"):
		rest = p[8:]
	default:
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, rest)
}

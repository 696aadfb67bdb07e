package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// ErrNoConfig reports that the config file to open does not exist. hpcorch
// never falls back to running jobs on this machine because a file is
// missing: local mode is chosen by a config that says executor: local (or
// an empty one).
var ErrNoConfig = errors.New("orchestrator: config file not found")

// LocalJobsDir is the folder, under the config's state_dir, where the local
// scheduler keeps its job records. Every process opened with the same config
// sees the same jobs.
const LocalJobsDir = "local-jobs"

// Open reads the cluster config at configPath (recipe.LoadConfig), builds
// the Executor and Scheduler it names and returns an Orchestrator over them:
//
//   - executor ssh: an SSH connection to hpc.hostname (or the Host alias
//     hpc.ssh_config_host of ~/.ssh/config), host key checked against
//     hpc.known_hosts; with scheduler slurm (the default) jobs go to SLURM
//     on the login node.
//   - executor local: commands run on this machine; with scheduler local
//     (the default) batch scripts run as local process groups whose records
//     live in state_dir, so later processes see the same jobs.
//
// A configPath that does not exist is ErrNoConfig, never local mode. Close
// closes the connection Open made; running jobs are left alone.
func Open(ctx context.Context, configPath string) (*Orchestrator, error) {
	if configPath == "" {
		return nil, fmt.Errorf("orchestrator: no config file given")
	}
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg, Config{})
}

// LoadConfig loads the cluster config at path (recipe.LoadConfig), with an
// error wrapping ErrNoConfig, which says how to write one, when the file
// does not exist.
func LoadConfig(path string) (*recipe.Config, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (write one, see hpcorch --help, or pass "+
			"--config FILE; for jobs on this machine it says executor: local)",
			ErrNoConfig, path)
	}
	cfg, err := recipe.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// OpenConfig is Open for a config already loaded (nil means
// recipe.DefaultConfig, local mode). base supplies what a config file does
// not hold (a Logger, a cAdvisor source, a monitor recipe); its Executor,
// Scheduler and Cluster are set from cfg and must be nil.
func OpenConfig(ctx context.Context, cfg *recipe.Config, base Config) (*Orchestrator, error) {
	if base.Executor != nil || base.Scheduler != nil || base.Cluster != nil {
		return nil, fmt.Errorf("orchestrator: OpenConfig builds the executor and " +
			"scheduler itself; use New with ready-made ones")
	}
	if cfg == nil {
		cfg = recipe.DefaultConfig()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	exec, closeExec, err := openExecutor(ctx, cfg, base)
	if err != nil {
		return nil, err
	}
	base.Executor, base.Cluster = exec, cfg
	base.Scheduler = openScheduler(cfg, exec, base)
	base.CAdvisor = CAdvisorSource(cfg.CAdvisor, base.CAdvisor)

	o, err := New(ctx, base)
	if err != nil {
		if closeExec != nil {
			_ = closeExec()
		}
		return nil, err
	}
	o.ownExec = closeExec
	return o, nil
}

// CAdvisorSource turns the cadvisor section of a cluster config into a
// servers.CAdvisorSource. Fields set in over (as from a command line) win
// over the config's.
func CAdvisorSource(c recipe.CAdvisor, over servers.CAdvisorSource) servers.CAdvisorSource {
	src := over
	if src.LocalPath == "" {
		src.LocalPath = c.LocalPath
	}
	if src.URL == "" && src.SHA256 == "" {
		src.URL, src.SHA256 = c.URL, c.SHA256
	}
	return src
}

// openExecutor returns the Executor cfg names and a function closing it
// (nil for Local).
func openExecutor(ctx context.Context, cfg *recipe.Config, base Config) (
	sshx.Executor, func() error, error) {
	if cfg.Executor == recipe.ExecutorLocal {
		return &sshx.Local{}, nil, nil
	}

	sc, err := SSHConfig(cfg.HPC)
	if err != nil {
		return nil, nil, err
	}
	sc.Passphrase, sc.KeyboardInteractive = base.Passphrase, base.KeyboardInteractive
	if base.Logger != nil {
		sc.Logger = base.Logger.With("component", "sshx")
	}
	c, err := sshx.Dial(ctx, sc)
	if err != nil {
		return nil, nil, fmt.Errorf("orchestrator: connecting to %s: %w", loginName(sc), err)
	}
	return c, c.Close, nil
}

// openScheduler returns the Scheduler cfg names.
func openScheduler(cfg *recipe.Config, exec sshx.Executor, base Config) slurm.Scheduler {
	if cfg.Scheduler == recipe.SchedulerLocal {
		return slurm.NewLocal(slurm.LocalOptions{
			StateDir: filepath.Join(cfg.StateDir, LocalJobsDir),
			Logger:   base.Logger,
		})
	}
	return slurm.New(exec, slurm.Options{User: cfg.HPC.Username, Logger: base.Logger})
}

// SSHConfig turns the hpc section of a cluster config into an sshx.Config.
// With SSHConfigHost, the alias is resolved from ~/.ssh/config first and the
// fields set in hpc override what it says. The ssh-agent at $SSH_AUTH_SOCK
// is used, limited to key_filename's key when that is set. Host keys are always checked,
// against hpc.known_hosts when given: strictly, unless hpc.host_key_policy
// is accept-new, or is empty and the ssh_config alias says
// StrictHostKeyChecking accept-new (changed keys still fail).
func SSHConfig(h recipe.HPC) (sshx.Config, error) {
	// As OpenSSH does, the agent's keys are offered after the key file
	// (only the key file's own, when one is named); an alias's
	// IdentityAgent none turns the agent off.
	sc := sshx.Config{UseAgent: true}
	if h.SSHConfigHost != "" {
		var err error
		sc, err = sshx.ConfigFromSSHConfig(h.SSHConfigHost, "")
		if err != nil {
			return sshx.Config{}, fmt.Errorf("orchestrator: ssh_config_host %q: %w",
				h.SSHConfigHost, err)
		}
	}

	if h.Hostname != "" {
		sc.Host = h.Hostname
	}
	if h.Port != 0 {
		sc.Port = int(h.Port)
	}
	if h.Username != "" {
		sc.User = h.Username
	}
	if h.KeyFilename != "" {
		sc.IdentityFiles = []string{h.KeyFilename}
		sc.IdentitiesOnly = true
	}
	if h.KnownHosts != "" {
		sc.KnownHostsFiles = []string{h.KnownHosts}
	}
	if h.Password != "" {
		sc.Password = string(h.Password)
	}
	switch h.HostKeyPolicy {
	case recipe.HostKeyStrict:
		sc.HostKeyPolicy = sshx.HostKeyStrict
	case recipe.HostKeyAcceptNew:
		sc.HostKeyPolicy = sshx.HostKeyAcceptNew
	case "":
		// What the ssh config alias says, else strict.
	default:
		return sshx.Config{}, fmt.Errorf("orchestrator: hpc.host_key_policy %q is neither "+
			"%s nor %s", h.HostKeyPolicy, recipe.HostKeyStrict, recipe.HostKeyAcceptNew)
	}
	if sc.Host == "" {
		return sshx.Config{}, fmt.Errorf("orchestrator: the config names no login " +
			"node (hpc.hostname or hpc.ssh_config_host)")
	}

	if h.ProxyJump != "" {
		jump, err := proxyChain(h.ProxyJump, sc)
		if err != nil {
			return sshx.Config{}, err
		}
		sc.ProxyJump = jump
	}
	return sc, nil
}

// proxyChain parses an ssh -J list ("[user@]host[:port],...", outermost hop
// first) into the ProxyJump chain of sshx.Config, each hop using the
// target's keys and known_hosts.
func proxyChain(spec string, target sshx.Config) (*sshx.Config, error) {
	var outer *sshx.Config
	for _, hop := range strings.Split(spec, ",") {
		c := sshx.Config{
			IdentityFiles:   target.IdentityFiles,
			IdentitiesOnly:  target.IdentitiesOnly,
			UseAgent:        target.UseAgent,
			KnownHostsFiles: target.KnownHostsFiles,
			HostKeyPolicy:   target.HostKeyPolicy,
			ProxyJump:       outer,
		}
		rest := hop
		if u, h, ok := strings.Cut(rest, "@"); ok {
			c.User, rest = u, h
		}
		host, port, err := splitHostPort(rest)
		if err != nil {
			return nil, fmt.Errorf("orchestrator: proxy_jump %q: %w", spec, err)
		}
		c.Host, c.Port = host, port
		outer = &c
	}
	return outer, nil
}

// splitHostPort splits "host", "host:port" or "[v6]:port".
func splitHostPort(s string) (string, int, error) {
	host, portText := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", 0, fmt.Errorf("unclosed [ in %q", s)
		}
		host, portText = s[1:end], strings.TrimPrefix(s[end+1:], ":")
	case strings.Count(s, ":") == 1:
		host, portText, _ = strings.Cut(s, ":")
	}
	if host == "" {
		return "", 0, fmt.Errorf("no host in %q", s)
	}
	if portText == "" {
		return host, 0, nil
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", s)
	}
	return host, port, nil
}

// loginName is "user@host:port" for messages.
func loginName(sc sshx.Config) string {
	s := sc.Host
	if sc.User != "" {
		s = sc.User + "@" + s
	}
	if sc.Port != 0 {
		s += ":" + strconv.Itoa(sc.Port)
	}
	return s
}

package sshx

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// ConfigFromSSHConfig resolves a Host alias the way OpenSSH reads the
// ssh_config file at path ("" means ~/.ssh/config; a missing default file
// gives a Config for alias itself).
//
// It honours HostName, User, Port, IdentityFile (accumulating in file
// order), ProxyJump (hops resolved as aliases of the same file),
// ServerAliveInterval and ServerAliveCountMax, UserKnownHostsFile,
// StrictHostKeyChecking=accept-new, ConnectTimeout, IdentitiesOnly and
// IdentityAgent none.
// Single-valued keys take the first value found, as in OpenSSH. "~", "%d",
// "%h", "%p", "%r", "%u", "%n", "%%" and "${VAR}" are expanded in paths.
// `Match all` and `Match host` are evaluated; other Match criteria and a
// ProxyCommand give ErrUnsupportedDirective rather than being ignored.
//
// The result uses the ssh-agent (UseAgent) unless IdentityAgent is none.
// StrictHostKeyChecking=no is treated as strict: hpcorch never disables
// host-key checks unless the caller asks for HostKeyInsecureIgnore.
func ConfigFromSSHConfig(alias, path string) (Config, error) {
	if alias == "" {
		return Config{}, errors.New("sshx: ssh_config: empty host alias")
	}
	explicit := path != ""
	if !explicit {
		path = expandHome("~/.ssh/config")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		data, err = nil, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("sshx: ssh_config: %w", err)
	}
	f, err := ssh_config.DecodeBytes(data)
	if err != nil {
		if strings.Contains(err.Error(), "Match") {
			return Config{}, fmt.Errorf("%w: %s: %w", ErrUnsupportedDirective, path, err)
		}
		return Config{}, fmt.Errorf("sshx: ssh_config %s: %w", path, err)
	}

	r := &sshConfigResolver{file: f, path: path}
	return r.resolve(alias, 0)
}

type sshConfigResolver struct {
	file *ssh_config.Config
	path string
}

// Keys read from ssh_config, lower case.
var sshConfigKeys = []string{
	"hostname", "user", "port", "identityfile", "proxyjump", "proxycommand",
	"serveraliveinterval", "serveralivecountmax", "userknownhostsfile",
	"stricthostkeychecking", "connecttimeout", "identityagent", "identitiesonly",
}

// resolve returns the Config for alias; depth guards ProxyJump loops.
func (r *sshConfigResolver) resolve(alias string, depth int) (Config, error) {
	if depth > maxJumpDepth {
		return Config{}, fmt.Errorf("sshx: ssh_config %s: ProxyJump chain through %q "+
			"is longer than %d hops (a loop?)", r.path, alias, maxJumpDepth)
	}
	vals, err := r.values(alias)
	if err != nil {
		return Config{}, err
	}
	first := func(k string) string {
		if v := vals[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}

	cfg := Config{Host: alias, User: first("user"), UseAgent: true}
	if h := first("hostname"); h != "" {
		cfg.Host = strings.ReplaceAll(strings.ReplaceAll(h, "%h", alias), "%%", "%")
	}
	if err := r.numbers(&cfg, first); err != nil {
		return Config{}, err
	}
	if pc := first("proxycommand"); pc != "" && !strings.EqualFold(pc, "none") {
		return Config{}, fmt.Errorf("%w: %s: ProxyCommand for %q (use ProxyJump)",
			ErrUnsupportedDirective, r.path, alias)
	}
	if strings.EqualFold(first("identityagent"), "none") {
		cfg.UseAgent = false
	}
	cfg.IdentitiesOnly = strings.EqualFold(first("identitiesonly"), "yes")
	if strings.EqualFold(first("stricthostkeychecking"), "accept-new") {
		cfg.HostKeyPolicy = HostKeyAcceptNew
	}

	tokens := r.tokens(alias, &cfg)
	for _, p := range vals["identityfile"] {
		if strings.EqualFold(p, "none") {
			continue
		}
		exp, err := expandTokens(p, tokens)
		if err != nil {
			return Config{}, fmt.Errorf("sshx: ssh_config %s: IdentityFile: %w", r.path, err)
		}
		cfg.IdentityFiles = append(cfg.IdentityFiles, exp)
	}
	if kh := first("userknownhostsfile"); kh != "" {
		for _, p := range strings.Fields(kh) {
			if strings.EqualFold(p, "none") {
				p = os.DevNull
			}
			exp, err := expandTokens(p, tokens)
			if err != nil {
				return Config{}, fmt.Errorf("sshx: ssh_config %s: UserKnownHostsFile: %w",
					r.path, err)
			}
			cfg.KnownHostsFiles = append(cfg.KnownHostsFiles, exp)
		}
	}

	if pj := first("proxyjump"); pj != "" && !strings.EqualFold(pj, "none") {
		if cfg.ProxyJump, err = r.jumpChain(pj, depth); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// numbers fills the numeric settings.
func (r *sshConfigResolver) numbers(cfg *Config, first func(string) string) error {
	num := func(key string) (int, bool, error) {
		v := first(key)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("sshx: ssh_config %s: bad %s %q", r.path, key, v)
		}
		return n, true, nil
	}

	port, ok, err := num("port")
	if err != nil {
		return err
	}
	if ok {
		cfg.Port = port
	}
	secs, ok, err := num("serveraliveinterval")
	if err != nil {
		return err
	}
	if ok {
		cfg.KeepaliveInterval = time.Duration(secs) * time.Second
		if secs == 0 {
			cfg.KeepaliveInterval = -1 // OpenSSH: 0 turns keepalives off
		}
	}
	if cfg.KeepaliveCountMax, _, err = num("serveralivecountmax"); err != nil {
		return err
	}
	secs, _, err = num("connecttimeout")
	cfg.ConnectTimeout = time.Duration(secs) * time.Second
	return err
}

// tokens returns the %-token values for paths of alias.
func (r *sshConfigResolver) tokens(alias string, cfg *Config) map[byte]string {
	remoteUser := cfg.User
	if remoteUser == "" {
		remoteUser = localUser()
	}
	port := cfg.Port
	if port == 0 {
		port = DefaultPort
	}
	return map[byte]string{
		'd': homeDir(), 'h': cfg.Host, 'n': alias, 'p': strconv.Itoa(port),
		'r': remoteUser, 'u': localUser(), '%': "%",
	}
}

// jumpChain parses a ProxyJump list "[user@]host[:port],..." into a Config
// chain: each hop reaches the next, the last one reaches the target. Hops
// are aliases of the same file; the first hop keeps its own ProxyJump.
func (r *sshConfigResolver) jumpChain(spec string, depth int) (*Config, error) {
	var prev *Config
	for i, hopSpec := range strings.Split(spec, ",") {
		user, host, port, err := parseJumpHop(strings.TrimSpace(hopSpec))
		if err != nil {
			return nil, fmt.Errorf("sshx: ssh_config %s: ProxyJump %q: %w", r.path, spec, err)
		}
		hop, err := r.resolve(host, depth+1)
		if err != nil {
			return nil, err
		}
		if user != "" {
			hop.User = user
		}
		if port != 0 {
			hop.Port = port
		}
		if i > 0 {
			hop.ProxyJump = prev
		}
		prev = &hop
	}
	return prev, nil
}

// parseJumpHop splits "[ssh://][user@]host[:port]".
func parseJumpHop(s string) (user, host string, port int, err error) {
	s = strings.TrimPrefix(s, "ssh://")
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, s = s[:i], s[i+1:]
	}
	host = s
	if h, p, splitErr := net.SplitHostPort(s); splitErr == nil {
		host = h
		if port, err = strconv.Atoi(p); err != nil || port <= 0 || port > 65535 {
			return "", "", 0, fmt.Errorf("bad port %q", p)
		}
	}
	if host == "" {
		return "", "", 0, errors.New("empty host")
	}
	return user, host, port, nil
}

// values collects, for each key of interest, its values from every block
// that applies to alias, in file order.
func (r *sshConfigResolver) values(alias string) (map[string][]string, error) {
	vals := map[string][]string{}
	for _, h := range r.file.Hosts {
		match, err := r.blockMatches(h, alias, vals)
		if err != nil {
			return nil, err
		}
		if !match {
			continue
		}
		for _, node := range h.Nodes {
			switch n := node.(type) {
			case *ssh_config.KV:
				k := strings.ToLower(n.Key)
				vals[k] = append(vals[k], n.Value)
			case *ssh_config.Include:
				for _, k := range sshConfigKeys {
					inc, err := n.GetAll(alias, k)
					if err != nil {
						return nil, fmt.Errorf("sshx: ssh_config %s: Include: %w", r.path, err)
					}
					vals[k] = append(vals[k], inc...)
				}
			}
		}
	}
	return vals, nil
}

// matchCriteria are the Match keywords other than host and all. A Match
// line using any of them is refused: the parser would otherwise read them
// as host patterns.
var matchCriteria = map[string]bool{
	"canonical": true, "final": true, "exec": true, "localnetwork": true,
	"originalhost": true, "tagged": true, "command": true, "user": true,
	"localuser": true, "version": true, "sessiontype": true, "address": true,
	"localaddress": true, "localport": true, "rdomain": true,
}

// blockMatches says whether a Host or Match block applies. Match host is
// compared with the HostName found so far, as OpenSSH does.
func (r *sshConfigResolver) blockMatches(h *ssh_config.Host, alias string,
	vals map[string][]string) (bool, error) {

	header, _, _ := strings.Cut(strings.TrimSpace(h.String()), "\n")
	fields := strings.Fields(strings.ReplaceAll(header, "=", " "))
	if len(fields) == 0 || !strings.EqualFold(fields[0], "match") {
		return h.Matches(alias), nil
	}

	if len(fields) < 2 {
		return false, fmt.Errorf("%w: %s: %q", ErrUnsupportedDirective, r.path, header)
	}
	if strings.EqualFold(fields[1], "all") {
		return true, nil
	}
	var pats []*ssh_config.Pattern
	for _, f := range fields[2:] {
		if matchCriteria[strings.ToLower(f)] {
			return false, fmt.Errorf("%w: %s: %q (only `Match host` and `Match all` are "+
				"supported)", ErrUnsupportedDirective, r.path, header)
		}
		for _, p := range strings.Split(strings.Trim(f, `"`), ",") {
			if p == "" {
				continue
			}
			pat, err := ssh_config.NewPattern(p)
			if err != nil {
				return false, fmt.Errorf("sshx: ssh_config %s: %q: %w", r.path, header, err)
			}
			pats = append(pats, pat)
		}
	}
	target := alias
	if hn := vals["hostname"]; len(hn) > 0 {
		target = strings.ReplaceAll(hn[0], "%h", alias)
	}
	return (&ssh_config.Host{Patterns: pats}).Matches(target), nil
}

// expandTokens expands a leading "~", %-tokens and ${VAR} in a path.
func expandTokens(s string, tokens map[byte]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%' && i+1 < len(s):
			v, ok := tokens[s[i+1]]
			if !ok {
				return "", fmt.Errorf("unsupported token %%%c in %q", s[i+1], s)
			}
			b.WriteString(v)
			i++
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			name := s[i+2 : i+end]
			v, ok := os.LookupEnv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s in %q is not set", name, s)
			}
			b.WriteString(v)
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return expandHome(b.String()), nil
}

package sshx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeSSHConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

// bc31Config is the ssh_config of BC-31.
const bc31Config = `
Host cluster
  HostName login.cluster.example
  User user1
  IdentityFile ~/.ssh/id_cluster
  ProxyJump bastion
Host *
  IdentityFile ~/.ssh/id_rsa
  Port 22
Match Host "login*"
  User other
`

func TestConfigFromSSHConfigBC31(t *testing.T) {
	home := isolateHome(t)
	path := writeSSHConfig(t, bc31Config)

	cfg, err := ConfigFromSSHConfig("cluster", path)
	require.NoError(t, err)
	require.Equal(t, "login.cluster.example", cfg.Host)
	require.Equal(t, "user1", cfg.User, "first value wins; the later Match does not override")
	require.Equal(t, 22, cfg.Port)
	require.Equal(t, []string{home + "/.ssh/id_cluster", home + "/.ssh/id_rsa"},
		cfg.IdentityFiles)
	require.True(t, cfg.UseAgent)
	require.NotNil(t, cfg.ProxyJump)
	require.Equal(t, "bastion", cfg.ProxyJump.Host)
	require.Equal(t, 22, cfg.ProxyJump.Port)
	require.Equal(t, []string{home + "/.ssh/id_rsa"}, cfg.ProxyJump.IdentityFiles)
	require.Nil(t, cfg.ProxyJump.ProxyJump)

	// Match host is evaluated against the HostName, so it applies here.
	cfg, err = ConfigFromSSHConfig("login3", path)
	require.NoError(t, err)
	require.Equal(t, "other", cfg.User)
	require.Nil(t, cfg.ProxyJump)

	cfg, err = ConfigFromSSHConfig("gateway", path)
	require.NoError(t, err)
	require.Equal(t, "gateway", cfg.Host, "no HostName: the alias")
	require.Empty(t, cfg.User)
}

func TestConfigFromSSHConfigKeys(t *testing.T) {
	home := isolateHome(t)
	t.Setenv("KEYDIR", "/keys")
	path := writeSSHConfig(t, `
Host hpc
  HostName %h.example.org
  User alice
  Port 2222
  IdentityFile %d/.ssh/id_%r
  IdentityFile ${KEYDIR}/hpc_%h_%p
  ServerAliveInterval 20
  ServerAliveCountMax 5
  UserKnownHostsFile ~/.ssh/kh_hpc /etc/kh
  StrictHostKeyChecking accept-new
  ConnectTimeout 7
  IdentityAgent none
  IdentitiesOnly yes
Host quiet
  ServerAliveInterval 0
  StrictHostKeyChecking no
`)
	cfg, err := ConfigFromSSHConfig("hpc", path)
	require.NoError(t, err)
	require.Equal(t, Config{
		Host:              "hpc.example.org",
		User:              "alice",
		Port:              2222,
		IdentityFiles:     []string{home + "/.ssh/id_alice", "/keys/hpc_hpc.example.org_2222"},
		KnownHostsFiles:   []string{home + "/.ssh/kh_hpc", "/etc/kh"},
		HostKeyPolicy:     HostKeyAcceptNew,
		KeepaliveInterval: 20 * time.Second,
		KeepaliveCountMax: 5,
		ConnectTimeout:    7 * time.Second,
		IdentitiesOnly:    true,
	}, cfg)

	cfg, err = ConfigFromSSHConfig("quiet", path)
	require.NoError(t, err)
	require.Negative(t, cfg.KeepaliveInterval, "ServerAliveInterval 0 turns keepalives off")
	require.Equal(t, HostKeyStrict, cfg.HostKeyPolicy, "never insecure from a file")
}

func TestConfigFromSSHConfigProxyJumpChain(t *testing.T) {
	isolateHome(t)
	path := writeSSHConfig(t, `
Host target
  HostName 10.0.0.5
  ProxyJump u1@gw1:2200,gw2
Host gw2
  HostName gw2.example
  User u2
Host gw1
  ProxyJump outer
`)
	cfg, err := ConfigFromSSHConfig("target", path)
	require.NoError(t, err)
	last := cfg.ProxyJump
	require.NotNil(t, last)
	require.Equal(t, "gw2.example", last.Host)
	require.Equal(t, "u2", last.User)
	first := last.ProxyJump
	require.NotNil(t, first)
	require.Equal(t, "gw1", first.Host)
	require.Equal(t, "u1", first.User)
	require.Equal(t, 2200, first.Port)
	require.NotNil(t, first.ProxyJump, "the first hop keeps its own ProxyJump")
	require.Equal(t, "outer", first.ProxyJump.Host)

	dc, err := cfg.withDefaults(nil, 0)
	require.NoError(t, err)
	require.Equal(t, localUser()+"@outer,u1@gw1:2200,u2@gw2.example",
		jumpSpec(dc.ProxyJump))
}

func TestConfigFromSSHConfigErrors(t *testing.T) {
	isolateHome(t)
	tests := []struct {
		name, text, alias string
		unsupported       bool
	}{
		{"match user", "Match user bob\n  Port 1\n", "h", true},
		{"match exec", "Match exec \"true\"\n  Port 1\n", "h", true},
		{"match host and user", "Match host h user bob\n  Port 1\n", "h", true},
		{"proxycommand", "Host h\n  ProxyCommand nc %h %p\n", "h", true},
		{"jump loop", "Host h\n  ProxyJump h\n", "h", false},
		{"bad port", "Host h\n  Port http\n", "h", false},
		{"bad token", "Host h\n  IdentityFile ~/.ssh/%C\n", "h", false},
		{"unset env", "Host h\n  IdentityFile ${NO_SUCH_VAR_X}/k\n", "h", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ConfigFromSSHConfig(tt.alias, writeSSHConfig(t, tt.text))
			require.Error(t, err)
			require.Equal(t, tt.unsupported, errors.Is(err, ErrUnsupportedDirective), err.Error())
			require.Regexp(t, "^sshx: ", err.Error())
		})
	}

	_, err := ConfigFromSSHConfig("h", filepath.Join(t.TempDir(), "absent"))
	require.Error(t, err, "an explicit path must exist")
	cfg, err := ConfigFromSSHConfig("h", "")
	require.NoError(t, err, "a missing ~/.ssh/config is fine")
	require.Equal(t, "h", cfg.Host)
}

func TestConfigFromSSHConfigMatchAll(t *testing.T) {
	isolateHome(t)
	path := writeSSHConfig(t, "Host a\n  User ua\nMatch all\n  User fallback\n  Port 2022\n")
	cfg, err := ConfigFromSSHConfig("a", path)
	require.NoError(t, err)
	require.Equal(t, "ua", cfg.User)
	require.Equal(t, 2022, cfg.Port)
	cfg, err = ConfigFromSSHConfig("b", path)
	require.NoError(t, err)
	require.Equal(t, "fallback", cfg.User)
}

//go:build integration

package orchestrator

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/sshx"
)

// loginConfig writes a config.yaml for the cluster's login node with the
// given key_filename ("" for none) and loads it.
func loginConfig(t *testing.T, c *clustertest.Cluster, key string) string {
	t.Helper()
	cfg := fmt.Sprintf("hpc:\n  hostname: %s\n  port: %d\n  username: %s\n  known_hosts: %s\n",
		c.SSHHost, c.SSHPort, c.User, c.KnownHosts)
	if key != "" {
		cfg += "  key_filename: " + key + "\n"
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

// whoami runs whoami through o's Executor.
func whoami(t *testing.T, o *Orchestrator) string {
	t.Helper()
	out, _, err := o.exec.Run(testCtx(t), "whoami", nil)
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// startAgent runs an ssh-agent of the test's own holding key and returns
// its socket; the agent is killed when the test ends.
func startAgent(t *testing.T, key string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	require.NoError(t, agent.Start())
	t.Cleanup(func() {
		_ = agent.Process.Kill()
		_ = agent.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "ssh-agent made no socket")
		time.Sleep(20 * time.Millisecond)
	}

	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	out, err := add.CombinedOutput()
	require.NoError(t, err, "ssh-add: %s", out)
	return sock
}

// TestClusterLoginWithAgent: a config that names no key logs in with the
// key an ssh-agent holds, as ssh does, and says what it tried when there is
// no agent.
func TestClusterLoginWithAgent(t *testing.T) {
	c := clustertest.Env(t)
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh/id_* to fall back on
	path := loginConfig(t, c, "")

	t.Setenv("SSH_AUTH_SOCK", startAgent(t, c.KeyFile))
	o, err := Open(testCtx(t), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close() })
	require.Equal(t, c.User, whoami(t, o))

	t.Setenv("SSH_AUTH_SOCK", "")
	_, err = Open(testCtx(t), path)
	var ae *sshx.AuthError
	require.ErrorAs(t, err, &ae)
	require.Contains(t, err.Error(), "SSH_AUTH_SOCK is not set")
}

// TestClusterLoginWithPassphrase: a passphrase-protected key_filename is
// decrypted through Config.Passphrase, asked once for that key; without
// the callback, or with a wrong answer, the error says which.
func TestClusterLoginWithPassphrase(t *testing.T) {
	c := clustertest.Env(t)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")

	// The cluster user's own key, encrypted: the login node accepts it.
	key := filepath.Join(t.TempDir(), "id_ed25519")
	data, err := os.ReadFile(c.KeyFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(key, data, 0o600))
	out, err := exec.Command("ssh-keygen", "-q", "-p", "-P", "", "-N", "s3cret word",
		"-f", key).CombinedOutput()
	require.NoError(t, err, "ssh-keygen: %s", out)
	enc, err := os.ReadFile(key)
	require.NoError(t, err)
	require.False(t, bytes.Equal(data, enc), "the key file was re-encrypted")

	cfg, err := LoadConfig(loginConfig(t, c, key))
	require.NoError(t, err)

	var asked []string
	o, err := OpenConfig(testCtx(t), cfg, Config{Passphrase: func(p string) ([]byte, error) {
		asked = append(asked, p)
		return []byte("s3cret word"), nil
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close() })
	require.Equal(t, c.User, whoami(t, o))
	require.Equal(t, []string{key}, asked, "asked once, for the configured key")

	_, err = OpenConfig(testCtx(t), cfg, Config{})
	require.ErrorIs(t, err, sshx.ErrPassphraseRequired)
	require.Contains(t, err.Error(), key)

	_, err = OpenConfig(testCtx(t), cfg, Config{Passphrase: func(string) ([]byte, error) {
		return []byte("n0t-th1s-0ne"), nil
	}})
	require.ErrorIs(t, err, sshx.ErrBadPassphrase)
	require.NotContains(t, err.Error(), "n0t-th1s-0ne", "a passphrase never appears in an error")
}

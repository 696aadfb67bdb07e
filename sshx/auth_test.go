package sshx

import (
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func TestAuthIdentityFile(t *testing.T) {
	_, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)
	out, _, err := c.Run(testCtx(t), "echo in", nil)
	require.NoError(t, err)
	require.Equal(t, "in\n", string(out))
}

// TestAuthEncryptedKey covers BC-27: an encrypted key without a passphrase
// callback is ErrPassphraseRequired naming the key; the right passphrase
// logs in (asked once, not again on redial); a wrong one is
// ErrBadPassphrase.
func TestAuthEncryptedKey(t *testing.T) {
	isolateHome(t)
	dir := t.TempDir()
	keyPath, pub := writeKey(t, dir, "id_locked", "s3cret")
	srv := newTestServer(t, serverOptions{authorized: []ssh.PublicKey{pub}})
	kh := filepath.Join(dir, "known_hosts")
	writeKnownHosts(t, kh, srv.addr, publicKeys(srv.hostKeys...))
	base := Config{Host: srv.host(), Port: srv.port(), User: "tester",
		IdentityFiles: []string{keyPath}, KnownHostsFiles: []string{kh}}

	t.Run("no callback", func(t *testing.T) {
		_, err := Dial(testCtx(t), base)
		require.ErrorIs(t, err, ErrPassphraseRequired)
		require.ErrorIs(t, err, ErrAuthFailed)
		var ke *KeyError
		require.ErrorAs(t, err, &ke)
		require.Equal(t, keyPath, ke.Path)
		require.Contains(t, err.Error(), keyPath)
	})

	t.Run("right passphrase", func(t *testing.T) {
		var asked atomic.Int32
		cfg := base
		cfg.Passphrase = func(path string) ([]byte, error) {
			asked.Add(1)
			require.Equal(t, keyPath, path)
			return []byte("s3cret"), nil
		}
		c := dialTest(t, cfg)
		srv.dropAll()
		out, _, err := c.Run(testCtx(t), "echo redialed", nil)
		require.NoError(t, err)
		require.Equal(t, "redialed\n", string(out))
		require.Equal(t, int32(1), asked.Load(), "passphrase asked once per Client")
	})

	t.Run("wrong passphrase", func(t *testing.T) {
		cfg := base
		cfg.Passphrase = func(string) ([]byte, error) { return []byte("nope"), nil }
		_, err := Dial(testCtx(t), cfg)
		require.ErrorIs(t, err, ErrBadPassphrase)
		require.NotContains(t, err.Error(), "nope")
	})

	// BC-31: an undecryptable key is skipped with its reason, and the next
	// key still logs in.
	t.Run("skipped then other key", func(t *testing.T) {
		goodPath, goodPub := writeKey(t, dir, "id_good", "")
		srv.authorize(goodPub)
		cfg := base
		cfg.IdentityFiles = []string{keyPath, goodPath}
		dialTest(t, cfg)
	})
}

func TestAuthFailureListsTried(t *testing.T) {
	_, cfg := newFixture(t, serverOptions{})
	otherPath, otherPub := writeKey(t, t.TempDir(), "id_other", "")
	cfg.IdentityFiles = []string{otherPath, filepath.Join(t.TempDir(), "missing")}

	_, err := Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrAuthFailed)
	var ae *AuthError
	require.ErrorAs(t, err, &ae)
	require.Len(t, ae.Tried, 1)
	require.Contains(t, ae.Tried[0], ssh.FingerprintSHA256(otherPub))
	require.Contains(t, ae.Tried[0], otherPath)
	require.Equal(t, []string{"publickey"}, ae.Allowed)
	require.Contains(t, ae.ServerVersion, "SSH-2.0-")
	require.Len(t, ae.Skipped, 1, "the missing explicit key is reported")
	require.True(t, strings.HasPrefix(err.Error(), "sshx: authentication as tester"), err.Error())
}

func TestAuthNoMethods(t *testing.T) {
	_, cfg := newFixture(t, serverOptions{})
	cfg.IdentityFiles = nil // defaults under the empty HOME: none exist
	_, err := Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrAuthFailed)
	require.Contains(t, err.Error(), "no credentials to offer")
}

func TestAuthAgent(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{})
	keyring := agent.NewKeyring()
	priv := newPrivateKey(t, "ed25519")
	require.NoError(t, keyring.Add(agent.AddedKey{PrivateKey: priv}))
	agentSigner, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	srv.authorize(agentSigner.PublicKey())
	t.Setenv("SSH_AUTH_SOCK", serveAgent(t, keyring))

	// The only identity file is not authorized: the agent's key must log in.
	otherPath, _ := writeKey(t, t.TempDir(), "id_other", "")
	cfg.IdentityFiles = []string{otherPath}
	cfg.UseAgent = true
	c := dialTest(t, cfg)
	out, _, err := c.Run(testCtx(t), "echo agent", nil)
	require.NoError(t, err)
	require.Equal(t, "agent\n", string(out))

	cfg.UseAgent = false
	_, err = Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrAuthFailed, "without the agent the login fails")

	// IdentitiesOnly: agent keys must match an identity file, here through
	// the .pub of an encrypted copy that cannot be decrypted.
	cfg.UseAgent, cfg.IdentitiesOnly = true, true
	_, err = Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrAuthFailed, "the agent key is not an identity file")

	locked := filepath.Join(t.TempDir(), "id_locked")
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pw"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(locked, pem.EncodeToMemory(block), 0o600))
	require.NoError(t, os.WriteFile(locked+".pub",
		ssh.MarshalAuthorizedKey(agentSigner.PublicKey()), 0o644))
	cfg.IdentityFiles = []string{locked}
	dialTest(t, cfg)
}

func TestAuthKeyboardInteractive(t *testing.T) {
	isolateHome(t)
	srv := newTestServer(t, serverOptions{kbdCode: "424242"})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	writeKnownHosts(t, kh, srv.addr, publicKeys(srv.hostKeys...))

	var calls atomic.Int32
	cfg := Config{Host: srv.host(), Port: srv.port(), User: "tester",
		KnownHostsFiles: []string{kh},
		KeyboardInteractive: func(_, _ string, qs []string, _ []bool) ([]string, error) {
			calls.Add(1)
			require.Equal(t, []string{"Verification code: "}, qs)
			return []string{"424242"}, nil
		}}
	c := dialTest(t, cfg)
	for range 3 {
		_, _, err := c.Run(testCtx(t), "true", nil)
		require.NoError(t, err)
	}
	require.Equal(t, int32(1), calls.Load(), "asked once per connection")

	srv.dropAll()
	_, _, err := c.Run(testCtx(t), "true", nil)
	require.NoError(t, err)
	require.Equal(t, int32(2), calls.Load(), "asked again for the new connection")

	cfg.KeyboardInteractive = func(string, string, []string, []bool) ([]string, error) {
		return []string{"000000"}, nil
	}
	_, err = Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrAuthFailed)
}

func TestAuthPassword(t *testing.T) {
	isolateHome(t)
	srv := newTestServer(t, serverOptions{password: "hunter2"})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	writeKnownHosts(t, kh, srv.addr, publicKeys(srv.hostKeys...))
	cfg := Config{Host: srv.host(), Port: srv.port(), User: "tester",
		KnownHostsFiles: []string{kh}, Password: "hunter2"}
	dialTest(t, cfg)

	cfg.Password = "wrong-pw"
	_, err := Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrAuthFailed)
	require.NotContains(t, err.Error(), "wrong-pw", "passwords never appear in errors")
}

// serveAgent serves keyring on a unix socket and returns its path.
func serveAgent(t testing.TB, keyring agent.Agent) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				agent.ServeAgent(keyring, nc)
				nc.Close()
			}()
		}
	}()
	return sock
}

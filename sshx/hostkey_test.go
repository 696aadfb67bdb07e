package sshx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyFixture starts a server with the given host keys, logging in
// with a fresh key, and returns it with a Config whose known_hosts file is
// empty.
func hostKeyFixture(t *testing.T, hostKeys ...ssh.Signer) (*testServer, Config) {
	t.Helper()
	isolateHome(t)
	dir := t.TempDir()
	keyPath, pub := writeKey(t, dir, "id_test", "")
	srv := newTestServer(t, serverOptions{hostKeys: hostKeys,
		authorized: []ssh.PublicKey{pub}})
	return srv, Config{Host: srv.host(), Port: srv.port(), User: "tester",
		IdentityFiles: []string{keyPath}, KnownHostsFiles: []string{filepath.Join(dir, "kh")}}
}

// TestHostKeyAlgorithmOrder covers BC-26: the server has three host keys
// and known_hosts holds one; the connection must use that one.
func TestHostKeyAlgorithmOrder(t *testing.T) {
	ecdsaKey, edKey, rsaKey := newSigner(t, "ecdsa"), newSigner(t, "ed25519"),
		newSigner(t, "rsa")

	for _, known := range []ssh.Signer{edKey, rsaKey, ecdsaKey} {
		t.Run(known.PublicKey().Type(), func(t *testing.T) {
			srv, cfg := hostKeyFixture(t, ecdsaKey, edKey, rsaKey)
			writeKnownHosts(t, cfg.KnownHostsFiles[0], srv.addr, publicKeys(known))
			dialTest(t, cfg)
		})
	}

	// Without the ordering, x/crypto's default picks ECDSA and a known host
	// looks changed: the case this guards against.
	t.Run("x/crypto default fails", func(t *testing.T) {
		srv, cfg := hostKeyFixture(t, ecdsaKey, edKey, rsaKey)
		writeKnownHosts(t, cfg.KnownHostsFiles[0], srv.addr, publicKeys(edKey))
		cb, err := knownhosts.New(cfg.KnownHostsFiles[0])
		require.NoError(t, err)
		_, err = ssh.Dial("tcp", srv.addr, &ssh.ClientConfig{User: "tester",
			HostKeyCallback: cb, Auth: []ssh.AuthMethod{ssh.Password("x")}})
		var ke *knownhosts.KeyError
		require.ErrorAs(t, err, &ke)
		require.NotEmpty(t, ke.Want)
	})
}

func TestHostKeyUnknown(t *testing.T) {
	srv, cfg := hostKeyFixture(t)
	writeKnownHosts(t, cfg.KnownHostsFiles[0], "127.0.0.1:1", publicKeys(newSigner(t, "ed25519")))

	_, err := Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrHostUnknown)
	require.False(t, errors.Is(err, ErrHostKeyChanged))
	var hk *HostKeyError
	require.ErrorAs(t, err, &hk)
	require.Equal(t, srv.addr, hk.Host)
	require.Equal(t, keyString(srv.hostKeys[0].PublicKey()), keyString(hk.Key))
	require.Contains(t, err.Error(), cfg.KnownHostsFiles[0])
	require.Contains(t, err.Error(), ssh.FingerprintSHA256(srv.hostKeys[0].PublicKey()))

	// No known_hosts file at all is also unknown, not a file error.
	cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "absent")}
	_, err = Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrHostUnknown)
}

func TestHostKeyChanged(t *testing.T) {
	srv, cfg := hostKeyFixture(t)
	old := newSigner(t, "ed25519")
	writeKnownHosts(t, cfg.KnownHostsFiles[0], srv.addr, publicKeys(old),
		knownHostsLine("other.example:22", newSigner(t, "ed25519")))

	for _, policy := range []HostKeyPolicy{HostKeyStrict, HostKeyAcceptNew} {
		t.Run(policy.String(), func(t *testing.T) {
			cfg.HostKeyPolicy = policy
			_, err := Dial(testCtx(t), cfg)
			require.ErrorIs(t, err, ErrHostKeyChanged)
			var hk *HostKeyError
			require.ErrorAs(t, err, &hk)
			require.Len(t, hk.Known, 1)
			require.Equal(t, 2, hk.Known[0].Line)
			require.Contains(t, err.Error(), fmt.Sprintf("%s:2", cfg.KnownHostsFiles[0]))
			require.Contains(t, err.Error(), "remove line 2 of "+cfg.KnownHostsFiles[0])
		})
	}
}

func TestHostKeyAcceptNew(t *testing.T) {
	srv, cfg := hostKeyFixture(t, newSigner(t, "ed25519"), newSigner(t, "ecdsa"))
	cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "sub", "known_hosts")}
	cfg.HostKeyPolicy = HostKeyAcceptNew
	dialTest(t, cfg)

	b, err := os.ReadFile(cfg.KnownHostsFiles[0])
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(b), "\n"), string(b))
	require.True(t, strings.HasPrefix(string(b), knownhosts.Normalize(srv.addr)+" "))

	// The recorded key is then trusted strictly, whatever algorithm it is.
	cfg.HostKeyPolicy = HostKeyStrict
	dialTest(t, cfg)
}

func TestHostKeyInsecureIgnore(t *testing.T) {
	_, cfg := hostKeyFixture(t)
	_, err := Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrHostUnknown, "strict by default")
	cfg.HostKeyPolicy = HostKeyInsecureIgnore
	dialTest(t, cfg)
}

func TestHostKeyRevoked(t *testing.T) {
	srv, cfg := hostKeyFixture(t)
	line := knownHostsLine(srv.addr, srv.hostKeys[0])
	_, keyPart, _ := strings.Cut(line, " ")
	writeKnownHosts(t, cfg.KnownHostsFiles[0], srv.addr, publicKeys(srv.hostKeys...),
		"@revoked * "+keyPart)
	_, err := Dial(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrHostKeyRevoked)
	require.Contains(t, err.Error(), cfg.KnownHostsFiles[0]+":1")
}

func TestHostKeyAlgorithmsList(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "kh")
	rsaKey, edKey := newSigner(t, "rsa"), newSigner(t, "ed25519")
	writeKnownHosts(t, kh, "h.example:2222", publicKeys(rsaKey, edKey))
	db, err := loadKnownHosts([]string{kh})
	require.NoError(t, err)

	algs := hostKeyAlgorithms(db, "h.example:2222")
	require.Equal(t, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoED25519},
		algs[:3])
	require.Contains(t, algs, ssh.KeyAlgoECDSA256, "other algorithms follow")
	require.Nil(t, hostKeyAlgorithms(db, "unknown.example:22"), "unknown host: defaults")
	require.Nil(t, hostKeyAlgorithms(nil, "h.example:2222"))
}

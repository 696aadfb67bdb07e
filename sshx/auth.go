package sshx

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// identity is a loaded private key (or certificate) and where it came from.
type identity struct {
	path   string
	signer ssh.Signer
}

// credentials are a hop's keys, loaded and decrypted once at Dial so that
// redials ask nothing again, and why configured keys were left out.
type credentials struct {
	ids     []identity
	skipped []error
	// pubs holds the public keys of every identity file, decrypted or
	// not (from KEY.pub), for IdentitiesOnly.
	pubs [][]byte
}

// defaultIdentityFiles are offered when Config.IdentityFiles is empty, if
// they exist, as OpenSSH does.
var defaultIdentityFiles = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// loadCredentials reads every identity file. A key that cannot be used is
// skipped with the reason recorded, so other keys, the agent or
// keyboard-interactive may still log in; the reasons are part of the error
// if none does.
func loadCredentials(cfg *Config) *credentials {
	cr := &credentials{}
	files, explicit := cfg.IdentityFiles, true
	if len(files) == 0 {
		files, explicit = expandAll(defaultIdentityFiles), false
	}

	for _, path := range files {
		if b, err := os.ReadFile(path + ".pub"); err == nil {
			if pub, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
				cr.pubs = append(cr.pubs, pub.Marshal())
			}
		}
		signer, err := loadKey(path, cfg.Passphrase)
		if err != nil {
			if !explicit && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			cr.skipped = append(cr.skipped, &KeyError{Path: path, Err: err})
			cfg.Logger.Debug("sshx: identity skipped", "key", path, "reason", err)
			continue
		}

		if cert, err := loadCert(path+"-cert.pub", signer); err == nil {
			cr.ids = append(cr.ids, identity{path: path + "-cert.pub", signer: cert})
		} else if !errors.Is(err, fs.ErrNotExist) {
			cr.skipped = append(cr.skipped, &KeyError{Path: path + "-cert.pub", Err: err})
		}
		cr.ids = append(cr.ids, identity{path: path, signer: signer})
		cr.pubs = append(cr.pubs, signer.PublicKey().Marshal())
	}
	return cr
}

// loadKey parses a private key file, asking for its passphrase if needed.
func loadKey(path string, passphrase func(string) ([]byte, error)) (ssh.Signer, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return signer, err
	}

	if passphrase == nil {
		return nil, ErrPassphraseRequired
	}
	pass, err := passphrase(path)
	if err != nil {
		return nil, fmt.Errorf("sshx: passphrase callback: %w", err)
	}
	defer clear(pass)
	signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, pass)
	if errors.Is(err, x509.IncorrectPasswordError) {
		return nil, ErrBadPassphrase
	}
	return signer, err
}

// loadCert reads an OpenSSH certificate for signer's key.
func loadCert(path string, signer ssh.Signer) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, err
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		return nil, errors.New("not a certificate")
	}
	return ssh.NewCertSigner(cert, signer)
}

// authAttempt records one login: what was offered, what the server allows
// and its version, for the error when it fails.
type authAttempt struct {
	tried     []string
	allowed   []string
	skipped   []error
	version   string
	agentConn net.Conn
}

func (at *authAttempt) close() {
	if at.agentConn != nil {
		at.agentConn.Close()
	}
}

// record is a ClientAuthCallback that only takes notes, leaving the choice
// of method to x/crypto.
func (at *authAttempt) record(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	at.version = string(ac.Metadata.ServerVersion())
	at.allowed = ac.AllowedMethods
	return nil, nil
}

// methods returns the auth methods for one login. Every key (files, then
// agent) goes in one publickey method: x/crypto tries each method name once.
func (cr *credentials) methods(cfg *Config, at *authAttempt) []ssh.AuthMethod {
	var methods []ssh.AuthMethod
	if len(cr.ids) > 0 || cfg.UseAgent {
		methods = append(methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			return cr.signers(cfg, at), nil
		}))
	}
	if cb := cfg.KeyboardInteractive; cb != nil {
		methods = append(methods, ssh.KeyboardInteractive(
			func(name, instr string, qs []string, echos []bool) ([]string, error) {
				if len(qs) == 0 {
					return nil, nil // an empty round needs no answer
				}
				at.tried = append(at.tried, "keyboard-interactive")
				return cb(name, instr, qs, echos)
			}))
	}
	if cfg.Password != "" {
		methods = append(methods, ssh.PasswordCallback(func() (string, error) {
			at.tried = append(at.tried, "password")
			return cfg.Password, nil
		}))
	}
	return methods
}

// signers lists the keys to offer: identity files, then agent keys not
// already offered.
func (cr *credentials) signers(cfg *Config, at *authAttempt) []ssh.Signer {
	var out []ssh.Signer
	var seen [][]byte
	add := func(s ssh.Signer, from string) {
		blob := s.PublicKey().Marshal()
		if containsBlob(seen, blob) {
			return
		}
		seen = append(seen, blob)
		out = append(out, s)
		at.tried = append(at.tried, "publickey "+keyString(s.PublicKey())+" ("+from+")")
	}
	for _, id := range cr.ids {
		add(id.signer, id.path)
	}
	if !cfg.UseAgent {
		return out
	}

	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		at.skipped = append(at.skipped, errors.New("ssh-agent: SSH_AUTH_SOCK is not set"))
		return out
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		at.skipped = append(at.skipped, fmt.Errorf("ssh-agent: %w", err))
		return out
	}
	at.agentConn = conn
	agentSigners, err := agent.NewClient(conn).Signers()
	if err != nil {
		at.skipped = append(at.skipped, fmt.Errorf("ssh-agent: %w", err))
	}
	for _, s := range agentSigners {
		if cfg.IdentitiesOnly && !containsBlob(cr.pubs, s.PublicKey().Marshal()) {
			continue
		}
		add(s, "agent")
	}
	return out
}

// authError turns a failed login into an *AuthError, or returns nil when
// err is not an authentication failure.
func authError(cfg *Config, cr *credentials, at *authAttempt, err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "unable to authenticate") &&
		!strings.Contains(msg, "Too many authentication failures") &&
		!strings.Contains(msg, "too many authentication attempts") {
		return nil
	}
	ae := &AuthError{
		User:          cfg.User,
		Host:          cfg.addr(),
		Tried:         at.tried,
		Allowed:       at.allowed,
		Skipped:       append(append([]error(nil), cr.skipped...), at.skipped...),
		ServerVersion: at.version,
		Err:           err,
	}
	if rsaCertQuirk.MatchString(at.version) && offersRSACert(cr) {
		ae.Hint = "OpenSSH 7.2-7.7 rejects RSA certificates signed with rsa-sha2 " +
			"(golang/go#58371); use an ed25519 key or certificate"
	}
	return ae
}

var rsaCertQuirk = regexp.MustCompile(`^SSH-2\.0-OpenSSH_7\.[2-7]`)

func offersRSACert(cr *credentials) bool {
	for _, id := range cr.ids {
		if id.signer.PublicKey().Type() == ssh.CertAlgoRSAv01 {
			return true
		}
	}
	return false
}

func containsBlob(blobs [][]byte, b []byte) bool {
	for _, x := range blobs {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

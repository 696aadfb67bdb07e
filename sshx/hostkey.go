package sshx

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyCheck is the host-key part of one handshake: the callback to give
// x/crypto and the algorithms to ask for, in order.
type hostKeyCheck struct {
	callback   ssh.HostKeyCallback
	algorithms []string
}

// newHostKeyCheck reads the known_hosts files afresh (so keys recorded by
// another client or by hand count) and prepares the check for addr.
func newHostKeyCheck(cfg *Config, addr string) (*hostKeyCheck, error) {
	if cfg.HostKeyPolicy == HostKeyInsecureIgnore {
		cfg.Logger.Warn("sshx: host key checking disabled", "host", addr)
		return &hostKeyCheck{callback: ssh.InsecureIgnoreHostKey()}, nil
	}

	db, err := loadKnownHosts(cfg.KnownHostsFiles)
	if err != nil {
		return nil, err
	}
	hk := &hostKeyCheck{algorithms: hostKeyAlgorithms(db, addr)}
	hk.callback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		return checkHostKey(cfg, db, hostname, remote, key)
	}
	return hk, nil
}

// loadKnownHosts parses the existing files among files. It returns a nil
// callback when none exists.
func loadKnownHosts(files []string) (ssh.HostKeyCallback, error) {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sshx: known_hosts: %w", err)
		}
	}
	if len(existing) == 0 {
		return nil, nil
	}
	db, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("sshx: known_hosts: %w", err)
	}
	return db, nil
}

// checkHostKey applies the policy to the verdict of the known_hosts files.
func checkHostKey(cfg *Config, db ssh.HostKeyCallback, hostname string, remote net.Addr,
	key ssh.PublicKey) error {

	var err error = &knownhosts.KeyError{}
	if db != nil {
		err = db(hostname, remote, key)
	}
	if err == nil {
		return nil
	}

	var revoked *knownhosts.RevokedError
	if errors.As(err, &revoked) {
		return fmt.Errorf("%w: %s for %s (%s:%d)", ErrHostKeyRevoked, keyString(key), hostname,
			revoked.Revoked.Filename, revoked.Revoked.Line)
	}
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return fmt.Errorf("sshx: host key check for %s: %w", hostname, err)
	}

	hkErr := &HostKeyError{Host: hostname, Key: key, Known: ke.Want, Files: cfg.KnownHostsFiles}
	if len(ke.Want) > 0 || cfg.HostKeyPolicy != HostKeyAcceptNew {
		return hkErr
	}
	if err := appendKnownHost(cfg.KnownHostsFiles[0], hostname, key); err != nil {
		return errors.Join(hkErr, err)
	}
	cfg.Logger.Info("sshx: recorded new host key", "host", hostname,
		"key", keyString(key), "file", cfg.KnownHostsFiles[0])
	return nil
}

// knownHostsMu serialises appends to known_hosts files in this process.
var knownHostsMu sync.Mutex

// appendKnownHost records key for hostname ("host:port") in file.
func appendKnownHost(file, hostname string, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()

	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("sshx: record host key: %w", err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sshx: record host key: %w", err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	_, werr := f.WriteString(line)
	return errors.Join(wrapIf("sshx: record host key", werr), wrapIf("sshx: record host key",
		f.Close()))
}

func wrapIf(prefix string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// hostKeyAlgorithms returns the host-key algorithms to offer for addr: those
// of the keys known_hosts records for it first, then the rest. Without this
// the server may pick an algorithm whose key is not recorded, and a known
// host looks changed (golang/go#29286).
func hostKeyAlgorithms(db ssh.HostKeyCallback, addr string) []string {
	if db == nil {
		return nil
	}
	err := db(addr, probeAddr, probeKey{})
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}

	var first []string
	for _, k := range ke.Want {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !slices.Contains(first, a) {
				first = append(first, a)
			}
		}
	}
	rest := ssh.SupportedAlgorithms().HostKeys
	rest = slices.DeleteFunc(rest, func(a string) bool { return slices.Contains(first, a) })
	return append(first, rest...)
}

// algorithmsForKeyType maps a key type to the signature algorithms that
// prove it, strongest first.
func algorithmsForKeyType(t string) []string {
	switch t {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01}
	}
	return []string{t}
}

var probeAddr = &net.TCPAddr{IP: net.IPv4zero}

// probeKey is a key no known_hosts line can hold, used to list the keys
// recorded for a host: checking it always fails with every recorded key in
// KeyError.Want.
type probeKey struct{}

const probeKeyType = "hpcorch-probe@sshx"

func (probeKey) Type() string                        { return probeKeyType }
func (probeKey) Marshal() []byte                     { return []byte("\x00" + probeKeyType) }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

// hostAttr is the slog attribute naming a server.
func hostAttr(addr string) slog.Attr { return slog.String("host", addr) }

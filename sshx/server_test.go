package sshx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testServer is an in-process SSH server for the Client's tests. It runs
// exec requests with `bash -c` on this machine (HOME set to its own folder),
// so commands, stdin, exit codes and signals behave as with sshd. It can
// cap sessions per connection, refuse forwarding, stall connections (read
// and drop everything, answering nothing) and drop them.
type testServer struct {
	t        testing.TB
	opts     serverOptions
	ln       net.Listener
	addr     string
	home     string
	hostKeys []ssh.Signer
	config   *ssh.ServerConfig

	authMu   sync.Mutex   // guards opts.authorized
	refusals atomic.Int64 // sessions refused past maxSessions
	events   chan string  // "exec CMD", "signal SIG", "exit CMD STATUS"

	mu     sync.Mutex
	conns  map[*serverConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

type serverOptions struct {
	hostKeys     []ssh.Signer    // default: one ed25519 key
	authorized   []ssh.PublicKey // keys accepted by publickey
	password     string          // accepted by password, if set
	kbdCode      string          // one-time code for keyboard-interactive, if set
	maxSessions  int             // per connection; 0 is unlimited
	noForwarding bool            // refuse direct-tcpip
	noSessions   bool            // refuse sessions, like a forwarding-only account
	addr         string          // listen address; default 127.0.0.1:0
}

// serverConn is one accepted connection; stalled makes it read and drop
// everything, like a peer that stopped answering without closing.
type serverConn struct {
	net.Conn
	stalled  atomic.Bool
	mu       sync.Mutex
	sessions int
}

func (c *serverConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for err == nil && c.stalled.Load() {
		_, err = c.Conn.Read(p)
		n = 0
	}
	return n, err
}

func newTestServer(t testing.TB, opts serverOptions) *testServer {
	t.Helper()
	if len(opts.hostKeys) == 0 {
		opts.hostKeys = []ssh.Signer{newSigner(t, "ed25519")}
	}
	s := &testServer{
		t:        t,
		opts:     opts,
		home:     t.TempDir(),
		hostKeys: opts.hostKeys,
		events:   make(chan string, 1000),
		conns:    map[*serverConn]struct{}{},
	}
	s.config = s.serverConfig()

	addr := opts.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	s.ln, s.addr = ln, ln.Addr().String()
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) serverConfig() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{}
	if len(s.opts.authorized) > 0 {
		cfg.PublicKeyCallback = func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			s.authMu.Lock()
			defer s.authMu.Unlock()
			for _, a := range s.opts.authorized {
				if bytes.Equal(a.Marshal(), k.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("key not authorized")
		}
	}
	if s.opts.password != "" {
		cfg.PasswordCallback = func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) == s.opts.password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	if s.opts.kbdCode != "" {
		cfg.KeyboardInteractiveCallback = func(_ ssh.ConnMetadata,
			ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			ans, err := ask("", "one-time code", []string{"Verification code: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(ans) == 1 && ans[0] == s.opts.kbdCode {
				return nil, nil
			}
			return nil, errors.New("wrong code")
		}
	}
	for _, k := range s.hostKeys {
		cfg.AddHostKey(k)
	}
	return cfg
}

// authorize accepts one more public key.
func (s *testServer) authorize(k ssh.PublicKey) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.opts.authorized = append(s.opts.authorized, k)
}

// host and port split the server's address.
func (s *testServer) host() string { h, _, _ := net.SplitHostPort(s.addr); return h }

func (s *testServer) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		sc := &serverConn{Conn: nc}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(sc)
	}
}

func (s *testServer) handle(sc *serverConn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		sc.Close()
	}()

	conn, chans, reqs, err := ssh.NewServerConn(sc, s.config)
	if err != nil {
		return
	}
	defer conn.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for r := range reqs {
			if r.WantReply {
				r.Reply(false, nil) // as OpenSSH answers keepalive@openssh.com
			}
		}
	}()

	var chWG sync.WaitGroup
	for nch := range chans {
		chWG.Add(1)
		go func() {
			defer chWG.Done()
			switch nch.ChannelType() {
			case "session":
				s.session(sc, nch)
			case "direct-tcpip":
				s.directTCPIP(nch)
			default:
				nch.Reject(ssh.UnknownChannelType, "unknown channel type")
			}
		}()
	}
	chWG.Wait()
}

func (s *testServer) event(e string) {
	select {
	case s.events <- e:
	default:
	}
}

// session serves one session channel, enforcing maxSessions the way sshd
// does: a session counts until its channel is fully closed.
func (s *testServer) session(sc *serverConn, nch ssh.NewChannel) {
	if s.opts.noSessions {
		s.event("session refused")
		nch.Reject(ssh.Prohibited, "sessions disabled")
		return
	}
	if max := s.opts.maxSessions; max > 0 {
		sc.mu.Lock()
		if sc.sessions >= max {
			sc.mu.Unlock()
			s.refusals.Add(1)
			nch.Reject(ssh.Prohibited, "open failed")
			return
		}
		sc.sessions++
		sc.mu.Unlock()
		defer func() {
			sc.mu.Lock()
			sc.sessions--
			sc.mu.Unlock()
		}()
	}

	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()

	var cmd *exec.Cmd
	var exited chan struct{}
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if cmd != nil || ssh.Unmarshal(req.Payload, &p) != nil {
				req.Reply(false, nil)
				continue
			}
			cmd, exited = s.start(ch, req, p.Command)
		case "signal":
			var p struct{ Signal string }
			if ssh.Unmarshal(req.Payload, &p) == nil && cmd != nil {
				s.event("signal " + p.Signal)
				syscall.Kill(-cmd.Process.Pid, signalNumber(p.Signal))
			}
		default:
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
	// The client closed the channel or the connection died: clean up.
	if cmd != nil {
		select {
		case <-exited:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
}

// start runs command for the channel, answers the exec request (before
// the command's end can be reported, as sshd does) and reports the
// command's end on the channel.
func (s *testServer) start(ch ssh.Channel, req *ssh.Request, command string) (
	*exec.Cmd, chan struct{}) {

	cmd := exec.Command("bash", "-c", command)
	cmd.Dir = s.home
	cmd.Env = append(os.Environ(), "HOME="+s.home)
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil || cmd.Start() != nil {
		req.Reply(false, nil)
		return nil, nil
	}
	req.Reply(true, nil)
	s.event("exec " + command)
	go func() {
		io.Copy(stdin, ch)
		stdin.Close()
	}()

	exited := make(chan struct{})
	go func() {
		defer close(exited)
		cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			sig := signalName(ws.Signal())
			s.event(fmt.Sprintf("exit %s signal %s", command, sig))
			ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}{Signal: sig}))
		} else {
			s.event(fmt.Sprintf("exit %s status %d", command, ws.ExitStatus()))
			ch.SendRequest("exit-status", false,
				ssh.Marshal(struct{ Status uint32 }{uint32(ws.ExitStatus())}))
		}
		ch.Close()
	}()
	return cmd, exited
}

func signalNumber(name string) syscall.Signal {
	for n := syscall.Signal(1); n < 32; n++ {
		if signalName(n) == name {
			return n
		}
	}
	return syscall.SIGKILL
}

// directTCPIP serves a forwarded connection on this machine.
func (s *testServer) directTCPIP(nch ssh.NewChannel) {
	if s.opts.noForwarding {
		nch.Reject(ssh.Prohibited, "administratively prohibited")
		return
	}
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
		nch.Reject(ssh.ConnectionFailed, "bad request")
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, "Connection refused")
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		target.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	done := make(chan struct{})
	go func() {
		io.Copy(target, ch)
		target.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(ch, target)
	ch.CloseWrite()
	<-done
	ch.Close()
	target.Close()
}

// stallAll makes every open connection stop answering.
func (s *testServer) stallAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.stalled.Store(true)
	}
}

// dropAll closes every open connection, as a killed sshd child would.
func (s *testServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// connCount returns the number of open connections.
func (s *testServer) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// waitEvent waits for an event with the given prefix, failing after a
// generous deadline.
func (s *testServer) waitEvent(t testing.TB, prefix string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-s.events:
			if len(e) >= len(prefix) && e[:len(prefix)] == prefix {
				return e
			}
		case <-deadline:
			t.Fatalf("no server event %q", prefix)
		}
	}
}

func (s *testServer) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// newSigner makes a key of the given kind: ed25519, ecdsa or rsa.
func newSigner(t testing.TB, kind string) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(newPrivateKey(t, kind))
	require.NoError(t, err)
	return s
}

func newPrivateKey(t testing.TB, kind string) any {
	t.Helper()
	switch kind {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		return k
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		return k
	}
	t.Fatalf("unknown key kind %q", kind)
	return nil
}

// writeKey writes a private key file, encrypted if passphrase is set, and
// returns its path and public key.
func writeKey(t testing.TB, dir, name, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	priv := newPrivateKey(t, "ed25519")
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return path, signer.PublicKey()
}

// writeKnownHosts writes a known_hosts file with lines for addr's keys,
// preceded by the given extra lines.
func writeKnownHosts(t testing.TB, path, addr string, keys []ssh.PublicKey, extra ...string) {
	t.Helper()
	var b bytes.Buffer
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, k) + "\n")
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
}

func publicKeys(signers ...ssh.Signer) []ssh.PublicKey {
	out := make([]ssh.PublicKey, len(signers))
	for i, s := range signers {
		out[i] = s.PublicKey()
	}
	return out
}

// knownHostsLine formats a known_hosts line for addr's key.
func knownHostsLine(addr string, key ssh.Signer) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key.PublicKey())
}

//go:build integration

package sshx

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
)

// privateSSHD is an OpenSSH sshd of the test's own, started from the
// cluster's login-node configuration on a free loopback port, so that the
// test can restart it without disturbing anyone else's connections.
type privateSSHD struct {
	t       *testing.T
	port    int
	config  string
	pidFile string
	log     string
}

func startPrivateSSHD(t *testing.T, cl *clustertest.Cluster) *privateSSHD {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(cl.Base, "ssh", "sshd_config"))
	require.NoError(t, err, "the cluster's sshd_config (this test runs as root)")

	dir := t.TempDir()
	d := &privateSSHD{t: t, port: freePort(t), pidFile: filepath.Join(dir, "sshd.pid"),
		config: filepath.Join(dir, "sshd_config"), log: filepath.Join(dir, "sshd.log")}
	conf := regexp.MustCompile(`(?m)^Port .*$`).ReplaceAllString(string(src),
		fmt.Sprintf("Port %d", d.port))
	conf = regexp.MustCompile(`(?m)^PidFile .*$`).ReplaceAllString(conf, "PidFile "+d.pidFile)
	require.NoError(t, os.WriteFile(d.config, []byte(conf), 0o600))

	d.start()
	t.Cleanup(d.stop)
	return d
}

// start runs sshd (it daemonizes) and waits until it accepts connections.
func (d *privateSSHD) start() {
	d.t.Helper()
	out, err := exec.Command("/usr/sbin/sshd", "-f", d.config, "-E", d.log).CombinedOutput()
	require.NoError(d.t, err, "sshd: %s", out)
	require.Eventually(d.t, func() bool {
		c, err := net.DialTimeout("tcp", d.addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "sshd on %s", d.addr())
}

// stop kills the listening sshd and every process it forked (the
// per-connection sshds and the user's commands), as a reboot of the login
// node would. (A plain `systemctl restart ssh` leaves live connections be;
// killing them too is what makes the client reconnect.)
func (d *privateSSHD) stop() {
	b, err := os.ReadFile(d.pidFile)
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for _, p := range descendantsOf(pid) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	require.Eventually(d.t, func() bool {
		c, err := net.DialTimeout("tcp", d.addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 10*time.Second, 20*time.Millisecond, "sshd on %s still answers", d.addr())
	_ = os.Remove(d.pidFile)
}

func (d *privateSSHD) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)) }

// knownHosts writes a known_hosts file for the private sshd's port with
// the cluster's ed25519 host key.
func (d *privateSSHD) knownHosts(cl *clustertest.Cluster) string {
	d.t.Helper()
	pub, err := os.ReadFile(filepath.Join(cl.Base, "ssh", "host_ed25519.pub"))
	require.NoError(d.t, err)
	f := strings.Fields(string(pub))
	path := filepath.Join(d.t.TempDir(), "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", d.port, f[0], f[1])
	require.NoError(d.t, os.WriteFile(path, []byte(line), 0o600))
	return path
}

// descendantsOf lists every process below pid, read from /proc.
func descendantsOf(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		if m := ppidRe.FindSubmatch(status); m != nil {
			parent[n], _ = strconv.Atoi(string(m[1]))
		}
	}

	var below []int
	for p := range parent {
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				below = append(below, p)
				break
			}
		}
	}
	return below
}

var ppidRe = regexp.MustCompile(`(?m)^PPid:\s+(\d+)$`)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestIntegrationSSHDRestart: the login node's sshd is restarted (listener
// and connections gone, then back on the same port). The command running
// then fails with ErrConnectionLost; the next one redials on its own.
func TestIntegrationSSHDRestart(t *testing.T) {
	cl := clustertest.Env(t)
	d := startPrivateSSHD(t, cl)
	c := dialTest(t, Config{
		Host:            "127.0.0.1",
		Port:            d.port,
		User:            cl.User,
		IdentityFiles:   []string{cl.KeyFile},
		KnownHostsFiles: []string{d.knownHosts(cl)},
	})
	ctx := testCtx(t)

	out, _, err := c.Run(ctx, "echo before", nil)
	require.NoError(t, err)
	require.Equal(t, "before\n", string(out))

	mark := fmt.Sprintf("sleep %d.%d", 3000+time.Now().Nanosecond()%1000, 3)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Run(ctx, mark, nil)
		errc <- err
	}()
	waitRemote(t, c, mark, true)

	d.stop()
	require.ErrorIs(t, <-errc, ErrConnectionLost)

	// While sshd is down, a command fails as a transport error, not an
	// exit status.
	_, _, err = c.Run(ctx, "true", nil)
	require.Error(t, err)
	var xe *ExitError
	require.False(t, errors.As(err, &xe), "a dead login node is no exit status: %v", err)

	d.start()
	out, _, err = c.Run(ctx, "echo after", nil)
	require.NoError(t, err)
	require.Equal(t, "after\n", string(out))
}

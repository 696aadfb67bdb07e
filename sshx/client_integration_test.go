//go:build integration

package sshx

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/stretchr/testify/require"
)

// clusterClient dials the throwaway cluster's login sshd as its user. The
// sshd has ed25519 and ECDSA host keys while known_hosts holds only the
// ed25519 one, so every dial also exercises BC-26.
func clusterClient(t *testing.T) (*Client, *clustertest.Cluster) {
	t.Helper()
	cl := clustertest.Env(t)
	c := dialTest(t, Config{
		Host:            cl.SSHHost,
		Port:            cl.SSHPort,
		User:            cl.User,
		IdentityFiles:   []string{cl.KeyFile},
		KnownHostsFiles: []string{cl.KnownHosts},
	})
	return c, cl
}

func TestIntegrationRun(t *testing.T) {
	c, cl := clusterClient(t)
	ctx := testCtx(t)

	out, errOut, err := c.Run(ctx, "id -un; echo to-stderr >&2", nil)
	require.NoError(t, err)
	require.Equal(t, cl.User+"\n", string(out))
	require.Equal(t, "to-stderr\n", string(errOut))

	out, _, err = c.Run(ctx, "tr a-z A-Z", strings.NewReader("hello cluster"))
	require.NoError(t, err)
	require.Equal(t, "HELLO CLUSTER", string(out))

	out, _, err = c.Run(ctx, "printf %s "+Quote("it's $HOME; `x`"), nil)
	require.NoError(t, err)
	require.Equal(t, "it's $HOME; `x`", string(out))

	_, _, err = c.Run(ctx, "echo failing >&2; exit 7", nil)
	var xe *ExitError
	require.ErrorAs(t, err, &xe)
	require.Equal(t, 7, xe.Code)
	require.Equal(t, "failing\n", string(xe.Stderr))

	_, _, err = c.Run(ctx, "kill -KILL $$", nil)
	require.ErrorAs(t, err, &xe)
	require.Equal(t, -1, xe.Code)
	require.Equal(t, "KILL", xe.Signal)
}

func TestIntegrationConcurrent(t *testing.T) {
	c, _ := clusterClient(t)
	ctx := testCtx(t)

	const n = 100
	var wg sync.WaitGroup
	outs, errs := make([]string, n), make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := c.Run(ctx, fmt.Sprintf("echo %d", i), nil)
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "command %d", i)
		require.Equal(t, fmt.Sprintf("%d\n", i), outs[i])
	}
}

func TestIntegrationPut(t *testing.T) {
	c, _ := clusterClient(t)
	ctx := testCtx(t)
	dir := fmt.Sprintf("hpcorch-sshx-test-%d", time.Now().UnixNano())
	_, _, err := c.Run(ctx, "mkdir -p ~/"+Quote(dir), nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Run(context.Background(), "rm -rf ~/"+Quote(dir), nil) })

	path := "~/" + dir + "/run me.sh"
	content := "#!/bin/sh\necho 'put works'\n"
	require.NoError(t, c.Put(ctx, path, strings.NewReader(content), 0o750))

	target := "~/" + Quote(dir+"/run me.sh")
	out, _, err := c.Run(ctx, "stat -c %a "+target+" && "+target, nil)
	require.NoError(t, err)
	require.Equal(t, "750\nput works\n", string(out))
}

// TestIntegrationDial dials a compute node's slurmd from the login node.
func TestIntegrationDial(t *testing.T) {
	c, cl := clusterClient(t)
	ctx := testCtx(t)

	for _, addr := range []string{net.JoinHostPort(cl.NodeAddrs["node2"], "6818"),
		"node2:6818"} {
		nc, err := c.DialContext(ctx, "tcp", addr)
		require.NoError(t, err, addr)
		require.NoError(t, nc.Close())
	}

	_, err := c.DialContext(ctx, "tcp", net.JoinHostPort(cl.NodeAddrs["node2"], "1"))
	require.ErrorIs(t, err, ErrRemoteNotListening)

	noFwd := dialTest(t, Config{Host: cl.SSHHost, Port: cl.SSHNoFwdPort, User: cl.User,
		IdentityFiles: []string{cl.KeyFile}, KnownHostsFiles: []string{cl.KnownHosts}})
	_, err = noFwd.DialContext(ctx, "tcp", net.JoinHostPort(cl.NodeAddrs["node2"], "6818"))
	require.ErrorIs(t, err, ErrForwardingDisabled)
}

func TestIntegrationSSHConfig(t *testing.T) {
	cl := clustertest.Env(t)
	cfg, err := ConfigFromSSHConfig("minicluster", cl.SSHConfig)
	require.NoError(t, err)
	require.Equal(t, cl.User, cfg.User)
	require.Equal(t, cl.SSHPort, cfg.Port)
	cfg.UseAgent = false
	c := dialTest(t, cfg)
	out, _, err := c.Run(testCtx(t), "hostname >/dev/null && echo ok", nil)
	require.NoError(t, err)
	require.Equal(t, "ok\n", string(out))
}

// TestIntegrationReconnect kills the sshd processes serving the Client's
// connection: the running command fails with ErrConnectionLost and the
// next one redials.
func TestIntegrationReconnect(t *testing.T) {
	c, cl := clusterClient(t)
	ctx := testCtx(t)
	_, _, err := c.Run(ctx, "true", nil)
	require.NoError(t, err)

	mark := fmt.Sprintf("sleep %d.%d", 1000+time.Now().Nanosecond()%1000, 1)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Run(ctx, mark, nil)
		errc <- err
	}()
	waitRemote(t, c, mark, true)

	pids := sshdPIDs(t, cl.SSHPort, localPort(t, c))
	for _, pid := range pids {
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}
	err = <-errc
	require.ErrorIs(t, err, ErrConnectionLost)

	out, _, err := c.Run(ctx, "echo back", nil)
	require.NoError(t, err)
	require.Equal(t, "back\n", string(out))
	t.Cleanup(func() { c.Run(context.Background(), "pkill -u "+cl.User+" -f "+Quote(mark), nil) })
}

// TestIntegrationCancel: ending ctx ends the remote command.
func TestIntegrationCancel(t *testing.T) {
	c, _ := clusterClient(t)
	mark := fmt.Sprintf("sleep %d.%d", 2000+time.Now().Nanosecond()%1000, 2)

	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Run(ctx, mark, nil)
		errc <- err
	}()
	waitRemote(t, c, mark, true)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	waitRemote(t, c, mark, false)
}

// waitRemote polls until a process whose command line is exactly cmd is
// running (or gone) on the login node.
func waitRemote(t *testing.T, c *Client, cmd string, running bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, _, err := c.Run(testCtx(t), "pgrep -x -f "+Quote(cmd), nil)
		return (err == nil) == running
	}, 20*time.Second, 50*time.Millisecond, "remote %q running=%v", cmd, running)
}

// localPort returns the local TCP port of the Client's connection.
func localPort(t *testing.T, c *Client) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, err := net.SplitHostPort(c.cur.client.LocalAddr().String())
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

// sshdPIDs finds the sshd processes holding the connection from
// clientPort to the sshd at sshdPort (the per-connection children).
func sshdPIDs(t *testing.T, sshdPort, clientPort int) []int {
	t.Helper()
	filter := fmt.Sprintf("( sport = :%d and dport = :%d )", sshdPort, clientPort)
	out, err := exec.Command("ss", "-Htnp", "state", "established", filter).Output()
	require.NoError(t, err)
	var pids []int
	for _, m := range regexp.MustCompile(`"sshd[^"]*",pid=(\d+)`).FindAllStringSubmatch(
		string(out), -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	require.NotEmpty(t, pids, "no sshd found for the connection: %s", out)
	return pids
}

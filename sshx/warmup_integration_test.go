//go:build integration

package sshx

import (
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/stretchr/testify/require"
)

// warmUpAnswer is the size of the answers of TestIntegrationWarmUpLatency:
// more than one SSH channel packet (32 KiB), so that sshd writes it in two
// pieces, the second of which Nagle's algorithm holds back, without
// TCP_NODELAY, until the client's delayed ACK (16 KiB in one piece is not
// held).
const warmUpAnswer = 48 << 10

// TestIntegrationWarmUpLatency: through a fresh Client's DialContext,
// request/answer round trips are as quick as after a command has run
// on the connection. Without the warm-up in Dial, OpenSSH's sshd delays
// each answer by about 40 ms (Nagle and delayed ACKs) until the first
// session (measured: 44 ms against 0.3 ms after a command); with it, both
// medians are under a millisecond here. The factor allowed is generous:
// this compares, it does not time.
func TestIntegrationWarmUpLatency(t *testing.T) {
	cl := clustertest.Env(t)
	addr := answerServer(t, bridgeIP(t, cl))
	c, _ := clusterClient(t)
	require.EqualValues(t, 1, c.warmUps.Load(), "Dial ran its warm-up command")

	fresh := roundTrips(t, c, addr)
	_, _, err := c.Run(testCtx(t), "true", nil)
	require.NoError(t, err)
	warm := roundTrips(t, c, addr)

	t.Logf("median round trip: fresh %v, after a command %v", fresh, warm)
	require.Less(t, fresh, 5*warm+10*time.Millisecond,
		"a fresh connection forwards as promptly as one that ran a command")
}

// roundTrips returns the median time of 21 request/answer exchanges with
// the answer server at addr, through one connection of c.
func roundTrips(t *testing.T, c *Client, addr string) time.Duration {
	t.Helper()
	nc, err := c.DialContext(testCtx(t), "tcp", addr)
	require.NoError(t, err)
	defer nc.Close()

	buf := make([]byte, warmUpAnswer)
	var times []time.Duration
	for range 21 {
		t0 := time.Now()
		_, err := nc.Write([]byte{'?'})
		require.NoError(t, err)
		_, err = io.ReadFull(nc, buf)
		require.NoError(t, err)
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// answerServer listens on ip and answers each byte it reads with
// warmUpAnswer bytes, until the test ends.
func answerServer(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	answer := make([]byte, warmUpAnswer)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				b := make([]byte, 1)
				for {
					if _, err := conn.Read(b); err != nil {
						return
					}
					if _, err := conn.Write(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// bridgeIP returns this machine's address on the cluster's network, the
// local address in the same subnet as node1, which the login node reaches.
func bridgeIP(t *testing.T, cl *clustertest.Cluster) string {
	t.Helper()
	node := net.ParseIP(cl.NodeAddrs[cl.Nodes[0]])
	require.NotNil(t, node, "node address %q", cl.NodeAddrs[cl.Nodes[0]])
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.Contains(node) {
			return ipn.IP.String()
		}
	}
	t.Fatalf("no local address on the network of %s", node)
	return ""
}

package sshx

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDialWarmsUp: Dial, and each redial, runs `true` before the first
// use, so that sshd turns on TCP_NODELAY (see Client.warmUp).
func TestDialWarmsUp(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)
	ctx := testCtx(t)

	require.Equal(t, "exec true", srv.waitEvent(t, "exec "), "Dial's first command")
	require.EqualValues(t, 1, c.warmUps.Load())

	srv.dropAll()
	out, _, err := c.Run(ctx, "echo again", nil)
	for err != nil { // the drop may be seen only by this call: it redials next
		require.ErrorIs(t, err, ErrConnectionLost)
		out, _, err = c.Run(ctx, "echo again", nil)
	}
	require.Equal(t, "again\n", string(out))
	require.Equal(t, "exec true", srv.waitEvent(t, "exec "), "the redial's first command")
	require.EqualValues(t, 2, c.warmUps.Load())
}

// TestDialWarmUpRefused: a server that refuses sessions still gives a
// Client that forwards.
func TestDialWarmUpRefused(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{noSessions: true})
	c := dialTest(t, cfg)
	ctx := testCtx(t)

	srv.waitEvent(t, "session refused")
	require.Zero(t, c.warmUps.Load())

	echo := startEcho(t)
	nc, err := c.DialContext(ctx, "tcp", echo)
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(nc, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
}

package sshx

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLocalRun(t *testing.T) {
	var l Local
	ctx := testCtx(t)

	out, errOut, err := l.Run(ctx, "echo out; echo err >&2", nil)
	require.NoError(t, err)
	require.Equal(t, "out\n", string(out))
	require.Equal(t, "err\n", string(errOut))

	out, _, err = l.Run(ctx, "tr a-z A-Z", strings.NewReader("abc"))
	require.NoError(t, err)
	require.Equal(t, "ABC", string(out))

	_, _, err = l.Run(ctx, "echo bad >&2; exit 4", nil)
	var xe *ExitError
	require.ErrorAs(t, err, &xe)
	require.Equal(t, 4, xe.Code)
	require.Equal(t, "bad\n", string(xe.Stderr))
	require.Equal(t, "sshx: command exited with status 4: bad", err.Error())

	_, _, err = l.Run(ctx, "kill -TERM $$", nil)
	require.ErrorAs(t, err, &xe)
	require.Equal(t, -1, xe.Code)
	require.Equal(t, "TERM", xe.Signal)
}

func TestLocalRunDirAndShell(t *testing.T) {
	dir := t.TempDir()
	l := Local{Shell: "sh", Dir: dir}
	out, _, err := l.Run(testCtx(t), "pwd", nil)
	require.NoError(t, err)
	require.Equal(t, dir+"\n", string(out))

	l = Local{Shell: filepath.Join(dir, "no-such-shell")}
	_, _, err = l.Run(testCtx(t), "true", nil)
	require.Error(t, err)
	var xe *ExitError
	require.NotErrorAs(t, err, &xe, "a missing shell is not an exit status")
}

// TestLocalCancel: ending ctx kills the whole process group, background
// children included, and Run returns promptly with ctx's error.
func TestLocalCancel(t *testing.T) {
	var l Local
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, _, err := l.Run(ctx, "sleep 30 & echo $! > "+Quote(pidFile)+"; wait", nil)
		errc <- err
	}()
	var pid string
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		pid = strings.TrimSpace(string(b))
		return err == nil && pid != ""
	}, 20e9, 10e6)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.Eventually(t, func() bool {
		_, err := os.Stat("/proc/" + pid)
		return os.IsNotExist(err)
	}, 20e9, 10e6, "the background child must be killed with the group")
}

func TestLocalPut(t *testing.T) {
	home := isolateHome(t)
	var l Local
	ctx := testCtx(t)

	require.NoError(t, l.Put(ctx, "~/a.txt", strings.NewReader("A"), 0o640))
	require.NoError(t, l.Put(ctx, "$HOME/b.sh", strings.NewReader("B"), 0o755))
	require.NoError(t, l.Put(ctx, "rel.txt", nil, 0o600))
	for name, want := range map[string]os.FileMode{"a.txt": 0o640, "b.sh": 0o755, "rel.txt": 0o600} {
		fi, err := os.Stat(filepath.Join(home, name))
		require.NoError(t, err)
		require.Equal(t, want, fi.Mode().Perm(), name)
	}
	b, err := os.ReadFile(filepath.Join(home, "a.txt"))
	require.NoError(t, err)
	require.Equal(t, "A", string(b))

	require.Error(t, l.Put(ctx, "~/missing/x", strings.NewReader("x"), 0o600))
	require.Error(t, l.Put(ctx, "", strings.NewReader("x"), 0o600))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, l.Put(cctx, "~/c", strings.NewReader("x"), 0o600), context.Canceled)
}

func TestLocalDial(t *testing.T) {
	var l Local
	ctx := testCtx(t)
	nc, err := l.DialContext(ctx, "tcp", startEcho(t))
	require.NoError(t, err)
	_, err = nc.Write([]byte("hi"))
	require.NoError(t, err)
	buf := make([]byte, 2)
	_, err = io.ReadFull(nc, buf)
	require.NoError(t, err)
	require.Equal(t, "hi", string(buf))
	require.NoError(t, nc.Close())

	_, err = l.DialContext(ctx, "tcp", closedPort(t))
	require.ErrorIs(t, err, ErrRemoteNotListening)
}

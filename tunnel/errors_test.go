package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/hpcorch/hpcorch/sshx"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want verdict
	}{
		{"prohibited", &ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "open failed"},
			verdict{cause: causeProhibited}},
		{"prohibited wrapped", fmt.Errorf("sshx: dial: %w",
			&ssh.OpenChannelError{Reason: ssh.Prohibited}), verdict{cause: causeProhibited}},
		{"prohibited as text", errors.New("channel 3: open failed: administratively prohibited"),
			verdict{cause: causeProhibited}},
		{"connect failed", &ssh.OpenChannelError{Reason: ssh.ConnectionFailed,
			Message: "Connection refused"}, verdict{cause: causeNotListening, transient: true}},
		{"resource shortage", &ssh.OpenChannelError{Reason: ssh.ResourceShortage},
			verdict{transient: true}},
		{"unknown channel type", &ssh.OpenChannelError{Reason: ssh.UnknownChannelType},
			verdict{}},
		{"connection lost", fmt.Errorf("sshx: %w", io.EOF), verdict{transient: true}},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect",
			syscall.ECONNREFUSED)}, verdict{transient: true}},
		{"attempt timed out", context.DeadlineExceeded, verdict{transient: true}},
		{"cancelled", context.Canceled, verdict{}},
		{"sshx forwarding disabled", fmt.Errorf("%w: dial n:1: %w", sshx.ErrForwardingDisabled,
			errors.New("x")), verdict{cause: causeProhibited}},
		{"sshx not listening", fmt.Errorf("%w: dial n:1", sshx.ErrRemoteNotListening),
			verdict{cause: causeNotListening, transient: true}},
		{"sshx connection lost", fmt.Errorf("%w while dialing: x", sshx.ErrConnectionLost),
			verdict{transient: true}},
		{"sshx client closed", sshx.ErrClosed, verdict{}},
		{"handshake failure", errors.New("ssh: handshake failed: unable to authenticate"),
			verdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, classify(tt.err))
		})
	}
}

func TestDialErrorText(t *testing.T) {
	err := &DialError{Addr: "node2:9090", Attempts: 3, Elapsed: 1500e6,
		Err: errors.New("boom")}
	require.Equal(t, "tunnel: dial node2:9090 (3 attempts in 1.5s): boom", err.Error())
	require.False(t, errors.Is(err, ErrForwardingDisabled))

	one := &DialError{Addr: "node2:9090", Attempts: 1, Err: errors.New("boom")}
	require.Equal(t, "tunnel: dial node2:9090: boom", one.Error())
}

package sshx

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestSessionOpenError covers the session side of BC-29.
func TestSessionOpenError(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		want  error
		retry bool
	}{
		{"prohibited", &ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "open failed"},
			ErrTooManySessions, true},
		{"connect failed", &ssh.OpenChannelError{Reason: ssh.ConnectionFailed,
			Message: "open failed"}, ErrTooManySessions, true},
		{"unknown type", &ssh.OpenChannelError{Reason: ssh.UnknownChannelType}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mapped, retry := sessionOpenError(tt.err)
			require.Error(t, mapped)
			require.Equal(t, tt.retry, retry)
			if tt.want != nil {
				require.ErrorIs(t, mapped, tt.want)
			}
			var oce *ssh.OpenChannelError
			require.ErrorAs(t, mapped, &oce, "the original error stays reachable")
		})
	}
	mapped, _ := sessionOpenError(io.EOF)
	require.NoError(t, mapped, "a transport error is not a refusal")
}

// TestDialOpenError covers the direct-tcpip side of BC-29.
func TestDialOpenError(t *testing.T) {
	prohibited := &ssh.OpenChannelError{Reason: ssh.Prohibited,
		Message: "administratively prohibited"}
	refused := &ssh.OpenChannelError{Reason: ssh.ConnectionFailed,
		Message: "Connection refused"}

	err, ok := dialOpenError("node2:9090", prohibited)
	require.True(t, ok)
	require.ErrorIs(t, err, ErrForwardingDisabled)
	require.Contains(t, err.Error(), "node2:9090")

	err, ok = dialOpenError("node2:9090", refused)
	require.True(t, ok)
	require.ErrorIs(t, err, ErrRemoteNotListening)
	require.False(t, errors.Is(err, ErrForwardingDisabled))

	_, ok = dialOpenError("node2:9090", io.EOF)
	require.False(t, ok)
}

func TestExitErrorText(t *testing.T) {
	require.Equal(t, "sshx: command exited with status 2: no such job",
		(&ExitError{Code: 2, Stderr: []byte("no such job\nmore")}).Error())
	require.Equal(t, "sshx: command exited with status 1",
		(&ExitError{Code: 1}).Error())
	require.Equal(t, "sshx: command killed by signal KILL: ",
		(&ExitError{Code: -1, Signal: "KILL"}).Error())
}

func TestAuthErrorUnwrap(t *testing.T) {
	ae := &AuthError{User: "u", Host: "h:22",
		Skipped: []error{&KeyError{Path: "/k", Err: ErrPassphraseRequired}}}
	require.ErrorIs(t, ae, ErrAuthFailed)
	require.ErrorIs(t, ae, ErrPassphraseRequired)
	var ke *KeyError
	require.ErrorAs(t, ae, &ke)
	require.Equal(t, "/k", ke.Path)
	require.Equal(t, "sshx: authentication as u at h:22 failed: no credentials to offer; "+
		"skipped key /k: private key is passphrase protected", ae.Error())
}

func TestHostKeyErrorText(t *testing.T) {
	key := newSigner(t, "ed25519").PublicKey()
	unknown := &HostKeyError{Host: "login:22", Key: key, Files: []string{"/kh"}}
	require.ErrorIs(t, unknown, ErrHostUnknown)
	require.Contains(t, unknown.Error(), "`ssh-keyscan login >> /kh`")
	require.Contains(t, unknown.Error(), "host_key_policy: accept-new")
	require.NotContains(t, unknown.Error(), "HostKeyAcceptNew")

	port := &HostKeyError{Host: "127.0.0.1:2222", Key: key, Files: []string{"/k h"}}
	require.Contains(t, port.Error(), "`ssh-keyscan -p 2222 127.0.0.1 >> '/k h'`")
	none := &HostKeyError{Host: "[::1]:2200", Key: key}
	require.Contains(t, none.Error(), "`ssh-keyscan -p 2200 ::1 >> ~/.ssh/known_hosts`")

	changed := &HostKeyError{Host: "login:22", Key: key, Files: []string{"/kh"},
		Known: []knownhosts.KnownKey{{Key: key, Filename: "/kh", Line: 7}}}
	require.ErrorIs(t, changed, ErrHostKeyChanged)
	require.Contains(t, changed.Error(), "/kh:7 has ssh-ed25519 SHA256:")
	require.Contains(t, changed.Error(), "remove line 7 of /kh")
}

package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeTTY is a terminal: what the person types, and what is shown.
type fakeTTY struct {
	in     *strings.Reader
	shown  bytes.Buffer
	closed bool
}

func (f *fakeTTY) Read(p []byte) (int, error)  { return f.in.Read(p) }
func (f *fakeTTY) Write(p []byte) (int, error) { return f.shown.Write(p) }
func (f *fakeTTY) Close() error                { f.closed = true; return nil }

// fakePrompter types input on a fake terminal; secret lines are read like
// any other but, as with echo off, not shown.
func fakePrompter(input string) (*prompter, *fakeTTY) {
	tty := &fakeTTY{in: strings.NewReader(input)}
	return &prompter{
		open:   func() (io.ReadWriteCloser, error) { return tty, nil },
		secret: func(rw io.ReadWriter) (string, error) { return readLine(rw) },
	}, tty
}

func TestPromptPassphrase(t *testing.T) {
	p, tty := fakePrompter("s3cret word\nrest")
	got, err := p.passphrase("/home/u/.ssh/id_ed25519")
	require.NoError(t, err)
	require.Equal(t, "s3cret word", string(got))
	require.Equal(t, "Enter passphrase for key '/home/u/.ssh/id_ed25519': ", tty.shown.String())
	require.True(t, tty.closed)

	rest, err := readLine(tty.in)
	require.NoError(t, err)
	require.Equal(t, "rest", rest, "nothing past the answer is read from the terminal")
}

func TestPromptChallenge(t *testing.T) {
	p, tty := fakePrompter("alice\r\n123456\n")
	got, err := p.challenge("", "Two-factor login\n", []string{"User: ", "Code: "},
		[]bool{true, false})
	require.NoError(t, err)
	require.Equal(t, []string{"alice", "123456"}, got)
	require.Equal(t, "Two-factor login\nUser: Code: ", tty.shown.String())

	_, err = p.challenge("", "", []string{"Code: "}, []bool{false})
	require.ErrorIs(t, err, io.EOF, "no answer typed")
	require.Contains(t, err.Error(), `"Code:"`)
}

func TestPromptNoTerminal(t *testing.T) {
	p := &prompter{open: func() (io.ReadWriteCloser, error) {
		return nil, errors.New("open /dev/tty: no such device or address")
	}}
	_, err := p.passphrase("/k")
	require.ErrorIs(t, err, errNoTerminal)
	_, err = p.challenge("", "", []string{"Code: "}, nil)
	require.ErrorIs(t, err, errNoTerminal)
}

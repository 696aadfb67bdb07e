package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// errNoTerminal is what a prompt answers when hpcorch runs without a
// terminal (a script, CI): the key is skipped and the login error says so.
var errNoTerminal = errors.New("no terminal to ask on " +
	"(use ssh-agent, or a key without a passphrase)")

// prompter asks the person at the terminal for what an SSH login needs: a
// key's passphrase and the answers to keyboard-interactive prompts (a
// one-time code). Secrets are read with echo off and never printed.
type prompter struct {
	// open returns the terminal to read from and write to; the default
	// opens /dev/tty, so prompts work while stdout is piped.
	open func() (io.ReadWriteCloser, error)
	// secret reads one line without echo from the terminal.
	secret func(tty io.ReadWriter) (string, error)
}

// ttyPrompter asks on /dev/tty.
func ttyPrompter() *prompter {
	return &prompter{
		open: func() (io.ReadWriteCloser, error) {
			return os.OpenFile("/dev/tty", os.O_RDWR, 0)
		},
		secret: func(tty io.ReadWriter) (string, error) {
			f, ok := tty.(*os.File)
			if !ok || !term.IsTerminal(int(f.Fd())) {
				return "", errNoTerminal
			}
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(tty)
			return string(b), err
		},
	}
}

// passphrase asks for the passphrase of the private key at path.
func (p *prompter) passphrase(path string) ([]byte, error) {
	tty, err := p.open()
	if err != nil {
		return nil, errNoTerminal
	}
	defer tty.Close()

	fmt.Fprintf(tty, "Enter passphrase for key '%s': ", path)
	s, err := p.secret(tty)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// challenge answers one round of keyboard-interactive prompts; a question
// the server says may echo (a user name) is read as a plain line.
func (p *prompter) challenge(name, instruction string, questions []string,
	echos []bool) ([]string, error) {
	tty, err := p.open()
	if err != nil {
		return nil, errNoTerminal
	}
	defer tty.Close()

	for _, s := range []string{name, instruction} {
		if s = strings.TrimSpace(s); s != "" {
			fmt.Fprintln(tty, s)
		}
	}
	answers := make([]string, len(questions))
	for i, q := range questions {
		fmt.Fprint(tty, q)
		var err error
		if i < len(echos) && echos[i] {
			answers[i], err = readLine(tty)
		} else {
			answers[i], err = p.secret(tty)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the answer to %q: %w", strings.TrimSpace(q), err)
		}
	}
	return answers, nil
}

// readLine reads one line from r a byte at a time, so that nothing past
// the line is taken from the terminal, and returns it without its end.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	c := make([]byte, 1)
	for {
		n, err := r.Read(c)
		if n == 1 && c[0] == '\n' {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		if n == 1 {
			b.WriteByte(c[0])
		}
		if errors.Is(err, io.EOF) && b.Len() > 0 {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		if err != nil {
			return "", err
		}
	}
}

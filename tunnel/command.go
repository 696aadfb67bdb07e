package tunnel

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hpcorch/hpcorch/sshx"
)

// SSHTarget names the login node as OpenSSH reaches it. The zero Port and
// an empty KeyFile or User leave the matching option out of the command,
// so that ssh uses its defaults and ~/.ssh/config.
type SSHTarget struct {
	// User is the login name on the login node.
	User string
	// Host is the login node's host name or address.
	Host string
	// Port is the login node's SSH port; 0 leaves -p out.
	Port int
	// KeyFile is the private key to log in with; a leading "~/" stays
	// unquoted so that the user's shell expands it.
	KeyFile string
}

// SSHCommand returns the OpenSSH command line that forwards localPort on
// this machine to remoteHost:remotePort through target, in the form the
// reference tool prints:
//
//	ssh -i KEY -L LOCAL:HOST:REMOTE -N USER@LOGIN -p PORT
//
// Every value is quoted for a POSIX shell with sshx.Quote.
func SSHCommand(target SSHTarget, localPort int, remoteHost string, remotePort int) string {
	var b strings.Builder
	b.WriteString("ssh")
	if target.KeyFile != "" {
		b.WriteString(" -i " + quotePath(target.KeyFile))
	}

	if strings.Contains(remoteHost, ":") {
		// An IPv6 address: ssh wants it in brackets inside -L.
		remoteHost = "[" + remoteHost + "]"
	}
	fwd := fmt.Sprintf("%d:%s:%d", localPort, remoteHost, remotePort)
	b.WriteString(" -L " + sshx.Quote(fwd) + " -N ")

	dest := target.Host
	if target.User != "" {
		dest = target.User + "@" + target.Host
	}
	b.WriteString(sshx.Quote(dest))
	if target.Port != 0 {
		b.WriteString(" -p " + strconv.Itoa(target.Port))
	}
	return b.String()
}

// quotePath quotes p, leaving a leading "~/" outside the quotes so that the
// shell still expands it.
func quotePath(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok && rest != "" {
		return "~/" + sshx.Quote(rest)
	}
	return sshx.Quote(p)
}

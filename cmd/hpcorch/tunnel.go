package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/servers"
)

// tunnelOut is the JSON form of --create-tunnel, printed once it is open.
type tunnelOut struct {
	ID         string `json:"id"`
	Remote     string `json:"remote"`
	LocalPort  int    `json:"local_port"`
	URL        string `json:"url"`
	SSHCommand string `json:"ssh_command,omitempty"`
	User       string `json:"user,omitempty"`
	Password   string `json:"password_file,omitempty"`
}

// createTunnel opens the tunnel, prints how to use it and holds it until
// ctx ends (Ctrl-C, SIGTERM).
func (c *cli) createTunnel(ctx context.Context) error {
	id := c.inv.args[0]
	local, remote := c.inv.tunnelPorts()
	svc, err := c.o.Servers.CheckServiceStatus(ctx, id)
	if err != nil {
		return err
	}
	if remote < 0 {
		remote = svc.Port
	}
	if local < 0 {
		local = remote // the reference's default: the same port on both ends
	}

	t, err := c.o.OpenTunnel(ctx, svc.ID, local, remote)
	if err != nil {
		return err
	}
	defer t.Close()

	box := tunnelBox{
		Remote:    t.Remote(),
		LocalPort: t.Port(),
		URL:       "http://localhost:" + strconv.Itoa(t.Port()),
		SSH:       c.o.SSHCommand(t),
	}
	if svc.Kind == servers.KindMonitor && svc.RunDir != "" {
		box.Login = fmt.Sprintf("Prometheus asks for a login: user %s, password in %s "+
			"on the cluster.", monitors.User, svc.RunDir+"/password")
	}
	if c.inv.json {
		out := tunnelOut{ID: svc.ID, Remote: box.Remote, LocalPort: box.LocalPort,
			URL: box.URL, SSHCommand: box.SSH}
		if box.Login != "" {
			out.User, out.Password = monitors.User, svc.RunDir+"/password"
		}
		if err := c.printJSON(out); err != nil {
			return err
		}
	} else {
		box.write(c.stdout)
	}

	<-ctx.Done()
	fmt.Fprintln(c.stderr, "Tunnel closed.")
	return nil
}

// tunnelBox is what --create-tunnel prints once its tunnel is open.
type tunnelBox struct {
	Remote    string // node:port
	LocalPort int
	URL       string // http://localhost:PORT
	SSH       string // the equivalent ssh command, or ""
	Login     string // how to log in to the service, or ""
}

// write prints b in the reference's frame.
func (b tunnelBox) write(w io.Writer) {
	rule := strings.Repeat("=", 70)
	host, port, _ := net.SplitHostPort(b.Remote)
	fmt.Fprintln(w, rule)
	fmt.Fprintln(w, "SSH TUNNEL SETUP")
	fmt.Fprintln(w, rule)
	fmt.Fprintf(w, "To access %s:%s at localhost:%d,\n", host, port, b.LocalPort)
	fmt.Fprintln(w, "hpcorch forwards it now: keep this command running (Ctrl-C closes")
	fmt.Fprintln(w, "the tunnel).")
	if b.SSH != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "To forward it with OpenSSH instead, run in a separate terminal:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  "+b.SSH)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Then access the service at: %s\n", b.URL)
	if b.Login != "" {
		fmt.Fprintln(w, b.Login)
	}
	fmt.Fprintln(w, rule)
}

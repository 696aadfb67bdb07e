// Package tunnel forwards local TCP connections to an address on the cluster
// side, in-process, the way `ssh -N -L` does, but without a separate ssh
// process.
//
// # Forwarding
//
// [Open] listens on a local address (loopback, a free port by default) and
// forwards every accepted connection through a [Dialer]: in hpcorch, an
// [github.com/hpcorch/hpcorch/sshx.Executor], whose DialContext opens one
// direct-tcpip channel on its one SSH connection. No connection opens a new
// SSH connection.
//
//	t, err := tunnel.Open(ctx, client, "node2:9090", tunnel.Options{})
//	if err != nil {
//		return err
//	}
//	defer t.Close()
//	if err := t.WaitReady(ctx); err != nil {
//		return err
//	}
//	fmt.Println("Prometheus at", t.URL())
//
// A [Tunnel] reports its state as [Event] values: up, reconnecting, down,
// and one event per connection that failed, with an error that says why
// (forwarding disabled on the login node, nothing listening on the node,
// connection to the login node lost). When the SSH connection dies, live
// streams end with an error, the listener stays, and new connections dial
// again, retrying transient failures with backoff up to a deadline.
//
// # HTTP without a listener
//
// [HTTPClient] and [Transport] give an http.Client whose connections go
// through the Dialer directly, for code that talks HTTP to a node (the
// SDK's Prometheus queries) and needs no local port.
//
// # Your own ssh
//
// [SSHCommand] prints the equivalent OpenSSH command line, for users who
// prefer to run ssh themselves.
//
// # Security
//
// The listener binds to loopback unless Options.LocalAddr says otherwise:
// anyone who can connect to it reaches the remote address as the SSH user.
// Host keys and credentials are the Dialer's business; this package logs
// neither.
//
// # Stability
//
// The API may change until hpcorch reaches v1.
package tunnel

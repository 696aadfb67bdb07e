package tunnel

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSSHCommand(t *testing.T) {
	tests := []struct {
		name   string
		target SSHTarget
		local  int
		host   string
		remote int
		want   string
	}{
		{
			name: "reference output",
			target: SSHTarget{User: "user1", Host: "login.lxp.lu", Port: 8822,
				KeyFile: "~/.ssh/id_ed25519_mlux"},
			local: 9090, host: "mel2074", remote: 9090,
			want: "ssh -i ~/.ssh/id_ed25519_mlux -L 9090:mel2074:9090 -N " +
				"user1@login.lxp.lu -p 8822",
		},
		{
			name:   "no key, user or port",
			target: SSHTarget{Host: "login"},
			local:  8080, host: "node2", remote: 9090,
			want: "ssh -L 8080:node2:9090 -N login",
		},
		{
			name:   "values that need quoting",
			target: SSHTarget{User: "o'brien", Host: "login", KeyFile: "/keys/my key"},
			local:  1, host: "node2;rm -rf ~", remote: 2,
			want: `ssh -i '/keys/my key' -L '1:node2;rm -rf ~:2' -N 'o'\''brien@login'`,
		},
		{
			name:   "tilde key with a space keeps tilde expansion",
			target: SSHTarget{Host: "login", KeyFile: "~/my keys/id"},
			local:  1, host: "n", remote: 2,
			want: "ssh -i ~/'my keys/id' -L 1:n:2 -N login",
		},
		{
			name:   "IPv6 remote host",
			target: SSHTarget{Host: "login", Port: 22},
			local:  1, host: "fd00::1", remote: 2,
			want: "ssh -L '1:[fd00::1]:2' -N login -p 22",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, SSHCommand(tt.target, tt.local, tt.host, tt.remote))
		})
	}
}

func TestTunnelSSHCommand(t *testing.T) {
	tn, _ := open(t, &net.Dialer{}, "node2:9090", Options{SkipProbe: true})
	got := tn.SSHCommand(SSHTarget{User: "hpcuser", Host: "127.0.0.1", Port: 2222})
	want := fmt.Sprintf("ssh -L %d:node2:9090 -N hpcuser@127.0.0.1 -p 2222", tn.Port())
	require.Equal(t, want, got)
	require.Equal(t, "node2:9090", tn.Remote())
}

func ExampleSSHCommand() {
	login := SSHTarget{User: "user1", Host: "login.lxp.lu", Port: 8822,
		KeyFile: "~/.ssh/id_ed25519_mlux"}
	fmt.Println(SSHCommand(login, 9090, "mel2074", 9090))
	// Output:
	// ssh -i ~/.ssh/id_ed25519_mlux -L 9090:mel2074:9090 -N user1@login.lxp.lu -p 8822
}

func ExampleOpen() {
	// In hpcorch the Dialer is an sshx.Client; a net.Dialer works the same
	// way against addresses this machine reaches.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()

	ctx := context.Background()
	t, err := Open(ctx, &net.Dialer{}, ln.Addr().String(), Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	if err := t.WaitReady(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("listening on loopback:", t.Addr().(*net.TCPAddr).IP.IsLoopback())
	// Output:
	// listening on loopback: true
}

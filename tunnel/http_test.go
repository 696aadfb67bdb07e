package tunnel

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHTTPClientDialsThroughDialer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)

	// The request names a host only the "cluster side" knows; the Dialer
	// maps it, as sshd resolves node names on the login node.
	d := &countingDialer{}
	var mu sync.Mutex
	var asked []string
	mapped := dialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		asked = append(asked, addr)
		mu.Unlock()
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	})
	client := HTTPClient(mapped)
	t.Cleanup(client.CloseIdleConnections)

	for range 20 {
		resp, err := client.Get("http://node2:9090/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, "hello /metrics", string(body))
	}
	// One connection, kept alive, dialed by name.
	require.Equal(t, 1, d.count())
	require.Equal(t, []string{"node2:9090"}, asked)
}

func TestTransportIgnoresProxyFromEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	require.Nil(t, Transport(&net.Dialer{}).Proxy)
}

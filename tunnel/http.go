package tunnel

import (
	"net/http"
	"time"
)

// Transport returns an *http.Transport whose connections are opened by
// d.DialContext, with no local listener: host names in request URLs are
// resolved on the cluster side (http://node2:9090/ works). It keeps idle
// connections for reuse like http.DefaultTransport, and never uses a proxy
// from the environment, since the addresses are the cluster's.
func Transport(d Dialer) *http.Transport {
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// HTTPClient returns an *http.Client that uses Transport(d). It sets no
// timeout: bound requests with their context.
func HTTPClient(d Dialer) *http.Client {
	return &http.Client{Transport: Transport(d)}
}

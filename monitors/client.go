package monitors

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// promAPI is the part of Prometheus' HTTP API that this package uses.
// v1.API satisfies it.
type promAPI interface {
	Query(ctx context.Context, query string, ts time.Time,
		opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
	QueryRange(ctx context.Context, query string, r v1.Range,
		opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
	LabelValues(ctx context.Context, label string, matches []string, start, end time.Time,
		opts ...v1.Option) (model.LabelValues, v1.Warnings, v1.Infos, error)
	Targets(ctx context.Context) (v1.TargetsResult, error)
	Buildinfo(ctx context.Context) (v1.BuildinfoResult, error)
}

// conn talks to one monitor's Prometheus.
type conn struct {
	// id is the monitor's ID, for messages.
	id string
	// base is Prometheus' URL, "http://node:port".
	base string
	// http sends requests with the monitor's credentials.
	http *http.Client
	// api is Prometheus' HTTP API over http.
	api promAPI
	// scrape is the monitor's scrape interval, or 0 when unknown.
	scrape time.Duration
}

// newConn returns a conn to the Prometheus at base that sends requests
// through hc with basic auth (user, password). An empty password sends
// none.
func newConn(id, base string, hc *http.Client, user, password string,
	scrape time.Duration) (*conn, error) {
	authed := &http.Client{
		Transport: &basicAuth{user: user, password: password, next: transportOf(hc)},
		Timeout:   hc.Timeout,
	}

	c, err := api.NewClient(api.Config{Address: base, Client: authed})
	if err != nil {
		return nil, fmt.Errorf("monitors: %s: prometheus client for %s: %w", id, base, err)
	}
	return &conn{id: id, base: base, http: authed, api: v1.NewAPI(c), scrape: scrape}, nil
}

// transportOf returns hc's transport, or http.DefaultTransport.
func transportOf(hc *http.Client) http.RoundTripper {
	if hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}

// basicAuth adds HTTP basic auth to every request.
type basicAuth struct {
	user, password string
	next           http.RoundTripper
}

// RoundTrip sends a copy of req with the credentials set.
func (b *basicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.password == "" {
		return b.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.SetBasicAuth(b.user, b.password)
	return b.next.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the transport
// underneath, when it can.
func (b *basicAuth) CloseIdleConnections() {
	if ci, ok := b.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// get fetches path (such as "/-/ready") from Prometheus and returns the
// status code and up to 4 KiB of the body.
func (c *conn) get(ctx context.Context, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, "", fmt.Errorf("monitors: %s: %w", c.id, err)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("monitors: %s: GET %s: %w", c.id, path, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("monitors: %s: GET %s: %w", c.id, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return resp.StatusCode, "", fmt.Errorf("monitors: %s: GET %s: %w", c.id, path, ErrUnauthorized)
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// version returns Prometheus' version from /api/v1/status/buildinfo, or
// "unknown" when the server does not say.
func (c *conn) version(ctx context.Context) (string, error) {
	bi, err := c.api.Buildinfo(ctx)
	if err != nil {
		return "", apiError(c.id+": buildinfo", err)
	}
	if bi.Version == "" {
		return "unknown", nil
	}
	return bi.Version, nil
}

// closeIdle releases the connections c keeps open.
func (c *conn) closeIdle() {
	c.http.CloseIdleConnections()
}

package monitors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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
	// raw is the client api uses, for what api cannot decode.
	raw api.Client
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
	return &conn{id: id, base: base, http: authed, api: v1.NewAPI(c), raw: c, scrape: scrape}, nil
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
		return resp.StatusCode, "", fmt.Errorf("monitors: %s: GET %s: %w",
			c.id, path, ErrUnauthorized)
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

// BUG(hpcorch#monitors): client_golang does not decode string results (a
// PromQL string literal such as "foo"); QueryMetrics then sends such a
// query a second time and decodes the answer itself.

// stringResult reports whether err is client_golang's refusal to decode a
// query result of type string, which it does not support.
func stringResult(err error) bool {
	var ae *v1.Error
	return errors.As(err, &ae) && ae.Type == v1.ErrBadResponse &&
		strings.Contains(ae.Msg, `unexpected value type "string"`)
}

// rawQuery runs an instant query with the plain client and decodes the
// answer itself: the way to a string result, which v1.API refuses.
func (c *conn) rawQuery(ctx context.Context, query string, at time.Time,
	timeout time.Duration) (*QueryResult, error) {
	form := url.Values{"query": {query}, "time": {formatTime(at)}}
	if timeout > 0 {
		form.Set("timeout", strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64))
	}
	u := c.raw.URL("/api/v1/query", nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(),
		strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("monitors: query %q: %w", query, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	_, body, err := c.raw.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("monitors: query %q: %w", query, err)
	}
	var env struct {
		Status    string       `json:"status"`
		ErrorType v1.ErrorType `json:"errorType"`
		Error     string       `json:"error"`
		Data      struct {
			Type   model.ValueType `json:"resultType"`
			Result json.RawMessage `json:"result"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
		Infos    []string `json:"infos"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("monitors: query %q: %w", query, err)
	}
	if env.Status != "success" {
		return nil, queryError(query, &v1.Error{Type: env.ErrorType, Msg: env.Error})
	}

	var val model.Value
	switch env.Data.Type {
	case model.ValString:
		val = &model.String{}
	case model.ValScalar:
		val = &model.Scalar{}
	default:
		return nil, fmt.Errorf("monitors: query %q: unexpected result type %q",
			query, env.Data.Type)
	}
	if err := json.Unmarshal(env.Data.Result, val); err != nil {
		return nil, fmt.Errorf("monitors: query %q: %w", query, err)
	}
	return &QueryResult{Query: query, Value: val, Warnings: env.Warnings, Infos: env.Infos,
		Time: at}, nil
}

// formatTime writes t as Prometheus' API takes it: Unix seconds.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)
}

package servers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// probeTimeout bounds one probe of a Check.
const probeTimeout = 10 * time.Second

// Check is one readiness condition that WaitReady probes, with backoff,
// until it passes or its Timeout has passed. Checks compose by listing
// them: WaitReady runs them in order, each after the one before passed.
// Build them with TCPCheck, HTTPCheck, LogCheck, CommandCheck or
// RecipeCheck, or set Probe to anything else.
type Check struct {
	// Name names the check in reports and errors ("http :18080/").
	Name string

	// Timeout bounds how long the check may keep failing; 0 means
	// recipe.DefaultHealthTimeout.
	Timeout time.Duration

	// Interval is the first pause between probes; it grows by half after
	// each failure, up to 8 times itself. 0 means 200ms.
	Interval time.Duration

	// Probe runs once and returns nil when the condition holds. It is
	// given a context that ends after one probe's time.
	Probe func(ctx context.Context, t *Target) error
}

// Target is what a Check probes: the service as last seen and the Servers
// that manages it.
type Target struct {
	// Servers reaches the cluster.
	Servers *Servers
	// Service is the service as last seen, running on Service.Node.
	Service *Service
}

// WithTimeout returns c with Timeout set to d.
func (c Check) WithTimeout(d time.Duration) Check { c.Timeout = d; return c }

// WithInterval returns c with Interval set to d.
func (c Check) WithInterval(d time.Duration) Check { c.Interval = d; return c }

// TCPCheck passes once port on the service's node accepts a connection,
// dialled through the Executor (from the login node). Port 0 means the
// service's main port.
func TCPCheck(port int) Check {
	return Check{
		Name: "tcp " + portName(port),
		Probe: func(ctx context.Context, t *Target) error {
			addr, err := t.addr("", port)
			if err != nil {
				return err
			}
			c, err := t.Servers.exec.DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			return c.Close()
		},
	}
}

// HTTPCheck passes once GET path on port of the service's node answers
// with status and a body containing expect, over the Executor. Port 0
// means the service's main port, status 0 any status below 500, expect ""
// any body.
func HTTPCheck(port int, path string, status int, expect string) Check {
	if path == "" {
		path = "/"
	}
	return Check{
		Name: "http " + portName(port) + path,
		Probe: func(ctx context.Context, t *Target) error {
			addr, err := t.addr("", port)
			if err != nil {
				return err
			}
			return t.httpGet(ctx, "http://"+addr+path, status, expect)
		},
	}
}

// LogCheck passes once the job's output contains text.
func LogCheck(text string) Check {
	return Check{
		Name: fmt.Sprintf("log %q", text),
		Probe: func(ctx context.Context, t *Target) error {
			f := sshx.Quote(t.Service.Output)
			cmd := "grep -F -q -e " + sshx.Quote(text) + " " + f
			_, _, err := t.Servers.exec.Run(ctx, cmd, nil)
			var xe *sshx.ExitError
			if errors.As(err, &xe) {
				return fmt.Errorf("%q is not in the job output", text)
			}
			return err
		},
	}
}

// CommandCheck passes once argv exits 0 on the service's node, with
// HPCORCH_HOST and HPCORCH_PORT set to the service's node and main port.
// On SLURM it runs as a step of the service's job (srun --overlap); with
// the local scheduler it runs on this machine.
func CommandCheck(argv ...string) Check {
	return Check{
		Name: "command " + strings.Join(argv, " "),
		Probe: func(ctx context.Context, t *Target) error {
			if len(argv) == 0 {
				return errors.New("servers: command check with no command")
			}
			svc := t.Service
			cmd := sshx.QuoteAll("env", "HPCORCH_HOST="+svc.Node,
				"HPCORCH_PORT="+strconv.Itoa(svc.Port)) + " " + sshx.QuoteAll(argv...)
			if _, local := t.Servers.sched.(*slurm.Local); !local {
				cmd = sshx.QuoteAll("srun", "--jobid="+svc.JobID, "--overlap", "--nodes=1",
					"--ntasks=1", "--nodelist="+svc.Node, "--quiet") + " " + cmd
			}
			_, stderr, err := t.Servers.exec.Run(ctx, cmd, nil)
			if err != nil {
				return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(stderr)))
			}
			return nil
		},
	}
}

// RecipeCheck returns the Check a recipe's health_check describes, with
// its timeout and interval; ok is false when hc says nothing to check.
// Endpoints name addresses as seen from the service's node: localhost
// there is the node.
func RecipeCheck(hc *recipe.HealthCheck) (c Check, ok bool) {
	if hc == nil {
		return Check{}, false
	}
	port := int(hc.Port)
	switch hc.EffectiveType() {
	case recipe.CheckHTTP:
		c = HTTPCheck(port, hc.Path, 0, hc.Expect)
		if hc.Endpoint != "" {
			c = endpointCheck(hc.Endpoint, hc.Expect)
		}
	case recipe.CheckTCP:
		c = TCPCheck(port)
		if hc.Endpoint != "" {
			ep := hc.Endpoint
			c.Name = "tcp " + ep
			c.Probe = func(ctx context.Context, t *Target) error {
				host, p, err := net.SplitHostPort(ep)
				if err != nil {
					return err
				}
				addr, err := t.addr(host, atoi(p))
				if err != nil {
					return err
				}
				conn, err := t.Servers.exec.DialContext(ctx, "tcp", addr)
				if err != nil {
					return err
				}
				return conn.Close()
			}
		}
	case recipe.CheckLog:
		c = LogCheck(hc.Expect)
	case recipe.CheckCommand:
		c = CommandCheck(hc.Command...)
	default:
		return Check{}, false
	}
	c.Timeout = hc.TimeoutOrDefault()
	c.Interval = min(hc.IntervalOrDefault(), time.Second)
	return c, true
}

// endpointCheck probes an http URL as seen from the service's node.
func endpointCheck(raw, expect string) Check {
	return Check{
		Name: "http " + raw,
		Probe: func(ctx context.Context, t *Target) error {
			u, err := url.Parse(raw)
			if err != nil {
				return err
			}
			port := atoi(u.Port())
			if port == 0 {
				port = 80
			}
			addr, err := t.addr(u.Hostname(), port)
			if err != nil {
				return err
			}
			u.Host = addr
			return t.httpGet(ctx, u.String(), 0, expect)
		},
	}
}

// addr returns the address to dial for host (as the service's node sees
// it; "" is the node) and port (0: the service's main port).
func (t *Target) addr(host string, port int) (string, error) {
	svc := t.Service
	if port == 0 {
		port = svc.Port
	}
	if port == 0 {
		return "", fmt.Errorf("%w: %s", ErrNoPort, svc.ID)
	}
	switch host {
	case "", "localhost", "127.0.0.1", "0.0.0.0", "::1", "::":
		host = t.Servers.dialHost(svc.Node)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// httpGet GETs u over the Executor and checks the status and body.
func (t *Target) httpGet(ctx context.Context, u string, status int, expect string) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext:       t.Servers.exec.DialContext,
		DisableKeepAlives: true,
		Proxy:             nil,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	switch {
	case status != 0 && resp.StatusCode != status:
		return fmt.Errorf("GET %s: the response has status %d, want %d", u, resp.StatusCode,
			status)
	case status == 0 && resp.StatusCode >= 500:
		return fmt.Errorf("GET %s: the response has status %d", u, resp.StatusCode)
	case expect != "" && !strings.Contains(string(body), expect):
		return fmt.Errorf("GET %s: the response does not contain %q", u, expect)
	}
	return nil
}

// dialHost returns the host name to dial for a node: the node itself on
// a cluster, this machine's loopback address for the local scheduler.
func (s *Servers) dialHost(node string) string {
	if _, ok := s.sched.(*slurm.Local); ok {
		return "127.0.0.1"
	}
	return node
}

func portName(port int) string {
	if port == 0 {
		return ":port"
	}
	return ":" + strconv.Itoa(port)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

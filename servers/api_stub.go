package servers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"time"

	"github.com/hpcorch/hpcorch/recipe"
)

var errTODO = errors.New("servers: not implemented yet")

// StartOptions adjusts one Start.
type StartOptions struct {
	// Kind tags the job; "" means KindService.
	Kind Kind
	// IDPrefix replaces the recipe's name as the ID's prefix.
	IDPrefix string
	// Files are written into the run folder before the job is submitted.
	Files []File
	// Command, when set, replaces the recipe's command and arguments.
	// Its words are treated like recipe values: $NAME, ${NAME} and a
	// leading ~ are expanded by the job's shell.
	Command []string
	// Env adds to (and overrides) the recipe's environment.
	Env map[string]string
}

// File is a file to write into a service's run folder.
type File struct {
	// Name is the file's name, relative to the run folder.
	Name string
	// Data is its content.
	Data []byte
	// Mode is its permission bits; 0 means 0o644.
	Mode fs.FileMode
}

// CAdvisorSource says where cAdvisor comes from.
type CAdvisorSource struct {
	// URL is the release binary the job downloads when the node has no
	// cAdvisor yet. "" means DefaultCAdvisorURL (with
	// DefaultCAdvisorSHA256) unless LocalPath is set.
	URL string
	// SHA256 is URL's hex checksum, checked before the binary is used.
	SHA256 string
	// LocalPath is a cAdvisor binary on this machine. When set,
	// InstallCAdvisor (and Start, for a recipe enabling cAdvisor) uploads
	// it over the Executor instead, for clusters whose nodes cannot
	// download.
	LocalPath string
}

// Check is one readiness condition that WaitReady probes until it passes.
type Check struct {
	// Name names the check in reports and errors ("http /healthz").
	Name string
	// Timeout bounds how long the check may keep failing; 0 means
	// recipe.DefaultHealthTimeout.
	Timeout time.Duration
	// Interval is the first pause between probes; it grows with backoff.
	// 0 means 200ms.
	Interval time.Duration
	// Probe runs once and returns nil when the condition holds.
	Probe func(ctx context.Context, t *Target) error
}

// Target is what a Check probes: the service, as last seen, and the
// Servers that manages it.
type Target struct {
	Servers *Servers
	Service *Service
}

// Phase is a step of WaitReady.
type Phase string

// The phases of WaitReady, in order.
const (
	PhasePending Phase = "pending"
	PhaseRunning Phase = "running"
	PhasePort    Phase = "port"
	PhaseHealth  Phase = "health"
)

// PhaseTime is how long one phase of WaitReady took.
type PhaseTime struct {
	Phase    Phase
	Duration time.Duration
	// Detail is what was seen: the pending reason, the node, the address
	// dialled, the check that passed.
	Detail string
}

// Readiness reports a WaitReady that succeeded.
type Readiness struct {
	// Service is the service as seen when it became ready.
	Service *Service
	// Phases are the phases gone through, in order.
	Phases []PhaseTime
	// Total is the time WaitReady took.
	Total time.Duration
}

// StartService starts r as a service.
func (s *Servers) StartService(ctx context.Context, r *recipe.Recipe) (*Service, error) {
	return s.Start(ctx, r, StartOptions{Kind: KindService})
}

// Start submits r as a job of kind o.Kind.
func (s *Servers) Start(ctx context.Context, r *recipe.Recipe, o StartOptions) (*Service, error) {
	return nil, errTODO
}

// DryRun returns the batch script StartService would submit for r.
func (s *Servers) DryRun(ctx context.Context, r *recipe.Recipe) (string, error) {
	return "", errTODO
}

// StopService cancels a service.
func (s *Servers) StopService(ctx context.Context, idOrJobID string) error { return errTODO }

// StopAllServices cancels every active service (never monitors).
func (s *Servers) StopAllServices(ctx context.Context) ([]string, error) { return nil, errTODO }

// ListRunningServices lists active services.
func (s *Servers) ListRunningServices(ctx context.Context) ([]Service, error) {
	return s.List(ctx, KindService)
}

// List lists active jobs of kind.
func (s *Servers) List(ctx context.Context, kind Kind) ([]Service, error) { return nil, errTODO }

// CheckServiceStatus reports one service.
func (s *Servers) CheckServiceStatus(ctx context.Context, idOrJobID string) (*Service, error) {
	return nil, errTODO
}

// ServiceHost returns the node a service runs on.
func (s *Servers) ServiceHost(ctx context.Context, id string) (string, error) {
	return "", errTODO
}

// ServiceEndpoint returns "http://node:port".
func (s *Servers) ServiceEndpoint(ctx context.Context, id string) (string, error) {
	return "", errTODO
}

// WaitReady waits until the service is ready.
func (s *Servers) WaitReady(ctx context.Context, id string, checks ...Check) (*Readiness, error) {
	return nil, errTODO
}

// ServiceLogs returns the last lines of the job's output.
func (s *Servers) ServiceLogs(ctx context.Context, id string, lines int) (string, error) {
	return "", errTODO
}

// InstallCAdvisor makes sure cAdvisor is installed on the cluster.
func (s *Servers) InstallCAdvisor(ctx context.Context) (string, error) { return "", errTODO }

// ReadRunFile reads a file of the service's run folder.
func (s *Servers) ReadRunFile(ctx context.Context, id, name string) ([]byte, error) {
	return nil, errTODO
}

// TCPCheck passes once port (0: the service's port) accepts a connection.
func TCPCheck(port int) Check { return Check{Name: "tcp"} }

// HTTPCheck passes once GET path answers with status (0: below 500) and a
// body containing expect.
func HTTPCheck(path string, status int, expect string) Check { return Check{Name: "http"} }

// LogCheck passes once the job's output contains text.
func LogCheck(text string) Check { return Check{Name: "log"} }

// CommandCheck passes once argv exits 0 on the service's node.
func CommandCheck(argv ...string) Check { return Check{Name: "command"} }

func randomHex() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("servers: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

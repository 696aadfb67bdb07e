package servers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"strings"
	"time"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// StartOptions adjusts one Start. The zero value starts a service as its
// recipe describes it.
type StartOptions struct {
	// Kind tags the job; "" means KindService.
	Kind Kind

	// IDPrefix replaces the recipe's name as the ID's prefix. It holds
	// letters, digits, "-", "_" and ".".
	IDPrefix string

	// Files are written into the run folder before the job is submitted,
	// such as a configuration file the command reads from
	// $HPCORCH_RUN_DIR.
	Files []File

	// Command, when set, replaces the recipe's command and arguments.
	// Its words are recipe values: $NAME, ${NAME} and a leading ~ are
	// expanded by the job's shell, so ${HPCORCH_PORT} and
	// ${HPCORCH_RUN_DIR} may be used.
	Command []string

	// Env adds to (and overrides) the recipe's environment. Values are
	// expanded like Command's words.
	Env map[string]string
}

// File is a file to write into a service's run folder.
type File struct {
	// Name is the file's path relative to the run folder, without "..".
	Name string
	// Data is its content.
	Data []byte
	// Mode is its permission bits; 0 means 0o644.
	Mode fs.FileMode
}

// record is service.json, written into the run folder at start: what a
// later process needs beyond what SLURM keeps.
type record struct {
	Version int            `json:"version"`
	ID      string         `json:"id"`
	Kind    Kind           `json:"kind"`
	Session string         `json:"session"`
	Created time.Time      `json:"created"`
	Recipe  string         `json:"recipe,omitempty"`
	Service recipe.Service `json:"service"`
}

// StartService starts r as a service: Start with KindService.
func (s *Servers) StartService(ctx context.Context, r *recipe.Recipe) (*Service, error) {
	return s.Start(ctx, r, StartOptions{Kind: KindService})
}

// Start submits r as a job of kind o.Kind and returns the service as
// submitted (pending). It validates the recipe, creates the run folder
// with service.json and o.Files, uploads cAdvisor first when the recipe
// enables it and CAdvisorSource.LocalPath is set, and submits the batch
// script. Use WaitReady to wait until the service answers.
func (s *Servers) Start(ctx context.Context, r *recipe.Recipe, o StartOptions) (*Service, error) {
	p, err := s.plan(ctx, r, o)
	if err != nil {
		return nil, err
	}
	spec, err := p.spec()
	if err != nil {
		return nil, err
	}
	if _, err := slurm.Render(spec); err != nil {
		return nil, fmt.Errorf("servers: %s: %w", p.id, err)
	}
	log := s.log.With("service", p.id, "kind", string(p.kind))

	if p.svc.EnableCAdvisor && s.opts.CAdvisor.LocalPath != "" {
		if _, err := s.InstallCAdvisor(ctx); err != nil {
			return nil, err
		}
	}

	if err := s.prepareRunDir(ctx, p, r, o.Files); err != nil {
		return nil, err
	}

	jobID, err := s.sched.Submit(ctx, spec)
	if err != nil {
		s.removeRunDir(p.runDir)
		return nil, fmt.Errorf("servers: start %s: %w", p.id, err)
	}
	log.Info("submitted", "job_id", jobID)

	err = s.exec.Put(ctx, path.Join(p.runDir, jobIDFile), strings.NewReader(jobID+"\n"), 0o644)
	if err != nil {
		log.Warn("cannot record the job id", "job_id", jobID, "err", err)
	}

	return &Service{
		ID:      p.id,
		JobID:   jobID,
		Kind:    p.kind,
		Name:    p.svc.Name,
		Session: p.session,
		State:   slurm.StatePending,
		RunDir:  p.runDir,
		Output:  spec.Output,
	}, nil
}

// DryRun returns the batch script StartService would submit for r, with a
// fresh ID, without creating or submitting anything. With a RunRoot that
// does not start with $HOME or ~, it runs no command at all.
func (s *Servers) DryRun(ctx context.Context, r *recipe.Recipe) (string, error) {
	return s.DryRunStart(ctx, r, StartOptions{Kind: KindService})
}

// DryRunStart returns the batch script Start would submit for r and o, with
// a fresh ID, without creating or submitting anything: DryRun for any kind
// of job, such as a monitor's.
func (s *Servers) DryRunStart(ctx context.Context, r *recipe.Recipe, o StartOptions,
) (string, error) {
	p, err := s.plan(ctx, r, o)
	if err != nil {
		return "", err
	}
	spec, err := p.spec()
	if err != nil {
		return "", err
	}
	out, err := slurm.Render(spec)
	if err != nil {
		return "", fmt.Errorf("servers: %s: %w", p.id, err)
	}
	return out, nil
}

// plan checks r and o and resolves everything the job script needs.
func (s *Servers) plan(ctx context.Context, r *recipe.Recipe, o StartOptions) (*plan, error) {
	if r == nil {
		return nil, errors.New("servers: nil recipe")
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("servers: invalid recipe: %w", err)
	}
	kind := o.Kind
	if kind == "" {
		kind = KindService
	}
	if !validLabel(string(kind)) {
		return nil, fmt.Errorf("servers: bad kind %q", kind)
	}
	if s.opts.Session != "" && !validLabel(s.opts.Session) {
		return nil, fmt.Errorf("servers: bad session %q: use letters, digits, -, _ and .",
			s.opts.Session)
	}
	prefix := o.IDPrefix
	if prefix == "" {
		prefix = r.Service.Name
	}
	if !validLabel(prefix) || len(prefix) > 64 {
		return nil, fmt.Errorf("servers: bad ID prefix %q", prefix)
	}
	for _, f := range o.Files {
		if !validRelPath(f.Name) {
			return nil, fmt.Errorf("servers: bad file name %q: want a relative path without ..",
				f.Name)
		}
	}

	svc := r.Service
	svc.Resources = svc.Resources.WithDefaults(s.opts.Defaults)
	env := maps.Clone(svc.Environment)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, o.Env)

	p := &plan{
		id:      prefix + "_" + s.newID(),
		kind:    kind,
		session: s.opts.Session,
		svc:     svc,
		env:     env,
	}
	switch {
	case len(o.Command) > 0:
		p.argv = o.Command
	case svc.Program() == "":
		p.runscript = true
		p.argv = svc.Args
	default:
		p.argv = append([]string{svc.Program()}, svc.Args...)
	}

	root, err := s.root(ctx)
	if err != nil {
		return nil, err
	}
	p.runRoot = root
	p.runDir = path.Join(root, p.id)

	if svc.EnableCAdvisor {
		src := s.opts.CAdvisor
		bin, err := shellWord(src.pathOrDefault())
		if err != nil {
			return nil, err
		}
		p.cadvisorBin = bin
		if src.LocalPath == "" {
			p.cadvisorURL, p.cadvisorSHA256 = src.URL, src.SHA256
			if src.URL == "" {
				p.cadvisorURL, p.cadvisorSHA256 = DefaultCAdvisorURL, DefaultCAdvisorSHA256
			}
		}
	}
	return p, nil
}

// prepareRunDir creates the run folder and writes service.json and the
// caller's files into it.
func (s *Servers) prepareRunDir(ctx context.Context, p *plan, r *recipe.Recipe,
	files []File,
) error {
	dirs := map[string]bool{p.runDir: true}
	for _, f := range files {
		dirs[path.Dir(path.Join(p.runDir, f.Name))] = true
	}
	// The run folder holds the recipe's environment (service.json) and
	// whatever secrets its files carry: new folders are the user's alone.
	mk := "umask 077 && mkdir -p"
	for d := range dirs {
		mk += " " + sshx.Quote(d)
	}
	mk += " && chmod 700 " + sshx.Quote(p.runDir)
	if _, _, err := s.exec.Run(ctx, mk, nil); err != nil {
		return fmt.Errorf("servers: create run folder %s: %w", p.runDir, err)
	}

	rec := record{
		Version: 1, ID: p.id, Kind: p.kind, Session: p.session,
		Created: time.Now().UTC(), Recipe: r.File(), Service: p.svc,
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("servers: %s: %w", p.id, err)
	}
	files = append([]File{{Name: serviceFile, Data: append(data, '\n'), Mode: 0o600}}, files...)
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		dst := path.Join(p.runDir, f.Name)
		if err := s.exec.Put(ctx, dst, bytes.NewReader(f.Data), mode); err != nil {
			s.removeRunDir(p.runDir)
			return fmt.Errorf("servers: write %s: %w", dst, err)
		}
	}
	return nil
}

// removeRunDir removes a run folder after a failed start, best effort.
func (s *Servers) removeRunDir(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := s.exec.Run(ctx, "rm -rf "+sshx.Quote(dir), nil); err != nil {
		s.log.Warn("cannot remove run folder", "dir", dir, "err", err)
	}
}

// root returns the absolute run root on the cluster, resolving $HOME or ~
// there once.
func (s *Servers) root(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runRoot != "" {
		return s.runRoot, nil
	}

	root := s.opts.RunRoot
	if root == "" {
		root = DefaultRunRoot
	}
	var rest string
	switch {
	case root == "~" || root == "$HOME" || root == "${HOME}":
	case strings.HasPrefix(root, "~/"):
		rest = root[2:]
	case strings.HasPrefix(root, "$HOME/"):
		rest = root[6:]
	case strings.HasPrefix(root, "${HOME}/"):
		rest = root[8:]
	case strings.HasPrefix(root, "/"):
		s.runRoot = path.Clean(root)
		return s.runRoot, nil
	default:
		rest = root
	}
	if strings.ContainsAny(rest, "$`") {
		return "", fmt.Errorf("servers: run root %q: only a leading $HOME or ~ is expanded", root)
	}

	home, err := s.home(ctx)
	if err != nil {
		return "", err
	}
	s.runRoot = path.Join(home, rest)
	return s.runRoot, nil
}

// home returns the cluster user's home folder. Call with s.mu held.
func (s *Servers) home(ctx context.Context) (string, error) {
	if s.homeDir != "" {
		return s.homeDir, nil
	}
	out, _, err := s.exec.Run(ctx, `printf '%s\n' "$HOME"`, nil)
	if err != nil {
		return "", fmt.Errorf("servers: find the cluster home folder: %w", err)
	}
	h := strings.TrimSpace(string(out))
	if !strings.HasPrefix(h, "/") {
		return "", fmt.Errorf("servers: cluster home folder %q is not an absolute path", h)
	}
	s.homeDir = h
	return h, nil
}

// validLabel reports whether s is a non-empty run of letters, digits,
// "-", "_" and ".".
func validLabel(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		ok := c == '-' || c == '_' || c == '.' || c >= 'a' && c <= 'z' ||
			c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// validRelPath reports whether name is a clean relative path that stays
// inside its folder.
func validRelPath(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
		return false
	}
	clean := path.Clean(name)
	return clean == name && clean != "." && clean != ".." && !strings.HasPrefix(clean, "../")
}

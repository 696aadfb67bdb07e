package servers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"

	"github.com/hpcorch/hpcorch/sshx"
)

// ServiceLogs returns the last lines of the job's output (the service's
// standard output and error, and hpcorch's own "hpcorch:" lines); lines
// <= 0 returns all of it. A job that has not started yet has no output:
// that gives "" and no error. An ID or job id that names no service is
// an error wrapping ErrNotFound, and, with Options.Session set, another
// session's service a *SessionError: this costs one scheduler round.
func (s *Servers) ServiceLogs(ctx context.Context, id string, lines int) (string, error) {
	svc, _, err := s.lookup(ctx, id)
	if err != nil {
		return "", err
	}
	dir := svc.RunDir
	f := sshx.Quote(path.Join(dir, outputFile))
	cmd := "if [ -f " + f + " ]; then cat " + f + "; fi"
	if lines > 0 {
		cmd = "if [ -f " + f + " ]; then tail -n " + strconv.Itoa(lines) + " " + f + "; fi"
	}
	out, _, err := s.exec.Run(ctx, cmd, nil)
	if err != nil {
		return "", fmt.Errorf("servers: logs of %s: %w", id, err)
	}
	return string(out), nil
}

// ReadRunFile reads the file name (a relative path) from the service's
// run folder, such as "status.env" or a file given in StartOptions.Files.
// A missing file gives an error wrapping fs.ErrNotExist.
func (s *Servers) ReadRunFile(ctx context.Context, id, name string) ([]byte, error) {
	if !validRelPath(name) {
		return nil, fmt.Errorf("servers: bad file name %q: want a relative path without ..", name)
	}
	dir, err := s.runDir(ctx, id)
	if err != nil {
		return nil, err
	}
	p := path.Join(dir, name)
	q := sshx.Quote(p)
	out, _, err := s.exec.Run(ctx, "if [ -f "+q+" ]; then cat "+q+"; else exit 3; fi", nil)
	if xe := (*sshx.ExitError)(nil); errors.As(err, &xe) && xe.Code == 3 {
		return nil, fmt.Errorf("servers: read %s: %w", p, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("servers: read %s: %w", p, err)
	}
	return out, nil
}

// runDir returns the run folder of an ID (no scheduler round) or of a job
// id (one).
func (s *Servers) runDir(ctx context.Context, id string) (string, error) {
	if isJobID(id) {
		svc, _, err := s.lookup(ctx, id)
		if err != nil {
			return "", err
		}
		return svc.RunDir, nil
	}
	if !validLabel(id) {
		return "", fmt.Errorf("%w: %q is neither a service ID nor a job id", ErrNotFound, id)
	}
	root, err := s.root(ctx)
	if err != nil {
		return "", err
	}
	return path.Join(root, id), nil
}

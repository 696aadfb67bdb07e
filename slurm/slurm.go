package slurm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hpcorch/hpcorch/sshx"
)

// Options configures a Slurm scheduler. The zero value is ready to use.
type Options struct {
	// User is whose jobs List reports and whose jobs Submit looks up
	// before a retry. "" means the login user (squeue --me).
	User string

	// Retries is how many times Submit and Cancel run sbatch or scancel
	// again after a transient failure. 0 means 4; a negative value means
	// no retries.
	Retries int

	// Backoff is the wait before the first retry; it doubles after each
	// one, up to MaxBackoff. 0 means 2s and 30s.
	Backoff    time.Duration
	MaxBackoff time.Duration

	// Location is the time zone the cluster prints times in. nil means
	// time.Local.
	Location *time.Location

	// Logger receives one record per retry and per recovered submit.
	// nil discards them.
	Logger *slog.Logger
}

// Slurm is a Scheduler that runs SLURM's commands (sbatch, squeue, sacct,
// scancel, scontrol) through an sshx.Executor: on a login node over SSH,
// or on this machine. It holds no state of its own, so any number of
// Slurm values, in any number of processes, see the same jobs. It is safe
// for concurrent use.
type Slurm struct {
	exec sshx.Executor
	opts Options
	log  *slog.Logger
}

var (
	_ Scheduler     = (*Slurm)(nil)
	_ OutputLocator = (*Slurm)(nil)
)

// New returns a Slurm scheduler that runs commands through exec. opts is
// copied; its zero fields take the documented defaults.
func New(exec sshx.Executor, opts Options) *Slurm {
	switch {
	case opts.Retries == 0:
		opts.Retries = 4
	case opts.Retries < 0:
		opts.Retries = 0
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.MaxBackoff < opts.Backoff {
		opts.MaxBackoff = opts.Backoff
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Slurm{exec: exec, opts: opts, log: log}
}

// Submit renders spec and submits it with `sbatch --parsable`, the script
// on standard input. A spec without a Name gets a unique one
// ("hpcorch-" and 16 hex digits).
//
// A transient failure (the controller did not answer, the connection
// dropped, sbatch printed no id) is retried with backoff, but before each
// retry Submit looks for a job of the same name (and comment) with
// squeue; if one exists, that job is the submission and its id is
// returned. Names must therefore be unique per submission: a new job
// named like an older one still known to squeue would be taken for it.
// If the lookup itself keeps failing, Submit gives up without submitting
// again and returns an error wrapping ErrTransient.
//
// A permanent rejection is a *SubmitError and is never retried.
func (s *Slurm) Submit(ctx context.Context, spec JobSpec) (string, error) {
	if spec.Name == "" {
		spec.Name = UniqueName("hpcorch")
	}
	script, err := Render(spec)
	if err != nil {
		return "", err
	}

	log := s.log.With("job_name", spec.Name)
	backoff := s.opts.Backoff
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			log.Info("slurm: retrying submit", "attempt", attempt, "err", lastErr)
			if err := sleepCtx(ctx, backoff); err != nil {
				return "", fmt.Errorf("slurm: submit %s: %w (after %w)", spec.Name, err, lastErr)
			}
			backoff = min(2*backoff, s.opts.MaxBackoff)

			id, found, err := s.lookup(ctx, spec.Name, spec.Comment)
			switch {
			case err != nil && retryable(err) && attempt < s.opts.Retries:
				lastErr = err
				continue
			case err != nil:
				return "", fmt.Errorf("slurm: submit %s: job may have been submitted; "+
					"lookup by name failed: %w", spec.Name, err)
			case found:
				log.Info("slurm: found job submitted by an earlier attempt", "job_id", id)
				return id, nil
			}
		}

		sub, err := s.sbatch(ctx, script)
		if err == nil {
			for _, w := range sub.Warnings {
				log.Debug("slurm: sbatch warning", "job_id", sub.JobID, "warning", w)
			}
			return sub.JobID, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("slurm: submit %s: %w (after %w)", spec.Name, ctx.Err(), err)
		}
		if !retryable(err) || attempt >= s.opts.Retries {
			return "", err
		}
		lastErr = err
	}
}

// retryable reports whether a submit attempt may have failed for a
// passing reason: a transient error, a transport failure, or output with
// no job id. Each is followed by a lookup before any new attempt.
func retryable(err error) bool {
	var se *SubmitError
	var spec *SpecError
	switch {
	case errors.As(err, &se), errors.As(err, &spec):
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}

// sbatch runs one submission.
func (s *Slurm) sbatch(ctx context.Context, script string) (Submission, error) {
	out, errOut, err := s.exec.Run(ctx, "sbatch --parsable", strings.NewReader(script))
	var ee *sshx.ExitError
	switch {
	case errors.As(err, &ee):
		return Submission{}, ClassifySubmitError(errOut, ee.Code)
	case err != nil:
		return Submission{}, fmt.Errorf("slurm: sbatch: %w", err)
	}
	return ParseSubmission(out, errOut)
}

// lookup finds the newest job of the user with exactly this name and, if
// comment is set, this comment.
func (s *Slurm) lookup(ctx context.Context, name, comment string) (string, bool, error) {
	cmd := "squeue -h -t all " + s.userFlag() + " -n " + sshx.Quote(name) +
		" -o " + sshx.Quote(squeueFields)
	jobs, err := s.squeue(ctx, cmd)
	if err != nil {
		return "", false, err
	}

	best, bestN := "", uint64(0)
	for _, j := range jobs {
		if j.Name != name || (comment != "" && j.Comment != comment) {
			continue
		}
		ref, err := ParseJobID(j.ID)
		if err == nil && ref.JobID >= bestN {
			best, bestN = strconv.FormatUint(ref.JobID, 10), ref.JobID
		}
	}
	return best, best != "", nil
}

func (s *Slurm) userFlag() string {
	if s.opts.User == "" {
		return "--me"
	}
	return "-u " + sshx.Quote(s.opts.User)
}

// squeue runs an squeue command and parses its rows. An "Invalid job id
// specified" answer is no rows.
func (s *Slurm) squeue(ctx context.Context, cmd string) ([]Job, error) {
	out, errOut, err := s.exec.Run(ctx, cmd, nil)
	var ee *sshx.ExitError
	switch {
	case errors.As(err, &ee):
		switch classifySqueue(errOut) {
		case squeueNoSuchJob:
			return nil, nil
		case squeueBadID:
			return nil, fmt.Errorf("slurm: squeue: %s: %w", firstLine(errOut), ErrBadJobID)
		case squeueTransient:
			return nil, &transientError{
				msg: "slurm: squeue: " + firstLine(errOut), kind: ErrTransient, err: err,
			}
		}
		return nil, fmt.Errorf("slurm: squeue: %w", err)
	case err != nil:
		return nil, fmt.Errorf("slurm: squeue: %w", err)
	}
	return ParseSqueue(out, s.opts.Location)
}

// Status reports the jobs in ids with one squeue (-t all, so recently
// finished jobs are included) and, for ids squeue does not know, one
// sacct (BC-07). Every id is a key of the result; Found is false for a
// job neither knows. An id that is not a job id is an error wrapping
// ErrBadJobID, and nothing is run.
//
// When squeue fails, Status returns a nil map and the error (wrapping
// ErrTransient when worth retrying). When only sacct fails because the
// accounting database is unreachable, Status returns what squeue knew
// together with an error wrapping ErrAccountingUnavailable; the ids
// left out of the map are undecided, not gone. When accounting is
// disabled on the cluster, jobs squeue has forgotten are reported with
// Found == false.
func (s *Slurm) Status(ctx context.Context, ids []string) (map[string]Job, error) {
	ids, err := cleanIDs(ids)
	if err != nil {
		return nil, err
	}
	res := make(map[string]Job, len(ids))
	if len(ids) == 0 {
		return res, nil
	}

	cmd := "squeue -h -t all -j " + strings.Join(ids, ",") + " -o " + sshx.Quote(squeueFields)
	jobs, err := s.squeue(ctx, cmd)
	if err != nil {
		return nil, err
	}
	missing := assign(res, ids, jobs, nil)
	// squeue prints no exit code: sacct has those of the jobs squeue
	// reports ended (FAILED, NonZeroExitCode...), asked in the same round.
	var ended []string
	for _, id := range ids {
		if j, ok := res[id]; ok && j.State.Terminal() {
			ended = append(ended, id)
		}
	}
	if len(missing) == 0 && len(ended) == 0 {
		return res, nil
	}

	jobs, raw, err := s.sacct(ctx, append(append([]string(nil), missing...), ended...))
	switch {
	case errors.Is(err, ErrAccountingUnavailable) && !IsTransient(err):
		// Accounting is disabled: nothing more can be known.
	case err != nil && len(missing) == 0:
		// Only exit codes were asked for: squeue's answer stands.
		return res, nil
	case err != nil:
		return res, err
	default:
		codes := map[string]Job{}
		assign(codes, ended, jobs, raw)
		for id, c := range codes {
			j := res[id]
			j.ExitCode = c.ExitCode
			res[id] = j
		}
		missing = assign(res, missing, jobs, raw)
	}
	for _, id := range missing {
		res[id] = Job{ID: id, CancelledBy: -1}
	}
	return res, nil
}

// sacct asks the accounting database about ids.
func (s *Slurm) sacct(ctx context.Context, ids []string) ([]Job, map[string]string, error) {
	cmd := "sacct -X -P -n -j " + strings.Join(ids, ",") + " -o " + sacctFields
	out, errOut, err := s.exec.Run(ctx, cmd, nil)
	if err != nil {
		var ee *sshx.ExitError
		if errors.As(err, &ee) {
			return nil, nil, classifySacct(errOut, err)
		}
		return nil, nil, fmt.Errorf("slurm: sacct: %w", err)
	}
	jobs, err := ParseSacct(out, s.opts.Location)
	return jobs, sacctRawIDs(out), err
}

// assign puts the jobs that answer ids into res and returns the ids no job
// answered. A job answers an id when its id, its raw id (sacct) or its
// array's job id equals it; the first job wins.
func assign(res map[string]Job, ids []string, jobs []Job, raw map[string]string) []string {
	byID := map[string]Job{}
	for _, j := range jobs {
		keys := []string{j.ID}
		if r := raw[j.ID]; r != "" {
			keys = append(keys, r)
		}
		if ref, err := ParseJobID(j.ID); err == nil && ref.Array {
			keys = append(keys, strconv.FormatUint(ref.JobID, 10))
		}
		for _, k := range keys {
			if _, dup := byID[k]; !dup {
				byID[k] = j
			}
		}
	}

	var missing []string
	for _, id := range ids {
		j, ok := byID[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		j.ID = id
		res[id] = j
	}
	return missing
}

// cleanIDs validates ids and removes duplicates, keeping the order.
func cleanIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !validJobID(id) {
			return nil, fmt.Errorf("slurm: job id %q: %w", id, ErrBadJobID)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// List reports the user's jobs that squeue knows, finished ones included
// (for the cluster's MinJobAge), with one squeue.
func (s *Slurm) List(ctx context.Context) ([]Job, error) {
	return s.squeue(ctx, "squeue -h -t all "+s.userFlag()+" -o "+sshx.Quote(squeueFields))
}

// Cancel cancels a job with scancel. Cancelling a job that has finished,
// is completing or is unknown is not an error (BC-16). Transient failures
// are retried as in Submit.
func (s *Slurm) Cancel(ctx context.Context, id string) error {
	if !validJobID(id) {
		return fmt.Errorf("slurm: cancel %q: %w", id, ErrBadJobID)
	}
	backoff := s.opts.Backoff
	for attempt := 0; ; attempt++ {
		_, errOut, err := s.exec.Run(ctx, "scancel "+id, nil)
		if err == nil {
			return nil
		}
		err = classifyCancel(id, errOut, err)
		if err == nil || !IsTransient(err) || attempt >= s.opts.Retries {
			return err
		}
		s.log.Info("slurm: retrying cancel", "job_id", id, "attempt", attempt+1, "err", err)
		if serr := sleepCtx(ctx, backoff); serr != nil {
			return fmt.Errorf("slurm: cancel %s: %w (after %w)", id, serr, err)
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// classifyCancel maps a failed scancel to nil (the job is finished or
// unknown), a transient error, or a failure.
func classifyCancel(id string, stderr []byte, err error) error {
	var ee *sshx.ExitError
	if !errors.As(err, &ee) {
		return &transientError{msg: "slurm: scancel " + id + ": " + err.Error(),
			kind: ErrTransient, err: err}
	}
	low := strings.ToLower(string(stderr))
	switch {
	case strings.Contains(low, "already completing or completed"),
		strings.Contains(low, "invalid job id specified"):
		return nil
	case isTransientText(string(stderr)):
		return &transientError{msg: "slurm: scancel " + id + ": " + firstLine(stderr),
			kind: ErrTransient, err: err}
	}
	return fmt.Errorf("slurm: scancel %s: %w", id, err)
}

// OutputPath returns the path of the job's output file as the cluster
// sees it, from `scontrol show job -o`. It works while the controller
// knows the job (until MinJobAge after it ends); after that it returns an
// error wrapping ErrJobNotFound.
func (s *Slurm) OutputPath(ctx context.Context, id string) (string, error) {
	if !validJobID(id) {
		return "", fmt.Errorf("slurm: output path %q: %w", id, ErrBadJobID)
	}
	out, errOut, err := s.exec.Run(ctx, "scontrol show job -o "+id, nil)
	if err != nil {
		if strings.Contains(strings.ToLower(string(errOut)), "invalid job id specified") {
			return "", fmt.Errorf("slurm: output path of %s: %w", id, ErrJobNotFound)
		}
		return "", fmt.Errorf("slurm: scontrol show job %s: %w", id, err)
	}
	kv := ParseScontrol(firstLine(out))
	p := kv["StdOut"]
	if p == "" {
		return "", fmt.Errorf("slurm: output path of %s: no StdOut in scontrol output", id)
	}
	return p, nil
}

// UniqueName returns prefix, a dash and 16 random hex digits: a job name
// no other submission will have.
func UniqueName(prefix string) string {
	var b [8]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		panic("slurm: crypto/rand failed: " + err.Error())
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ParseScontrol parses one line of `scontrol -o show job` into its
// Key=Value pairs. Values may hold spaces (Comment=a b); a value runs up
// to the next " Key=" with a key of letters, digits and ":/_".
func ParseScontrol(line string) map[string]string {
	m := map[string]string{}
	fields := strings.Fields(line)
	key := ""
	var val []string
	flush := func() {
		if key != "" {
			m[key] = strings.Join(val, " ")
		}
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if ok && isScontrolKey(k) {
			flush()
			key, val = k, []string{v}
			continue
		}
		if key != "" {
			val = append(val, f)
		}
	}
	flush()
	return m
}

func isScontrolKey(k string) bool {
	if k == "" || !(k[0] >= 'A' && k[0] <= 'Z') {
		return false
	}
	return !slices.ContainsFunc([]rune(k), func(c rune) bool {
		return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == ':' || c == '/' || c == '_')
	})
}

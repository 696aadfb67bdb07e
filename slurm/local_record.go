package slurm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// localRecordVersion is the version of the job record format in a Local
// scheduler's state folder. Readers refuse other versions.
const localRecordVersion = 1

// localRecord is what a Local scheduler keeps on disk for one job, in
// <StateDir>/jobs/<id>/job.json. Every change of state is written there
// before it is reported, so another process with the same StateDir sees
// the same jobs.
type localRecord struct {
	Version     int       `json:"version"`
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Comment     string    `json:"comment,omitempty"`
	Partition   string    `json:"partition"`
	State       State     `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	ExitCode    string    `json:"exit_code"`
	CancelledBy int       `json:"cancelled_by"`
	TimeLimit   int64     `json:"time_limit_s,omitempty"` // seconds; 0: none
	Submit      time.Time `json:"submit"`
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	Output      string    `json:"output"`
	WorkDir     string    `json:"workdir"`
	Host        string    `json:"host"`
	PID         int       `json:"pid,omitempty"`       // the job's process group leader
	PIDStart    uint64    `json:"pid_start,omitempty"` // its start time in clock ticks
	OwnerPID    int       `json:"owner_pid"`           // the process of the Local that runs it
	OwnerStart  uint64    `json:"owner_start,omitempty"`
}

// job converts r to a Job as of now.
func (r *localRecord) job(now time.Time) Job {
	ec, _ := ParseExitCode(r.ExitCode)
	j := Job{
		ID:          r.ID,
		Name:        r.Name,
		Comment:     r.Comment,
		Partition:   r.Partition,
		State:       r.State,
		RawState:    r.State.String(),
		Reason:      cleanReason(r.Reason),
		ExitCode:    ec,
		CancelledBy: r.CancelledBy,
		StartTime:   r.Start,
		Found:       true,
	}
	if r.TimeLimit > 0 {
		j.TimeLimit = Limit(time.Duration(r.TimeLimit) * time.Second)
	} else {
		j.TimeLimit = Walltime{Set: true, Unlimited: true}
	}
	if !r.Start.IsZero() {
		j.Nodes = []string{r.Host}
		end := r.End
		if end.IsZero() {
			end = now
		}
		j.Elapsed = end.Sub(r.Start).Truncate(time.Second)
	}
	return j
}

// localStore reads and writes job records under one folder.
type localStore struct {
	dir string // <StateDir>/jobs
}

func (s localStore) jobDir(id string) string { return filepath.Join(s.dir, id) }

func (s localStore) path(id, name string) string { return filepath.Join(s.dir, id, name) }

// allocate creates the folder of a new job and returns its id. Ids are
// decimal, increasing, and unique among all processes sharing the folder:
// the folder's creation is the claim.
func (s localStore) allocate() (string, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return "", fmt.Errorf("slurm: local state: %w", err)
	}
	ids, err := s.ids()
	if err != nil {
		return "", err
	}
	next := uint64(1)
	if len(ids) > 0 {
		last, _ := strconv.ParseUint(ids[len(ids)-1], 10, 64)
		next = last + 1
	}
	for range 1000 {
		id := strconv.FormatUint(next, 10)
		err := os.Mkdir(s.jobDir(id), 0o700)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("slurm: local state: %w", err)
		}
		next++
	}
	return "", fmt.Errorf("slurm: local state: could not allocate a job id in %s", s.dir)
}

// ids lists the job ids in numeric order.
func (s localStore) ids() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("slurm: local state: %w", err)
	}
	var nums []uint64
	for _, e := range ents {
		if n, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && e.IsDir() {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = strconv.FormatUint(n, 10)
	}
	return out, nil
}

// read loads a job's record. A job with no record is fs.ErrNotExist.
func (s localStore) read(id string) (*localRecord, error) {
	b, err := os.ReadFile(s.path(id, "job.json"))
	if err != nil {
		return nil, err
	}
	var r localRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("slurm: local job %s: %w", id, err)
	}
	if r.Version != localRecordVersion {
		return nil, fmt.Errorf("slurm: local job %s: record version %d, want %d",
			id, r.Version, localRecordVersion)
	}
	return &r, nil
}

// write replaces a job's record atomically.
func (s localStore) write(r *localRecord) error {
	r.Version = localRecordVersion
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("slurm: local job %s: %w", r.ID, err)
	}
	tmp := s.path(r.ID, "job.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("slurm: local job %s: %w", r.ID, err)
	}
	if err := os.Rename(tmp, s.path(r.ID, "job.json")); err != nil {
		return fmt.Errorf("slurm: local job %s: %w", r.ID, err)
	}
	return nil
}

// cancelMark records that a job was asked to stop, by uid, for the
// process that owns it to read when the job ends.
func (s localStore) markCancel(id string, uid int) error {
	return os.WriteFile(s.path(id, "cancel"), []byte(strconv.Itoa(uid)+"\n"), 0o600)
}

// cancelledBy returns the uid of a cancel mark, or -1 and false.
func (s localStore) cancelledBy(id string) (int, bool) {
	b, err := os.ReadFile(s.path(id, "cancel"))
	if err != nil {
		return -1, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, true
	}
	return n, true
}

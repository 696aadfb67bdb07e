package monitors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/sshx"
)

// AddTarget makes a monitor scrape one more target, without restarting
// Prometheus: it rewrites a targets file in the monitor's run folder, which
// Prometheus re-reads. A target whose job name is one of the monitor's jobs
// joins that job; another is scraped by the job hpcorch-added under its own
// job label. The target is resolved as StartMonitor resolves the recipe's:
// a service_id to its node and reported cAdvisor port.
//
// Adding an address the job already scrapes is ErrTargetExists. Changes
// from one process are serialised; two processes changing one monitor at
// once may lose one change.
func (m *Monitors) AddTarget(ctx context.Context, id string, t recipe.Target) error {
	svc, err := m.service(ctx, id)
	if err != nil {
		return err
	}
	st, err := m.resolve(ctx, t)
	if err != nil {
		return err
	}

	mu := m.editLock(svc.ID)
	mu.Lock()
	defer mu.Unlock()

	rec, err := m.record(ctx, svc.ID)
	if err != nil {
		return err
	}
	j := rec.job(st.Job)
	if j == nil {
		rec.Jobs = append(rec.Jobs, scrapeJob{
			Name: st.Job, File: rec.targetsFile(st.Job, true), Added: true,
		})
		j = &rec.Jobs[len(rec.Jobs)-1]
	}
	for _, have := range j.Targets {
		if have.address() == st.address() {
			return fmt.Errorf("%w: %s scrapes %s in job %s", ErrTargetExists, svc.ID,
				st.address(), j.Name)
		}
	}
	j.Targets = append(j.Targets, st)

	if err := m.writeTargets(ctx, svc.RunDir, rec, *j); err != nil {
		return err
	}
	m.log.Info("target added", "monitor", svc.ID, "job", st.Job, "target", st.address(),
		"service", st.ServiceID)
	return nil
}

// RemoveTarget stops a monitor scraping the targets that match target: a
// service ID, a job name, a host, or a host:port. Prometheus drops them at
// its next read of the targets files, without a restart. A target that
// matches nothing is ErrTargetNotFound.
func (m *Monitors) RemoveTarget(ctx context.Context, id, target string) error {
	svc, err := m.service(ctx, id)
	if err != nil {
		return err
	}

	mu := m.editLock(svc.ID)
	mu.Lock()
	defer mu.Unlock()

	rec, err := m.record(ctx, svc.ID)
	if err != nil {
		return err
	}

	var changed []int
	for i := range rec.Jobs {
		j := &rec.Jobs[i]
		kept := j.Targets[:0:0]
		for _, t := range j.Targets {
			if !matches(t, target) {
				kept = append(kept, t)
			}
		}
		if len(kept) != len(j.Targets) {
			j.Targets = kept
			changed = append(changed, i)
		}
	}
	if len(changed) == 0 {
		return fmt.Errorf("%w: %s scrapes nothing that matches %q",
			ErrTargetNotFound, svc.ID, target)
	}

	for _, i := range changed {
		if err := m.writeTargets(ctx, svc.RunDir, rec, rec.Jobs[i]); err != nil {
			return err
		}
	}
	m.log.Info("target removed", "monitor", svc.ID, "target", target)
	return nil
}

// matches reports whether t is what s names: its service ID, job name,
// host or host:port.
func matches(t scrapeTarget, s string) bool {
	return s != "" && (s == t.ServiceID || s == t.Job || s == t.Host || s == t.address())
}

// writeTargets writes the targets file of j, then the record, each
// replaced whole so that Prometheus never reads half a file.
func (m *Monitors) writeTargets(ctx context.Context, dir string, rec *record, j scrapeJob) error {
	data, err := targetsJSON(j)
	if err != nil {
		return err
	}
	if err := m.putFile(ctx, dir, j.File, data); err != nil {
		return err
	}

	recData, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("monitors: encode %s: %w", recordFile, err)
	}
	return m.putFile(ctx, dir, recordFile, append(recData, '\n'))
}

// putFile writes name in dir on the cluster through a temporary file
// renamed into place. The temporary name does not end in .json, so
// Prometheus' file discovery never reads it.
func (m *Monitors) putFile(ctx context.Context, dir, name string, data []byte) error {
	exec := m.b.Executor()
	dst := path.Join(dir, name)
	tmp := path.Join(dir, "."+name+".tmp")
	if err := exec.Put(ctx, tmp, bytes.NewReader(data), 0o644); err != nil {
		return fmt.Errorf("monitors: write %s: %w", dst, err)
	}
	if _, _, err := exec.Run(ctx, "mv -f "+sshx.QuoteAll(tmp, dst), nil); err != nil {
		return fmt.Errorf("monitors: write %s: %w", dst, err)
	}
	return nil
}

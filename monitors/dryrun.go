package monitors

import (
	"context"
	"errors"
	"fmt"

	"github.com/hpcorch/hpcorch/recipe"
)

// DryRunOutput is what StartMonitor would write and submit for a recipe.
type DryRunOutput struct {
	// Script is the batch script, with a fresh ID.
	Script string
	// Files maps the name of each generated file of the run folder
	// (prometheus.yml and the targets files) to its content. The password
	// and web.yml, generated afresh at each start, are left out.
	Files map[string]string
	// Notes say what could not be resolved yet, such as a target service
	// still pending.
	Notes []string
}

// DryRun renders what StartMonitor would for the monitor recipe r (the
// batch script, prometheus.yml and the targets files) without creating or
// submitting anything. Target services are resolved as StartMonitor
// resolves them; one that is known but not running yet is shown with its
// ID as host and noted, and one nobody knows is an error wrapping
// servers.ErrNotFound.
func (m *Monitors) DryRun(ctx context.Context, r *recipe.Recipe) (*DryRunOutput, error) {
	if r == nil {
		return nil, errors.New("monitors: nil recipe")
	}
	if !r.Service.IsMonitor() {
		return nil, fmt.Errorf("monitors: recipe %s (service %q) is not a monitor",
			r.File(), r.Service.Name)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("monitors: invalid recipe: %w", err)
	}

	rec, err := newRecord(&r.Service)
	if err != nil {
		return nil, err
	}
	notes, err := m.resolveTargets(ctx, rec, r.Service.MonitoringTargets, true)
	if err != nil {
		return nil, err
	}
	mr, opts, err := startPlan(r, rec)
	if err != nil {
		return nil, err
	}
	script, err := m.b.DryRunStart(ctx, mr, opts)
	if err != nil {
		return nil, fmt.Errorf("monitors: dry run: %w", err)
	}

	out := &DryRunOutput{Script: script, Files: map[string]string{}, Notes: notes}
	for _, f := range opts.Files {
		if f.Name == passwordFile || f.Name == webConfigFile {
			continue
		}
		out.Files[f.Name] = string(f.Data)
	}
	return out, nil
}

package orchestrator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/recipes"
)

// LoadRecipe loads a service recipe: the file at path when one exists,
// else the recipe of that name in the built-in catalog (package
// github.com/hpcorch/hpcorch/recipes), so "redis", "redis_with_cadvisor"
// and the reference's "recipes/services/redis_with_cadvisor.yaml" work
// without a copy of the repository. The cluster config's slurm
// defaults fill the resources the recipe leaves empty.
func (o *Orchestrator) LoadRecipe(path string) (*recipe.Recipe, error) {
	r, err := LoadRecipe(path)
	if err != nil {
		return nil, err
	}
	o.cluster.Apply(&r.Service)
	return r, nil
}

// LoadRecipe is Orchestrator.LoadRecipe without a cluster config: the file
// at path, else the catalog recipe of that name, unchanged.
func LoadRecipe(path string) (*recipe.Recipe, error) {
	if path == "" {
		return nil, errors.New("orchestrator: no recipe given")
	}
	_, statErr := os.Stat(path)
	name, isName := catalogName(path)
	if statErr == nil || !errors.Is(statErr, fs.ErrNotExist) || !isName {
		return recipe.Load(path)
	}

	r, err := recipes.Load(name)
	if errors.Is(err, fs.ErrNotExist) {
		hint := ""
		if m := recipe.Suggest(strings.TrimSuffix(name, ".yaml"), recipes.List()); m != "" {
			hint = fmt.Sprintf("; did you mean %q?", m)
		}
		return nil, fmt.Errorf("orchestrator: recipe %q: no such file, and no catalog "+
			"recipe of that name%s (see hpcorch --list-recipes)", path, hint)
	}
	return r, err
}

// catalogName returns the catalog name s stands for: a plain name, with or
// without ".yaml", or the catalog's own path recipes/services/NAME.yaml.
func catalogName(s string) (string, bool) {
	s = strings.TrimPrefix(filepath.ToSlash(s), "./")
	if rest, ok := strings.CutPrefix(s, "recipes/services/"); ok {
		s = rest
	}
	if s == "" || strings.Contains(s, "/") {
		return "", false
	}
	return s, true
}

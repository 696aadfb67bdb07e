package recipes

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/hpcorch/hpcorch/recipe"
)

// FS holds the catalog: one file per recipe, services/<name>.yaml.
//
//go:embed services/*.yaml
var FS embed.FS

// List returns the names of the catalog's recipes, without ".yaml", in
// sorted order.
func List() []string {
	entries, err := fs.ReadDir(FS, "services")
	if err != nil {
		panic("recipes: embedded catalog unreadable: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Load decodes and validates the catalog recipe called name, with or
// without ".yaml". Errors name the file as recipes/services/<name>.yaml. A
// name not in the catalog gives an error wrapping fs.ErrNotExist, which
// suggests the name probably meant (recipe.Suggest).
func Load(name string) (*recipe.Recipe, error) {
	name = strings.TrimSuffix(name, ".yaml")
	if name == "" || strings.ContainsAny(name, "/\\") || !slices.Contains(List(), name) {
		if m := recipe.Suggest(name, List()); m != "" {
			return nil, fmt.Errorf("recipes: no recipe %q in the catalog; did you mean %q? "+
				"%w", name, m, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("recipes: no recipe %q in the catalog (it has %s): %w",
			name, strings.Join(List(), ", "), fs.ErrNotExist)
	}

	file := path.Join("services", name+".yaml")
	f, err := FS.Open(file)
	if err != nil {
		return nil, fmt.Errorf("recipes: %w", err)
	}
	defer f.Close()
	return recipe.Decode(f, "recipes/"+file)
}

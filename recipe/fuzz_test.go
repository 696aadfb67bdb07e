package recipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecode checks that Decode never panics, that every error it returns
// is made of *FieldError values, and that a recipe it accepts validates.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/reference/*.yaml")
	catalog, _ := filepath.Glob("../recipes/services/*.yaml")
	for _, p := range append(files, catalog...) {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(string(b))
	}
	f.Add("service:\n  name: x\n  resources: {time: 1:30, mem: 1.5G}\n  ports: [08080]\n")
	f.Add("x-a: &a {time: '1'}\nservice:\n  name: x\n  resources: {<<: *a}\n")
	f.Add("service: {name: x, args: [%x]}\n")

	f.Fuzz(func(t *testing.T, doc string) {
		r, err := Decode(strings.NewReader(doc), "f.yaml")
		if err != nil {
			require.Nil(t, r)
			fes := FieldErrors(err)
			require.NotEmpty(t, fes, "error without FieldError: %v", err)
			require.Equal(t, len(fes), strings.Count(err.Error(), "recipe: "),
				"every line is a FieldError: %v", err)
			return
		}
		require.NoError(t, r.Validate())
	})
}

// FuzzWalltime checks that Duration never panics and gives a positive
// duration or an error.
func FuzzWalltime(f *testing.F) {
	for _, s := range []string{"10", "4:00", "1:00:00", "2-12", "1-02:03:04", "", "x",
		"999999999-23:59:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Walltime(s).Duration()
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		if strings.TrimSpace(s) != "" {
			require.Positive(t, d)
		}
	})
}

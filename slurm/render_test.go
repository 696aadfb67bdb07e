package slurm

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/<name>, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run `go test ./slurm -run %s -update` to create it", t.Name())
	require.Equal(t, string(want), got)
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		spec JobSpec
	}{
		{"minimal", JobSpec{Script: "hostname"}},
		{"no-partition", JobSpec{Name: "svc", Script: "echo hi\n"}}, // BC-05: no --partition line
		{"full", JobSpec{
			Name:          "hpcorch-web-1",
			Comment:       "hpcorch:v1 service=web",
			Script:        "exec python3 -m http.server \"$PORT\"\n",
			Partition:     "debug",
			Account:       "proj1",
			QOS:           "normal",
			Time:          150 * time.Minute,
			Nodes:         1,
			NTasks:        1,
			NTasksPerNode: 1,
			CPUsPerTask:   2,
			Mem:           "100M",
			Gres:          "gpu:1",
			NodeList:      "node[1-2]",
			Output:        "/home/hpcuser/logs/%x-%j.out",
			WorkDir:       "/home/hpcuser/run dir",
			Env: map[string]string{
				"PORT":   "18080",
				"GREET":  "it's \"quoted\" $HOME `x`",
				"EMPTY":  "",
				"MULTI":  "line1\nline2",
				"A_LAST": "a;b|c&d",
			},
			Directives: []string{"--exclusive", "--signal=B:TERM@60"},
		}},
		{"inert-body-directives", JobSpec{Name: "x",
			Script: "#SBATCH --partition=$EVIL\nsrun hostname\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.spec)
			require.NoError(t, err)
			golden(t, filepath.Join("render", tt.name+".sh"), got)

			again, err := DryRun(tt.spec)
			require.NoError(t, err)
			require.Equal(t, got, again, "Render is pure")
			if _, err := exec.LookPath("bash"); err == nil {
				cmd := exec.Command("bash", "-n")
				cmd.Stdin = strings.NewReader(got)
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "bash -n: %s", out)
			}
		})
	}
}

func TestRenderNoPartitionLine(t *testing.T) {
	got, err := Render(JobSpec{Name: "svc", Script: "true"})
	require.NoError(t, err)
	require.NotContains(t, got, "--partition")
	require.NotContains(t, got, "None")
}

func TestRenderRejects(t *testing.T) {
	// BC-05 and friends: each refused with a *SpecError naming the field.
	tests := []struct {
		name  string
		spec  JobSpec
		field string
	}{
		{"None partition", JobSpec{Partition: "None"}, "Partition"},
		{"none account", JobSpec{Account: "none"}, "Account"},
		{"nil qos", JobSpec{QOS: "<nil>"}, "QOS"},
		{"placeholder", JobSpec{Partition: "<partition>"}, "Partition"},
		{"dollar", JobSpec{Account: "$proj"}, "Account"},
		{"dollar brace", JobSpec{Output: "${HOME}/x.out"}, "Output"},
		{"dollar workdir", JobSpec{WorkDir: "$HOME/runs"}, "WorkDir"},
		{"tilde", JobSpec{WorkDir: "~/runs"}, "WorkDir"},
		{"newline in name", JobSpec{Name: "a\n#SBATCH --x"}, "Name"},
		{"space in name", JobSpec{Name: "my job"}, "Name"},
		{"comma in name", JobSpec{Name: "a,b"}, "Name"},
		{"bar in comment", JobSpec{Comment: "a|b"}, "Comment"},
		{"newline in comment", JobSpec{Comment: "a\nb"}, "Comment"},
		{"quoted empty", JobSpec{Comment: `""`}, "Comment"},
		{"padded", JobSpec{Partition: " debug"}, "Partition"},
		{"bad mem", JobSpec{Mem: "4 GB"}, "Mem"},
		{"float mem", JobSpec{Mem: "1.5G"}, "Mem"},
		{"bad gres", JobSpec{Gres: "gpu 1"}, "Gres"},
		{"bad hostlist", JobSpec{NodeList: "node[3-1]"}, "NodeList"},
		{"negative nodes", JobSpec{Nodes: -1}, "Nodes"},
		{"negative cpus", JobSpec{CPUsPerTask: -2}, "CPUsPerTask"},
		{"negative time", JobSpec{Time: -time.Second}, "Time"},
		{"env name", JobSpec{Env: map[string]string{"1BAD": "x"}}, "Env"},
		{"env name dash", JobSpec{Env: map[string]string{"A-B": "x"}}, "Env"},
		{"env nul", JobSpec{Env: map[string]string{"A": "x\x00y"}}, "Env"},
		{"directive name", JobSpec{Directives: []string{"-p debug"}}, "Directives"},
		{"directive value", JobSpec{Directives: []string{"--account=$A"}}, "Directives"},
		{"directive empty", JobSpec{Directives: []string{"--account="}}, "Directives"},
		{"hetjob", JobSpec{Comment: "a hetjob b"}, "Comment"},
		{"nul script", JobSpec{Script: "a\x00b"}, "Script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.spec)
			require.ErrorIs(t, err, ErrInvalidSpec)
			var se *SpecError
			require.True(t, errors.As(err, &se))
			require.Equal(t, tt.field, se.Field)
			require.Contains(t, err.Error(), "slurm: ")
		})
	}
}

// sbatchArgs reads #SBATCH lines back the way sbatch does (_get_argument in
// src/sbatch/opt.c): quotes group, a backslash escapes, an unquoted #
// starts a comment, and reading stops at the first command.
func sbatchArgs(script string) []string {
	var args []string
	for i, l := range strings.Split(script, "\n") {
		if i == 0 && strings.HasPrefix(l, "#!") {
			continue
		}
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "#") {
			break
		}
		rest, ok := strings.CutPrefix(t, "#SBATCH")
		if !ok {
			continue
		}
		var cur strings.Builder
		inArg, quoted, esc := false, byte(0), false
	scan:
		for j := 0; j < len(rest); j++ {
			c := rest[j]
			switch {
			case esc:
				esc = false
				cur.WriteByte(c)
			case c == '\\':
				esc, inArg = true, true
			case quoted != 0:
				if c == quoted {
					quoted = 0
				} else {
					cur.WriteByte(c)
				}
			case c == '"' || c == '\'':
				quoted, inArg = c, true
			case c == '#':
				break scan
			case c == ' ' || c == '\t':
				if inArg {
					args = append(args, cur.String())
					cur.Reset()
					inArg = false
				}
			default:
				cur.WriteByte(c)
				inArg = true
			}
		}
		if inArg {
			args = append(args, cur.String())
		}
	}
	return args
}

func TestRenderReadsBackAsSbatchDoes(t *testing.T) {
	spec := JobSpec{
		Name:    "x",
		Comment: `tag "one" #two \three 'four'`,
		WorkDir: "/tmp/a dir",
		Output:  "/tmp/a dir/%x-%j.out",
	}
	got, err := Render(spec)
	require.NoError(t, err)
	require.Equal(t, []string{
		"--job-name=x",
		`--comment=tag "one" #two \three 'four'`,
		"--output=/tmp/a dir/%x-%j.out",
		"--chdir=/tmp/a dir",
	}, sbatchArgs(got))
}

func FuzzRender(f *testing.F) {
	f.Add("svc", "hpcorch:v1", "debug", "/tmp/%x-%j.out", "PORT", "18080", "echo hi", int64(60))
	f.Add("a", `x "y" #z`, "", "", "A", "it's $HOME", "#SBATCH --x", int64(0))
	f.Add("b", "c", "None", "~/x", "1", "v", "", int64(-1))
	f.Fuzz(func(t *testing.T, name, comment, part, output, envK, envV, body string, secs int64) {
		spec := JobSpec{Name: name, Comment: comment, Partition: part, Output: output,
			Env: map[string]string{envK: envV}, Script: body,
			Time: time.Duration(secs) * time.Second}
		got, err := Render(spec)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidSpec)
			return
		}

		// The directives sbatch reads are exactly the spec's, unexpanded.
		args := sbatchArgs(got)
		want := map[string]string{}
		for _, a := range args {
			k, v, _ := strings.Cut(a, "=")
			require.NotContains(t, v, "$")
			want[k] = v
		}
		check := func(opt, v string) {
			if v == "" {
				require.NotContains(t, want, opt)
				return
			}
			require.Equal(t, v, want[opt], opt)
		}
		check("--job-name", name)
		check("--comment", comment)
		check("--partition", part)
		check("--output", output)

		// Every line before the first command is the shebang or a directive.
		for i, l := range strings.Split(got, "\n") {
			if l == directivesEnd {
				break
			}
			require.True(t, i == 0 && l == Shebang || strings.HasPrefix(l, "#SBATCH --"), l)
		}
		require.Contains(t, got, "export "+envK+"=")
	})
}

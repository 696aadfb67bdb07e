package recipe

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// decode decodes a recipe written with tabs for readability: each line's
// leading tabs become two spaces each.
func decode(t *testing.T, doc string) (*Recipe, error) {
	t.Helper()
	return Decode(strings.NewReader(detab(doc)), "t.yaml")
}

func detab(doc string) string {
	lines := strings.Split(strings.TrimPrefix(doc, "\n"), "\n")
	for i, l := range lines {
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		lines[i] = strings.Repeat("  ", n) + l[n:]
	}
	return strings.Join(lines, "\n")
}

// one returns the only FieldError of err.
func one(t *testing.T, err error) *FieldError {
	t.Helper()
	require.Error(t, err)
	fes := FieldErrors(err)
	require.Len(t, fes, 1, "errors: %v", err)
	return fes[0]
}

func TestDecodeMinimal(t *testing.T) {
	r, err := decode(t, `
service:
	name: web
	command: busybox
	args: [httpd, -f, -p, 18080, -h, $HOME, no, 1.10, 0755]
	environment:
		DEBUG: no
		PORT: 08080
		VERSION: 1.10
		EMPTY:
		ON: on
		HOME_DIR: ~/data
	ports: [18080]
`)
	require.NoError(t, err)
	s := r.Service
	require.Equal(t, "t.yaml", r.File())
	require.Equal(t, []string{"httpd", "-f", "-p", "18080", "-h", "$HOME", "no", "1.10",
		"0755"}, s.Args)
	require.Equal(t, map[string]string{"DEBUG": "no", "PORT": "08080", "VERSION": "1.10",
		"EMPTY": "", "ON": "on", "HOME_DIR": "~/data"}, s.Environment)
	require.Equal(t, KindBare, s.Kind())
	require.Equal(t, "busybox", s.Program())
	require.Nil(t, s.Container)
	require.Nil(t, s.HealthCheck)
	require.Nil(t, s.MonitoringTargets)
}

// $HOME and ~ are the cluster's: they are never expanded with this
// machine's values.
func TestDecodeKeepsVariables(t *testing.T) {
	t.Setenv("HOME", "/local/home")
	t.Setenv("USER", "localuser")
	r, err := decode(t, `
service:
	name: web
	command: $HOME/bin/server
	args: [--data, ~/data, --user, $USER, --job, "${SLURM_JOB_ID}"]
	container:
		image_path: ~/containers/web.sif
		bind_mounts: ["$HOME/data:/data:ro", "/scratch/$USER"]
	environment:
		DATA: $HOME/data
`)
	require.NoError(t, err)
	s := r.Service
	require.Equal(t, "$HOME/bin/server", s.Command)
	require.Equal(t, []string{"--data", "~/data", "--user", "$USER", "--job",
		"${SLURM_JOB_ID}"}, s.Args)
	require.Equal(t, "~/containers/web.sif", s.ImagePath())
	require.Equal(t, []string{"$HOME/data:/data:ro", "/scratch/$USER"}, s.Container.BindMounts)
	require.Equal(t, "$HOME/data", s.Environment["DATA"])
	require.NotContains(t, s.Command+strings.Join(s.Args, " "), "/local/home")
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		path      string
		line, col int
		kind      error
		want      string
	}{{
		name: "typo suggests",
		doc:  "service:\n\tname: x\n\tenable_cadvsior: true\n",
		path: "service.enable_cadvsior", line: 3, col: 3, kind: ErrUnknownKey,
		want: `unknown key "enable_cadvsior"; did you mean "enable_cadvisor"?`,
	}, {
		name: "slurm spelling",
		doc:  "service:\n\tname: x\n\tresources:\n\t\tcpus-per-task: 2\n",
		path: "service.resources.cpus-per-task", line: 4, col: 5, kind: ErrUnknownKey,
		want: `did you mean "cpus_per_task"?`,
	}, {
		name: "alias",
		doc:  "service:\n\tname: x\n\tresources:\n\t\tmemory: 4G\n",
		path: "service.resources.memory", line: 4, col: 5, kind: ErrUnknownKey,
		want: `did you mean "mem"?`,
	}, {
		name: "wrong level",
		doc:  "service:\n\tname: x\n\ttime: \"01:00:00\"\n",
		path: "service.time", line: 3, col: 3, kind: ErrUnknownKey,
		want: `it belongs under service.resources`,
	}, {
		name: "contianer typo",
		doc:  "service:\n\tname: x\n\tcontianer: {image_path: /a.sif}\n",
		path: "service.contianer", line: 3, col: 3, kind: ErrUnknownKey,
		want: `did you mean "container"?`,
	}, {
		name: "no suggestion lists keys",
		doc:  "service:\n\tname: x\n\tcontainer:\n\t\tzzz: 1\n\t\timage_path: /a\n",
		path: "service.container.zzz", line: 4, col: 5, kind: ErrUnknownKey,
		want: `the keys here are docker_source, image_path, bind_mounts`,
	}, {
		name: "duplicate key",
		doc:  "service:\n\tname: x\n\tname: y\n",
		path: "service.name", line: 3, col: 3, kind: ErrDuplicateKey,
		want: `key "name" is already given at line 2`,
	}, {
		name: "duplicate in list item",
		doc:  "service:\n\tname: p\n\tmonitoring_targets:\n\t\t- host: a\n\t\t\thost: b\n",
		path: "service.monitoring_targets[0].host", line: 5, col: 7, kind: ErrDuplicateKey,
	}, {
		name: "duplicate env",
		doc:  "service:\n\tname: x\n\tenvironment:\n\t\tA: 1\n\t\tA: 2\n",
		path: "service.environment.A", line: 5, col: 5, kind: ErrDuplicateKey,
	}, {
		name: "walltime as number",
		doc:  "service:\n\tname: x\n\tresources:\n\t\ttime: 3600\n",
		path: "service.resources.time", line: 4, col: 11, kind: ErrType,
		want: `walltime 3600 is a number, which SLURM reads as 3600 minutes (60h0m0s)`,
	}, {
		name: "walltime as float",
		doc:  "service:\n\tname: x\n\tresources:\n\t\ttime: 3600.0\n",
		path: "service.resources.time", line: 4, col: 11, kind: ErrType,
		want: `write a quoted string such as "01:00:00"`,
	}, {
		name: "walltime sexagesimal",
		doc:  "service:\n\tname: x\n\tresources:\n\t\ttime: 1:30\n",
		path: "service.resources.time", line: 4, col: 11, kind: ErrType,
		want: `sexagesimal number to YAML 1.1 tools`,
	}, {
		name: "walltime bad form",
		doc:  "service:\n\tname: x\n\tresources:\n\t\ttime: 2h\n",
		path: "service.resources.time", line: 4, col: 11, kind: ErrInvalid,
		want: `walltime "2h" is not in a form sbatch accepts`,
	}, {
		name: "octal-looking port",
		doc:  "service:\n\tname: x\n\tports:\n\t\t- 08080\n",
		path: "service.ports[0]", line: 4, col: 7, kind: ErrType,
		want: `08080 has a leading zero, which YAML 1.1 (and yaml.v3) reads as an octal ` +
			`number; write 8080`,
	}, {
		name: "octal port decodes to another number",
		doc:  "service:\n\tname: x\n\tcadvisor_port: 0123\n",
		path: "service.cadvisor_port", line: 3, col: 18, kind: ErrType, want: `write 123`,
	}, {
		name: "port out of range",
		doc:  "service:\n\tname: x\n\tports: [80, 70000]\n",
		path: "service.ports[1]", line: 3, col: 15, kind: ErrInvalid,
		want: `port 70000 is out of range 1..65535`,
	}, {
		name: "port zero",
		doc:  "service:\n\tname: x\n\tports: [0]\n",
		path: "service.ports[0]", line: 3, col: 11, kind: ErrInvalid,
	}, {
		name: "hex port",
		doc:  "service:\n\tname: x\n\tports: [0x1F90]\n",
		path: "service.ports[0]", kind: ErrType, want: `plain whole number`,
	}, {
		name: "underscore number",
		doc:  "service:\n\tname: x\n\tresources: {nodes: 1_0}\n",
		path: "service.resources.nodes", kind: ErrType,
	}, {
		name: "port as word",
		doc:  "service:\n\tname: x\n\tports: [http]\n",
		path: "service.ports[0]", kind: ErrType, want: `expected a whole number, got "http"`,
	}, {
		name: "partition no",
		doc:  "service:\n\tname: x\n\tresources:\n\t\tpartition: no\n",
		path: "service.resources.partition", line: 4, col: 16, kind: ErrType,
		want: `no is a boolean to YAML 1.1 tools, not text; quote it if you mean the ` +
			`word: 'no'`,
	}, {
		name: "name true",
		doc:  "service:\n\tname: true\n",
		path: "service.name", line: 2, col: 9, kind: ErrType,
	}, {
		name: "bool yes",
		doc:  "service:\n\tname: x\n\tenable_cadvisor: yes\n",
		path: "service.enable_cadvisor", line: 3, col: 20, kind: ErrType,
		want: `yes is a boolean only in YAML 1.1; write true or false`,
	}, {
		name: "bool quoted",
		doc:  "service:\n\tname: x\n\tenable_cadvisor: \"true\"\n",
		path: "service.enable_cadvisor", kind: ErrType,
	}, {
		name: "args as string",
		doc:  "service:\n\tname: x\n\targs: serve\n",
		path: "service.args", line: 3, col: 9, kind: ErrType,
		want: `expected a list, got "serve"; write [serve] for a list of one`,
	}, {
		name: "env as list",
		doc:  "service:\n\tname: x\n\tenvironment: [A=1]\n",
		path: "service.environment", kind: ErrType, want: `expected a mapping`,
	}, {
		name: "env nested",
		doc:  "service:\n\tname: x\n\tenvironment:\n\t\tA: {b: 1}\n",
		path: "service.environment.A", line: 4, col: 8, kind: ErrType,
	}, {
		name: "resources as string",
		doc:  "service:\n\tname: x\n\tresources: big\n",
		path: "service.resources", kind: ErrType,
	}, {
		name: "missing service",
		doc:  "name: x\n",
		path: "name", line: 1, col: 1, kind: ErrUnknownKey,
		want: `it belongs under service`,
	}, {
		name: "no name",
		doc:  "service:\n\tcommand: x\n",
		path: "service.name", line: 1, col: 1, kind: ErrMissing,
	}, {
		name: "bad timeout",
		doc:  "service:\n\tname: x\n\tports: [1]\n\thealth_check: {type: tcp, timeout: soon}\n",
		path: "service.health_check.timeout", kind: ErrType, want: `is not a duration`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decode(t, tc.doc)
			require.Nil(t, r)
			fes := FieldErrors(err)
			require.NotEmpty(t, fes, "no FieldError in %v", err)
			fe := fes[0]
			require.Equal(t, tc.path, fe.Path, "error: %v", err)
			require.Equal(t, "t.yaml", fe.File)
			if tc.line != 0 {
				require.Equal(t, tc.line, fe.Line, "error: %v", err)
				require.Equal(t, tc.col, fe.Column, "error: %v", err)
			}
			require.ErrorIs(t, fe, tc.kind)
			require.ErrorIs(t, err, tc.kind)
			require.Contains(t, fe.Error(), tc.want)
		})
	}
}

// Every problem of a file is reported at once, in file order, and a value
// the decoder rejected is not reported again by validation.
func TestDecodeReportsAllErrors(t *testing.T) {
	_, err := decode(t, `
service:
	name: "bad name!"
	enable_cadvsior: true
	resources:
		time: 3600
		mem: 1.5G
		partition: <partition>
	ports: [08080, 99999]
	health_check:
		type: ftp
		timeout: -5s
		interval: -1s
`)
	fes := FieldErrors(err)
	var got []string
	for _, fe := range fes {
		got = append(got, fe.Path)
	}
	require.Equal(t, []string{
		"service.name",
		"service.enable_cadvsior",
		"service.resources.time",
		"service.resources.mem",
		"service.resources.partition",
		"service.ports[0]",
		"service.ports[1]",
		"service.health_check.type",
		"service.health_check.timeout",
		"service.health_check.interval",
	}, got, "a bad type hides nothing else of its block")
	require.Len(t, strings.Split(err.Error(), "\n"), len(fes))
	require.Contains(t, err.Error(),
		"recipe: t.yaml:5:11: service.resources.time: walltime 3600 is a number")

	var fe *FieldError
	require.True(t, errors.As(err, &fe))
	require.Equal(t, "service.name", fe.Path)
}

func TestDecodeNulls(t *testing.T) {
	r, err := decode(t, `
service:
	name: x
	command: ~
	container:
	health_check:
	resources:
	ports:
	monitoring_targets: []
	environment: {}
`)
	require.NoError(t, err)
	s := r.Service
	require.Empty(t, s.Command)
	require.Nil(t, s.Container)
	require.Nil(t, s.HealthCheck)
	require.Nil(t, s.Ports)
	require.NotNil(t, s.MonitoringTargets)
	require.Empty(t, s.MonitoringTargets)
	require.True(t, s.IsMonitor())
	require.Equal(t, "prometheus", s.Program())
}

func TestDecodeExtensionsAndAnchors(t *testing.T) {
	r, err := decode(t, `
x-common: &res
	time: "01:00:00"
	mem: 4G
service:
	name: x
	x-owner: team-a
	command: a
	resources:
		<<: *res
		mem: 8G
		x-note: bigger
	ports: &ports [1000, 1001]
	health_check:
		type: tcp
		port: 1000
		timeout: 90
		interval: 2s
`)
	require.NoError(t, err)
	s := r.Service
	require.Equal(t, Resources{Time: "01:00:00", Mem: "8G"}, s.Resources)
	require.Equal(t, 90*time.Second, s.HealthCheck.Timeout)
	require.Equal(t, 2*time.Second, s.HealthCheck.IntervalOrDefault())
	require.Equal(t, []Port{1000, 1001}, s.Ports)
}

func TestDecodeQuotedNumbers(t *testing.T) {
	r, err := decode(t, `
service:
	name: "123"
	command: x
	cadvisor_port: "08081"
	resources:
		account: 0123
		partition: 1.10
		time: "90"
		mem: 500
`)
	require.NoError(t, err)
	s := r.Service
	require.Equal(t, "123", s.Name)
	require.Equal(t, Port(8081), s.CAdvisorPort)
	require.Equal(t, "0123", s.Resources.Account, "text kept, not read as octal 83")
	require.Equal(t, "1.10", s.Resources.Partition)
	require.Equal(t, Walltime("90"), s.Resources.Time)
	d, err := s.Resources.Time.Duration()
	require.NoError(t, err)
	require.Equal(t, 90*time.Minute, d)
	require.Equal(t, "500", s.Resources.Mem)
}

// A billion-laughs document, through lists or through merge keys, is
// refused without blowing up.
func TestDecodeAliasBomb(t *testing.T) {
	bomb := func(first, item, use string) string {
		var b strings.Builder
		b.WriteString("x-a0: &a0 " + first + "\n")
		for i := 1; i < 8; i++ {
			fmt.Fprintf(&b, "x-a%d: &a%d "+item+"\n", i, i,
				strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
		}
		return b.String() + "service:\n  name: x\n" + use + "\n"
	}
	docs := map[string]string{
		"lists":  bomb("[1, 1]", "[%s]", "  args: *a7"),
		"merges": bomb("{time: '1'}", "{<<: [%s]}", "  resources: {<<: *a7}"),
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(doc), "bomb.yaml")
			require.Error(t, err)
			if name == "merges" {
				require.ErrorIs(t, err, ErrInvalid)
				require.Contains(t, err.Error(), "too many values")
			}
			require.Less(t, len(FieldErrors(err)), 100)
		})
	}
}

func TestDecodeTooLarge(t *testing.T) {
	doc := "service:\n  name: x\n  description: " + strings.Repeat("a", maxFileSize) + "\n"
	_, err := Decode(strings.NewReader(doc), "big.yaml")
	require.ErrorIs(t, err, ErrInvalid)
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	require.ErrorContains(t, err, "recipe: open testdata/nope.yaml")
	require.Empty(t, FieldErrors(err))

	_, err = Load("testdata")
	require.EqualError(t, err, "recipe: testdata is a folder, not a recipe file")
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// yaml.v3 reads unquoted clock times as strings, so the unambiguous forms
// are accepted unquoted; only bare numbers and MM:SS are traps.
func TestDecodeUnquotedWalltimes(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"01:00:00":   time.Hour,
		"1:00:00":    time.Hour,
		"190:20:30":  190*time.Hour + 20*time.Minute + 30*time.Second,
		"2-12":       60 * time.Hour,
		"1-02:03:04": 26*time.Hour + 3*time.Minute + 4*time.Second,
		"'4:00'":     4 * time.Minute,
		`"30"`:       30 * time.Minute,
	} {
		r, err := decode(t, "service:\n\tname: x\n\tresources:\n\t\ttime: "+in+"\n")
		require.NoError(t, err, in)
		d, err := r.Service.Resources.Time.Duration()
		require.NoError(t, err, in)
		require.Equal(t, want, d, in)
	}
	for _, in := range []string{"30", "4:00", "01:30", "1.5", "1e3", "0x10"} {
		_, err := decode(t, "service:\n\tname: x\n\tresources:\n\t\ttime: "+in+"\n")
		require.ErrorIs(t, err, ErrType, in)
	}
}

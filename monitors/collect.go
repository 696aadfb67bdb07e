package monitors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"
)

// MetricsFile is what CollectMetricsToFile writes: a query's result with
// where it came from. Sample values are strings, as in Prometheus' API,
// so NaN and ±Inf survive; ReadMetricsFile reads the file back.
type MetricsFile struct {
	// Query is the PromQL evaluated.
	Query string `json:"query"`

	// MonitorID is the monitor that answered.
	MonitorID string `json:"monitor_id"`

	// PrometheusVersion is the monitor's Prometheus version, from
	// /api/v1/status/buildinfo.
	PrometheusVersion string `json:"prometheus_version"`

	// CollectedAt is when the file was written.
	CollectedAt time.Time `json:"collected_at"`

	// EvalTime is the evaluation time of an instant query; nil for a
	// range query.
	EvalTime *time.Time `json:"eval_time,omitempty"`

	// Range is the range and step of a range query; nil for an instant
	// query.
	Range *FileRange `json:"range,omitempty"`

	// ResultType is "vector", "matrix", "scalar" or "string".
	ResultType string `json:"result_type"`

	// NoData is true when the query matched nothing.
	NoData bool `json:"no_data"`

	// Warnings and Infos are Prometheus' notes on the result.
	Warnings []string `json:"warnings"`
	Infos    []string `json:"infos"`

	// Result is the value, in Prometheus' JSON form. Value decodes it.
	Result json.RawMessage `json:"result"`
}

// FileRange is the range of a range query in a MetricsFile.
type FileRange struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Step is Go's duration text ("15s"); StepSeconds the same in seconds.
	Step        string  `json:"step"`
	StepSeconds float64 `json:"step_seconds"`
}

// Value decodes Result according to ResultType.
func (f *MetricsFile) Value() (model.Value, error) {
	var v model.Value
	switch f.ResultType {
	case model.ValVector.String():
		v = &model.Vector{}
	case model.ValMatrix.String():
		v = &model.Matrix{}
	case model.ValScalar.String():
		v = &model.Scalar{}
	case model.ValString.String():
		v = &model.String{}
	default:
		return nil, fmt.Errorf("monitors: metrics file: unknown result type %q", f.ResultType)
	}

	if err := json.Unmarshal(f.Result, v); err != nil {
		return nil, fmt.Errorf("monitors: metrics file: %w", err)
	}
	switch x := v.(type) {
	case *model.Vector:
		return *x, nil
	case *model.Matrix:
		return *x, nil
	}
	return v, nil
}

// newMetricsFile builds the file content for res.
func newMetricsFile(id, version string, res *QueryResult) (*MetricsFile, error) {
	raw, err := json.Marshal(res.Value)
	if err != nil {
		return nil, fmt.Errorf("monitors: encode result of %q: %w", res.Query, err)
	}

	f := &MetricsFile{
		Query:             res.Query,
		MonitorID:         id,
		PrometheusVersion: version,
		CollectedAt:       time.Now().UTC(),
		ResultType:        res.Type().String(),
		NoData:            res.NoData(),
		Warnings:          nonNil(res.Warnings),
		Infos:             nonNil(res.Infos),
		Result:            raw,
	}
	if res.Range.Step > 0 {
		f.Range = &FileRange{
			Start:       res.Range.Start.UTC(),
			End:         res.Range.End.UTC(),
			Step:        res.Range.Step.String(),
			StepSeconds: res.Range.Step.Seconds(),
		}
	} else {
		t := res.Time.UTC()
		f.EvalTime = &t
	}
	return f, nil
}

// ReadMetricsFile reads a file CollectMetricsToFile wrote.
func ReadMetricsFile(path string) (*MetricsFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("monitors: %w", err)
	}
	var f MetricsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("monitors: %s: %w", path, err)
	}
	return &f, nil
}

// outputPath returns where a file named name is written: name itself when
// absolute, else name inside dir.
func outputPath(dir, name string) (string, error) {
	if name == "" {
		return "", errors.New("monitors: empty output file name")
	}
	if filepath.IsAbs(name) {
		return name, nil
	}
	return filepath.Join(dir, name), nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// folder, creating the folder when needed, so that a reader never sees a
// half-written file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("monitors: %w", err)
	}

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("monitors: %w", err)
	}
	defer os.Remove(tmp.Name())

	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("monitors: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("monitors: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("monitors: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("monitors: write %s: %w", path, err)
	}
	return nil
}

// writeJSON writes v to path as indented JSON.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("monitors: encode %s: %w", path, err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

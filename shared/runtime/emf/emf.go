// Package emf writes the metadata of CloudWatch Embedded Metric Format
// records: a structured log line that carries it (under the "_aws" key) is
// also a set of metrics, with no API call. The metric values and dimension
// values are the line's own top-level fields. Written by hand: the format is
// a small documented JSON shape, and the log lines are slog's.
package emf

import "time"

// Namespace is the CloudWatch namespace of MedShare's metrics.
const Namespace = "MedShare"

// Key is the log attribute that holds the metadata.
const Key = "_aws"

// Metric names one metric of a record and its unit ("Count",
// "Milliseconds", ...).
type Metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []Metric   `json:"Metrics"`
}

// Metadata is the "_aws" value of a record.
type Metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// New returns the metadata of a record taken at now, in Namespace, whose
// metrics are reported under each set of dimensions.
func New(now time.Time, dimensions [][]string, metrics ...Metric) Metadata {
	return Metadata{
		Timestamp:         now.UnixMilli(),
		CloudWatchMetrics: []directive{{Namespace: Namespace, Dimensions: dimensions, Metrics: metrics}},
	}
}

package lambdafn

import (
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/migrate"
)

// Workers are the functions that are neither an operation nor a job: the
// migration function, which Step Functions invokes per line of a manifest
// (package migratefn builds it on Wire).
var Workers = []string{migrate.FunctionName}

// Names returns every function's name: the operations of httpapi.Routes,
// then the jobs of jobs.Jobs, then the Workers.
func Names() []string {
	var out []string
	for _, r := range httpapi.Routes() {
		out = append(out, r.Op)
	}
	for _, j := range jobs.Jobs {
		out = append(out, j.Name)
	}
	return append(out, Workers...)
}

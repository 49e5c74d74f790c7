package lambdafn

import (
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
)

// Workers are the functions that are neither an operation nor a job: the
// migration function, which Step Functions invokes per line of a manifest
// (package migratefn builds it on Wire).
// The name is written here, not taken from migrate.FunctionName, so that
// the operations' and jobs' functions, which all link this package, do not
// link the migration engine and the manifest reader with it;
// TestWorkerNames holds the two equal.
var Workers = []string{"migrate-chat-image"}

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

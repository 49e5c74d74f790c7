package lambdafn

import (
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
)

// Names returns every function's name: the operations of httpapi.Routes,
// then the jobs of jobs.Jobs.
func Names() []string {
	var out []string
	for _, r := range httpapi.Routes() {
		out = append(out, r.Op)
	}
	for _, j := range jobs.Jobs {
		out = append(out, j.Name)
	}
	return out
}

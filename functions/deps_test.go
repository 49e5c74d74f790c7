package functions_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// embeddedOnly are the packages of the one-machine runtime (`medshare
// serve`): the bbolt store, the blob directory, the local key ring and its
// key files, the in-process notifier, the local server and its dev tokens,
// and the load test. README.md and docs/DECISIONS.md promise that the Lambda
// functions link none of them.
var embeddedOnly = []string{
	"go.etcd.io/bbolt",
	"github.com/golang-jwt/jwt/v5",
	"github.com/medshare/medshare/shared/boltstore",
	"github.com/medshare/medshare/shared/devauth",
	"github.com/medshare/medshare/shared/embedded",
	"github.com/medshare/medshare/shared/loadtest",
	"github.com/medshare/medshare/shared/localblob",
	"github.com/medshare/medshare/shared/localkeys",
	"github.com/medshare/medshare/shared/localnotify",
	"github.com/medshare/medshare/shared/localserver",
	"github.com/medshare/medshare/shared/secretfile",
}

// awsRuntime are the packages every function needs: the wiring, the AWS
// adapters and the Lambda runtime client.
var awsRuntime = []string{
	"github.com/aws/aws-lambda-go/lambda",
	"github.com/medshare/medshare/shared/awsruntime",
	"github.com/medshare/medshare/shared/dynamostore",
	"github.com/medshare/medshare/shared/kmskeys",
	"github.com/medshare/medshare/shared/lambdafn",
	"github.com/medshare/medshare/shared/s3blob",
	"github.com/medshare/medshare/shared/snsnotify",
}

// goListDeps runs `go list -deps` on pkgs from the module root with extra
// environment, and returns the import paths.
func goListDeps(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	cmd := exec.Command(goBin, append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	return strings.Fields(string(out))
}

// TestFunctionsLinkOnlyTheAWSRuntime lists what the functions link, built as
// `make build` builds them (linux/arm64, -tags lambda.norpc), and fails if
// any package of the embedded runtime is among them. The forbidden names are
// checked against what `medshare` links, so a renamed package cannot make
// the test pass by no longer matching.
func TestFunctionsLinkOnlyTheAWSRuntime(t *testing.T) {
	fns := goListDeps(t, []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}, "-tags", "lambda.norpc", "./functions/...")
	cli := goListDeps(t, nil, "./cmd/medshare")

	for _, p := range embeddedOnly {
		if !slices.Contains(cli, p) {
			t.Errorf("%s is not linked by cmd/medshare: the list of embedded-only packages is stale", p)
		}
		if slices.Contains(fns, p) {
			t.Errorf("the functions link %s, a package of the embedded runtime", p)
		}
	}
	for _, p := range awsRuntime {
		if !slices.Contains(fns, p) {
			t.Errorf("the functions do not link %s: is ./functions/... still the functions?", p)
		}
	}
}

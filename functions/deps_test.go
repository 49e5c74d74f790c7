package functions_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// embeddedOnly are the packages of the one-machine runtime (`medshare
// serve`): the bbolt store, the blob directory, the local key ring and its
// key files, the in-process notifier, the local server and its dev tokens,
// and the load test. README.md and docs/DECISIONS.md promise that the Lambda
// functions link none of them.
var embeddedOnly = []string{
	"go.etcd.io/bbolt",
	"github.com/golang-jwt/jwt/v5",
	"github.com/medshare/medshare/shared/store/boltstore",
	"github.com/medshare/medshare/shared/runtime/devauth",
	"github.com/medshare/medshare/shared/runtime/embedded",
	"github.com/medshare/medshare/shared/devtools/loadtest",
	"github.com/medshare/medshare/shared/blob/localblob",
	"github.com/medshare/medshare/shared/keyring/localkeys",
	"github.com/medshare/medshare/shared/notify/localnotify",
	"github.com/medshare/medshare/shared/runtime/localserver",
	"github.com/medshare/medshare/shared/runtime/secretfile",
}

// awsRuntime are the packages the functions need: the wiring, the AWS
// adapters and the Lambda runtime client.
var awsRuntime = []string{
	"github.com/aws/aws-lambda-go/lambda",
	"github.com/medshare/medshare/shared/runtime/awsenv",
	"github.com/medshare/medshare/shared/store/dynamostore",
	"github.com/medshare/medshare/shared/keyring/kmskeys",
	"github.com/medshare/medshare/shared/runtime/lambdafn",
	"github.com/medshare/medshare/shared/blob/s3blob",
	"github.com/medshare/medshare/shared/notify/snsnotify",
}

// neverLinked are packages no function links: config.LoadDefaultConfig
// and the credential providers and clients it brings (shared files, SSO,
// SSO-OIDC, STS, sign-in, process, EC2 instance metadata), which a Lambda
// function never uses (awsenv builds its configuration), and the packages
// that link every AWS client (awsruntime, lambdafn/wired).
var neverLinked = []string{
	"github.com/aws/aws-sdk-go-v2/config",
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds",
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds",
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds",
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds",
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
	"github.com/aws/aws-sdk-go-v2/service/sso",
	"github.com/aws/aws-sdk-go-v2/service/ssooidc",
	"github.com/aws/aws-sdk-go-v2/service/sts",
	"github.com/aws/aws-sdk-go-v2/service/signin",
	"github.com/medshare/medshare/shared/runtime/awsruntime",
	"github.com/medshare/medshare/shared/runtime/lambdafn/wired",
}

// notInAFunction are packages that no function may link, though the
// module requires them: JSON v2, which only FuzzStrictDecode uses now
// (httpapi's strict decoding is on encoding/json: 0.5 to 0.6 MB per
// function that takes a body), and the schemas packages of the SDK's
// schema-based serialization, which build every shape of a service's API
// at package init (DynamoDB, KMS, SNS and Secrets Manager are pinned to
// their last releases without it: docs/DECISIONS.md, "Lean functions,
// second pass"). A module upgrade that brings one back fails here: measure
// it with make bench-coldstart before taking it.
var notInAFunction = []string{
	"github.com/go-json-experiment/json",
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/schemas",
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/schemas",
	"github.com/aws/aws-sdk-go-v2/service/kms/schemas",
	"github.com/aws/aws-sdk-go-v2/service/sns/schemas",
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/schemas",
}

// serviceClients are, by lambdafn service name, the SDK client package
// that linking the service brings in.
var serviceClients = map[string]string{
	lambdafn.S3:  "github.com/aws/aws-sdk-go-v2/service/s3",
	lambdafn.KMS: "github.com/aws/aws-sdk-go-v2/service/kms",
	lambdafn.SNS: "github.com/aws/aws-sdk-go-v2/service/sns",
	lambdafn.CDN: "github.com/aws/aws-sdk-go-v2/service/secretsmanager",
}

// presignLink is the S3 Link of the functions that only presign downloads.
const presignLink = "github.com/medshare/medshare/shared/runtime/lambdafn/s3presignfn"

// goList runs `go list args` from the module root with extra environment,
// and returns its output.
func goList(t *testing.T, env []string, args ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	cmd := exec.Command(goBin, append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// goListDeps runs `go list -deps` on pkgs from the module root with extra
// environment, and returns the import paths.
func goListDeps(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	return strings.Fields(goList(t, env, append([]string{"-deps", "-f", "{{.ImportPath}}"}, args...)...))
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
	for _, p := range notInAFunction {
		if slices.Contains(fns, p) {
			t.Errorf("the functions link %s", p)
		}
	}
	for _, p := range neverLinked {
		if slices.Contains(fns, p) {
			t.Errorf("the functions link %s", p)
		}
		if !slices.Contains(cli, p) && !strings.HasSuffix(p, "/wired") {
			t.Errorf("%s is not linked by cmd/medshare: the list of never-linked packages is stale", p)
		}
	}
}

// TestFunctionsLinkOnlyTheClientsTheyUse: each function imports the SDK
// client of a service (S3, KMS, SNS, Secrets Manager) exactly when
// lambdafn.Uses says its operation calls that service, and always
// DynamoDB's; but a function whose only use of S3 is presigned downloads
// (lambdafn.Access.SignsOnly) links S3's presigner (s3presignfn)
// instead of the S3 client. An unimported client costs the function neither
// binary size nor package initialization at cold start.
func TestFunctionsLinkOnlyTheClientsTheyUse(t *testing.T) {
	deps := goListEach(t, []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}, "-tags", "lambda.norpc", "./functions/...")
	for _, name := range lambdafn.Names() {
		got, ok := deps["github.com/medshare/medshare/functions/"+name]
		if !ok {
			t.Errorf("function %s is not under ./functions", name)
			continue
		}
		if !slices.Contains(got, "github.com/aws/aws-sdk-go-v2/service/dynamodb") {
			t.Errorf("%s does not link DynamoDB", name)
		}
		uses, _ := lambdafn.Uses(name)
		readOnly := slices.Contains(uses, lambdafn.S3) && lambdafn.Permissions()[name].SignsOnly()
		for svc, pkg := range serviceClients {
			want := slices.Contains(uses, svc) && !(svc == lambdafn.S3 && readOnly)
			if has := slices.Contains(got, pkg); has != want {
				t.Errorf("%s links %s: %v, lambdafn.Uses says %v (presigned downloads only: %v)", name, pkg, has, want, readOnly)
			}
		}
		if has := slices.Contains(got, presignLink); has != readOnly {
			t.Errorf("%s links %s: %v, want %v", name, presignLink, has, readOnly)
		}
	}
	if len(serviceClients) != len(lambdafn.Services) {
		t.Errorf("%d services, %d client packages: serviceClients is stale", len(lambdafn.Services), len(serviceClients))
	}
}

// TestFunctionsLinkOnlyTheirOperation: a function's binary holds its own
// operation's code and not another's. The linker keeps what main reaches,
// so this is checked in the symbol tables of two functions built as `make
// build` builds them (without -s, which drops the table): chat-signed-url
// links neither KMS nor the photo keys' sealing, issue-key no S3 and no
// chat image.
func TestFunctionsLinkOnlyTheirOperation(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	symbols := func(name string) string {
		bin := filepath.Join(dir, name)
		build := exec.Command(goBin, "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, "./functions/"+name)
		build.Dir = ".."
		build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
		out, err := exec.Command(goBin, "tool", "nm", bin).Output()
		if err != nil {
			t.Fatalf("go tool nm %s: %v", name, err)
		}
		return string(out)
	}
	const core = "github.com/medshare/medshare/shared/core."
	for _, c := range []struct {
		name       string
		has, hasnt []string
	}{
		{"chat-signed-url",
			[]string{core + "(*Service).ChatImageURL", "github.com/medshare/medshare/shared/blob/s3presign.(*Signer).PresignGet"},
			[]string{core + "(*Service).IssueKey", core + "(*Service).CreateShare", core + "SealKey", "github.com/aws/aws-sdk-go-v2/service/kms.",
				"github.com/aws/aws-sdk-go-v2/service/sns.", "github.com/aws/aws-sdk-go-v2/service/s3."}},
		{"issue-key",
			[]string{core + "(*Service).IssueKey", core + "SealKey", "github.com/aws/aws-sdk-go-v2/service/kms.(*Client).Decrypt"},
			[]string{core + "(*Service).ChatImageURL", "github.com/aws/aws-sdk-go-v2/service/s3.", "github.com/go-json-experiment/json.Unmarshal"}},
	} {
		syms := symbols(c.name)
		for _, s := range c.has {
			if !strings.Contains(syms, " "+s) {
				t.Errorf("%s does not link %s: is the check still looking at the right names?", c.name, s)
			}
		}
		for _, s := range c.hasnt {
			if strings.Contains(syms, " "+s) {
				t.Errorf("%s links %s", c.name, s)
			}
		}
	}
}

// goListEach runs `go list` with extra environment and returns each listed
// package's transitive imports.
func goListEach(t *testing.T, env []string, args ...string) map[string][]string {
	t.Helper()
	out := goList(t, env, append([]string{"-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, args...)...)
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

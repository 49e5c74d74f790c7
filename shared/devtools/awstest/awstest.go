// Package awstest connects tests to the local AWS emulators that `make test`
// starts on loopback (localstack/emulators.sh): DynamoDB Local, VersityGW (S3),
// local-kms, GoAws (SNS and the query-protocol SQS) and the Lambda Runtime
// Interface Emulator.
//
// The emulators announce themselves through the environment that
// `localstack/emulators.sh start` writes: MEDSHARE_AWS_EMULATORS=1, the
// standard AWS_ENDPOINT_URL_<SERVICE> variables, AWS_REGION, fixed
// credentials, and MEDSHARE_RIE. Without them every helper here skips the test,
// or fails it when MEDSHARE_REQUIRE_AWS=1 (which `make test` sets, so that a
// broken emulator tier cannot pass as skipped).
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// skipHint is the message of a skipped emulator test.
const skipHint = "AWS emulator tier: run `make test` to start the emulators"

// Enabled reports whether the emulator environment is present
// (MEDSHARE_AWS_EMULATORS=1).
func Enabled() bool { return os.Getenv("MEDSHARE_AWS_EMULATORS") == "1" }

// Require skips t unless the emulator environment is present, and fails it
// instead when MEDSHARE_REQUIRE_AWS=1.
func Require(t testing.TB) {
	t.Helper()
	if Enabled() {
		return
	}
	if os.Getenv("MEDSHARE_REQUIRE_AWS") == "1" {
		t.Fatal("MEDSHARE_REQUIRE_AWS=1 but MEDSHARE_AWS_EMULATORS is not 1: " +
			"start the emulators (localstack/emulators.sh start) and source their env file")
	}
	t.Skip(skipHint)
}

// Config returns the SDK configuration for the emulators, loaded by
// config.LoadDefaultConfig from the environment alone, exactly as a Lambda
// function loads it: AWS_ENDPOINT_URL_<SERVICE> sends each service to its
// emulator with no endpoint code. S3 clients still need UsePathStyle, since
// the emulator has no per-bucket host names.
func Config(t testing.TB) aws.Config {
	t.Helper()
	Require(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load aws config for the emulators: %v", err)
	}
	if cfg.Region == "" {
		t.Fatal("AWS_REGION is not set: source the env file of localstack/emulators.sh")
	}
	return cfg
}

// RIE returns the path of the aws-lambda-rie binary (MEDSHARE_RIE), with the
// same skip or failure as Config when the emulators are not there.
func RIE(t testing.TB) string {
	t.Helper()
	Require(t)
	p := os.Getenv("MEDSHARE_RIE")
	if p == "" {
		t.Fatal("MEDSHARE_RIE is not set: source the env file of localstack/emulators.sh")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("MEDSHARE_RIE: %v (run make tools)", err)
	}
	return p
}

// UniqueName returns a fresh name for a per-test resource: prefix, a hint of
// the test's name and 10 random hex digits, in lowercase letters, digits and
// single hyphens, 3 to 63 characters, starting and ending with a letter or
// digit. It is a valid S3 bucket, DynamoDB table, SNS topic, SQS queue and
// (after "alias/") KMS alias name.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("unique name: %v", err)
	}
	suffix := hex.EncodeToString(b)
	p := sanitize(prefix, 20)
	if p == "" {
		p = "ms"
	}
	name := p
	// 63 = prefix + "-" + hint + "-" + suffix
	if hint := sanitize(t.Name(), 63-len(p)-len(suffix)-2); hint != "" {
		name += "-" + hint
	}
	return name + "-" + suffix
}

// sanitize lowercases s, turns every run of other characters into one hyphen,
// trims hyphens at both ends and cuts the result to at most max characters.
func sanitize(s string, max int) string {
	if max <= 0 {
		return ""
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
	}
	return strings.Trim(out, "-")
}

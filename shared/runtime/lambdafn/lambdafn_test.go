package lambdafn_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/kmsfn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/s3fn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/s3presignfn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/snsfn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/wired"
)

// env is a function's environment with nothing reachable: a cold start
// makes no AWS call, so every function builds.
func env(over map[string]string) func(string) string {
	base := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1",
		"MEDSHARE_TABLE":   "t", "MEDSHARE_BUCKET": "b", "MEDSHARE_KMS_KEY_ID": "alias/k", "MEDSHARE_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:t",
	}
	for k, v := range over {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

// TestUsesCoversEveryFunction: Permissions, which Uses reads, has an entry
// for every function and nothing else, and Uses names only services of
// Services, in their order.
func TestUsesCoversEveryFunction(t *testing.T) {
	names := lambdafn.Names()
	for _, n := range names {
		uses, ok := lambdafn.Uses(n)
		if !ok {
			t.Errorf("lambdafn.Permissions has no entry for %s", n)
		}
		last := -1
		for _, s := range uses {
			i := slices.IndexFunc(lambdafn.Services, func(x lambdafn.Service) bool { return x.Name == s })
			if i < 0 {
				t.Errorf("%s uses %q, which is not in Services", n, s)
			}
			if i <= last {
				t.Errorf("%s lists %v out of the order of Services", n, uses)
			}
			last = i
		}
	}
	for n := range lambdafn.Permissions() {
		if !slices.Contains(names, n) {
			t.Errorf("lambdafn.Permissions lists %s, which is no function", n)
		}
	}
	for _, j := range jobs.Jobs {
		if _, isOp := httpapi.RouteByOp(j.Name); isOp {
			t.Errorf("job %s has the name of an operation", j.Name)
		}
	}
}

func TestBuild(t *testing.T) {
	for _, r := range httpapi.Routes() {
		if r.Public() {
			continue // health would call AWS; the RIE test covers it
		}
		t.Run(r.Op, func(t *testing.T) {
			h, err := wired.Build(context.Background(), r.Op, env(nil))
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			// A request without the authorizer's claims is refused before
			// any AWS call.
			resp, err := h(context.Background(), events.APIGatewayV2HTTPRequest{RouteKey: r.RouteKey()})
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d (%s), want 401", resp.StatusCode, resp.Body)
			}
		})
	}
	for _, c := range []struct {
		name string
		op   string
		env  map[string]string
	}{
		{"unknown operation", "nope", nil},
		{"no table", "health", map[string]string{"MEDSHARE_TABLE": ""}},
		{"no bucket", "health", map[string]string{"MEDSHARE_BUCKET": ""}},
		{"no key", "health", map[string]string{"MEDSHARE_KMS_KEY_ID": ""}},
		{"no topic", "health", map[string]string{"MEDSHARE_TOPIC_ARN": ""}},
		{"bad path style", "health", map[string]string{"MEDSHARE_S3_PATH_STYLE": "sometimes"}},
		{"bad chat ttl", "health", map[string]string{"MEDSHARE_CHAT_URL_TTL": "forever"}},
		{"bad max upload", "health", map[string]string{"MEDSHARE_MAX_UPLOAD_BYTES": "-1"}},
		{"no region", "health", map[string]string{"AWS_REGION": ""}},
		{"no credentials", "health", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := wired.Build(context.Background(), c.op, env(c.env)); err == nil {
				t.Error("build succeeded, want an error")
			}
		})
	}
}

// TestBuildRefusesOtherLinks: a function built with Links other than the
// ones lambdafn.Uses lists for it fails its cold start, so a main edited by
// hand cannot drift from the table.
func TestBuildRefusesOtherLinks(t *testing.T) {
	for _, c := range []struct {
		name  string
		route httpapi.Route
		links []lambdafn.Link
	}{
		{"none where the table lists some", httpapi.RouteIssueKey, nil},
		{"one more", httpapi.RouteIssueKey, []lambdafn.Link{s3fn.Link, kmsfn.Link, snsfn.Link}},
		{"one fewer", httpapi.RouteIssueKey, []lambdafn.Link{kmsfn.Link}},
		{"another order", httpapi.RouteIssueKey, []lambdafn.Link{snsfn.Link, kmsfn.Link}},
		{"some where the table lists none", httpapi.RouteListPhotos, []lambdafn.Link{snsfn.Link}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := lambdafn.Build(context.Background(), c.route, env(nil), c.links...)
			if err == nil || !strings.Contains(err.Error(), "lambdafn.Uses") {
				t.Errorf("build: %v, want a refusal naming lambdafn.Uses", err)
			}
		})
	}
	if _, err := lambdafn.Build(context.Background(), httpapi.RouteIssueKey, env(nil), kmsfn.Link, snsfn.Link); err != nil {
		t.Errorf("build with the table's links: %v", err)
	}
}

// TestPresignOnlyLink: S3's signer alone links only into a function whose
// access only reads objects by presigned GETs and deletes them; one that
// stats, writes or pings is refused it at cold start, and the generated
// mains and wired give it to exactly the functions that only sign.
func TestPresignOnlyLink(t *testing.T) {
	for _, route := range []httpapi.Route{httpapi.RouteFinalizeUpload, httpapi.RouteUploadPresign, httpapi.RouteChatUpload} {
		_, err := lambdafn.Build(context.Background(), route, env(nil), s3presignfn.Link)
		if err == nil || !strings.Contains(err.Error(), "signed requests only") {
			t.Errorf("%s with the presigner alone: %v, want a refusal", route.Op, err)
		}
	}
	if _, err := lambdafn.Build(context.Background(), httpapi.RouteSignedURL, env(nil), s3presignfn.Link, snsfn.Link); err != nil {
		t.Errorf("signed-url with the presigner alone: %v", err)
	}
	var got []string
	for _, name := range lambdafn.Names() {
		links, err := wired.Links(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if l.ReadOnly {
				got = append(got, name)
			}
		}
	}
	if _, err := lambdafn.Build(context.Background(), httpapi.RouteDeletePhoto, env(nil), s3presignfn.Link); err != nil {
		t.Errorf("delete-photo with the signer alone: %v", err)
	}
	if want := []string{"delete-photo", "photo-key", "chat-signed-url", "signed-url", "cleanup"}; !slices.Equal(got, want) {
		t.Errorf("functions with the presigner alone: %v, want %v", got, want)
	}
}

func TestBuildJob(t *testing.T) {
	for _, j := range jobs.Jobs {
		if _, err := wired.BuildJob(context.Background(), j.Name, env(nil)); err != nil {
			t.Errorf("build %s: %v", j.Name, err)
		}
	}
	if _, err := lambdafn.BuildJob(context.Background(), "issue-key", env(nil), kmsfn.Link, snsfn.Link); err == nil {
		t.Error("built an operation as a job")
	}
	if _, err := wired.BuildJob(context.Background(), "cleanup", func(string) string { return "" }); err == nil {
		t.Error("built a job without its environment")
	}
	if _, err := lambdafn.BuildJob(context.Background(), "cleanup", env(nil), s3fn.Link); err == nil {
		t.Error("built cleanup without its notifier")
	}
}

// TestGrants: Access.Grants renders each field as the synthesized policies
// name it (infra's TestStack/iam holds the template to it), and Uses
// follows from the same fields.
func TestGrants(t *testing.T) {
	a := lambdafn.Access{
		Table: []string{lambdafn.DynamoPutItem, lambdafn.DynamoGetItem, lambdafn.DynamoGetItem}, Indexes: []string{"gsi1"},
		Read: []string{lambdafn.PhotoPrefix}, Write: []string{lambdafn.ChatPrefix}, Delete: []string{lambdafn.ChatPrefix},
		ListBucket: true, Unwrap: true, Publish: true, DeadLetters: true, SigningKey: true,
	}
	want := []string{
		"dynamodb:GetItem table", "dynamodb:PutItem table", "dynamodb:Query table/index/gsi1",
		"kms:Decrypt key", "s3:GetObject bucket/photos/*", "s3:ListBucket bucket", "s3:PutObject bucket/chat/*",
		"secretsmanager:GetSecretValue secret", "sns:Publish topic", "sqs:SendMessage dlq",
	}
	if got := a.Grants(); !slices.Equal(got, want) {
		t.Errorf("Grants() = %q, want %q", got, want)
	}
	if got, want := a.Uses(), []string{lambdafn.S3, lambdafn.KMS, lambdafn.SNS, lambdafn.CDN}; !slices.Equal(got, want) {
		t.Errorf("Uses() = %v, want %v", got, want)
	}
	if got := (lambdafn.Access{Table: []string{lambdafn.DynamoQuery}, DeadLetters: true}).Uses(); got != nil {
		t.Errorf("Uses() of a role that touches DynamoDB alone = %v, want none", got)
	}
	for key, want := range map[string]string{"photos/pat-1/ph_1": "photos/", "chat/ci_1": "chat/", "noprefix": "", "/x": ""} {
		if got := lambdafn.ObjectPrefix(key); got != want {
			t.Errorf("ObjectPrefix(%q) = %q, want %q", key, got, want)
		}
	}
	if lambdafn.PhotoPrefix != "photos/" || lambdafn.ChatPrefix != "chat/" {
		t.Errorf("prefixes %q, %q, want photos/ and chat/", lambdafn.PhotoPrefix, lambdafn.ChatPrefix)
	}
}

// TestWorkerNames: the worker named in Workers is the migration engine's
// function (written out in Workers so that every function need not link the
// engine).
func TestWorkerNames(t *testing.T) {
	if want := []string{migrate.FunctionName}; !slices.Equal(lambdafn.Workers, want) {
		t.Errorf("Workers = %v, want %v", lambdafn.Workers, want)
	}
}

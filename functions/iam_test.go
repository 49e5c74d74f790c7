package functions_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/middleware"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/blob/s3presign"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/devtools/samples"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/legacy"
	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/migratefn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/wired"
)

// unexercised are the grants of lambdafn.Permissions that no call of this
// test makes, each with the reason it stays. The test fails when a grant
// is used that is listed here, and when a grant no call makes is not: a
// permission nobody uses is either removed or explained.
var unexercised = map[string]map[string]string{
	"cleanup":      {"sqs:SendMessage dlq": "Lambda, not the code, sends a failed run's event to the dead-letter queue"},
	"daily-report": {"sqs:SendMessage dlq": "Lambda, not the code, sends a failed run's event to the dead-letter queue"},
}

// recorder is one function's view of its AWS calls: every SDK operation
// its clients start, sent or presigned, as the grants it needs. It sits in
// the initialize step, which presigning runs too: a presigned PUT or GET is
// executed later with the function's credentials, so it needs the
// permission as much as a call does.
type recorder struct {
	s awsenv.Settings
	// legacy is the legacy chat's bucket (lambdafn.Access.Legacy).
	legacy string

	mu    sync.Mutex
	calls map[string][]string // grant -> the calls that needed it ("DynamoDB.GetItem")
	bad   []string            // calls the test cannot read
}

func newRecorder(s awsenv.Settings) *recorder {
	return &recorder{s: s, calls: map[string][]string{}}
}

func (r *recorder) install(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("medshareIAMRecorder",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			call := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
			grants, err := r.grantsOf(in.Parameters)
			r.mu.Lock()
			if err != nil {
				r.bad = append(r.bad, call+": "+err.Error())
			}
			for _, g := range grants {
				if !slices.Contains(r.calls[g], call) {
					r.calls[g] = append(r.calls[g], call)
				}
			}
			r.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// grantsOf returns the grants one SDK call needs, in the words of
// lambdafn.Access.Grants. A call on another table, bucket or topic than the
// function's, or a KMS call outside the photo context that the role's
// statements require, needs a grant no function has.
func (r *recorder) grantsOf(params any) ([]string, error) {
	table := func(name *string) string {
		if aws.ToString(name) != r.s.Table {
			return "another table " + aws.ToString(name)
		}
		return "table"
	}
	object := func(bucket, key *string) string {
		if r.legacy != "" && aws.ToString(bucket) == r.legacy {
			return "legacy/*"
		}
		if aws.ToString(bucket) != r.s.Bucket {
			return "another bucket " + aws.ToString(bucket)
		}
		p := lambdafn.ObjectPrefix(aws.ToString(key))
		if p == "" {
			return "bucket/" + aws.ToString(key)
		}
		return "bucket/" + p + "*"
	}
	bucket := func(name *string) string {
		if r.legacy != "" && aws.ToString(name) == r.legacy {
			return "legacy"
		}
		if aws.ToString(name) != r.s.Bucket {
			return "another bucket " + aws.ToString(name)
		}
		return "bucket"
	}
	photoContext := func(ctx map[string]string) string {
		want := slices.Sorted(maps.Keys(core.Photo{}.EncryptionContext()))
		if got := slices.Sorted(maps.Keys(ctx)); len(got) == 0 || !slices.Equal(got, want) {
			return "key outside the photo context " + strings.Join(got, ",")
		}
		return "key"
	}
	switch p := params.(type) {
	case *dynamodb.GetItemInput:
		return []string{lambdafn.DynamoGetItem + " " + table(p.TableName)}, nil
	case *dynamodb.PutItemInput:
		return []string{lambdafn.DynamoPutItem + " " + table(p.TableName)}, nil
	case *dynamodb.UpdateItemInput:
		return []string{lambdafn.DynamoUpdateItem + " " + table(p.TableName)}, nil
	case *dynamodb.DeleteItemInput:
		return []string{lambdafn.DynamoDeleteItem + " " + table(p.TableName)}, nil
	case *dynamodb.QueryInput:
		if p.IndexName != nil {
			return []string{lambdafn.DynamoQuery + " " + table(p.TableName) + "/index/" + *p.IndexName}, nil
		}
		return []string{lambdafn.DynamoQuery + " " + table(p.TableName)}, nil
	case *dynamodb.TransactWriteItemsInput:
		// IAM authorizes each part of a transaction by its own action.
		var out []string
		for _, it := range p.TransactItems {
			switch {
			case it.Put != nil:
				out = append(out, lambdafn.DynamoPutItem+" "+table(it.Put.TableName))
			case it.Update != nil:
				out = append(out, lambdafn.DynamoUpdateItem+" "+table(it.Update.TableName))
			case it.Delete != nil:
				out = append(out, lambdafn.DynamoDeleteItem+" "+table(it.Delete.TableName))
			case it.ConditionCheck != nil:
				out = append(out, lambdafn.DynamoConditionCheck+" "+table(it.ConditionCheck.TableName))
			}
		}
		return out, nil
	case *s3.HeadObjectInput:
		// HeadObject is authorized as GetObject; ListBucket makes S3
		// answer a missing key 404 rather than 403 (lambdafn.Access).
		return []string{"s3:GetObject " + object(p.Bucket, p.Key), "s3:ListBucket " + bucket(p.Bucket)}, nil
	case *s3.GetObjectInput:
		return []string{"s3:GetObject " + object(p.Bucket, p.Key)}, nil
	case *s3presign.GetObject: // a presigned GET without the S3 client
		return []string{"s3:GetObject " + object(&p.Bucket, &p.Key)}, nil
	case *s3presign.PutObject: // a delete's tombstone without the S3 client
		return []string{"s3:PutObject " + object(&p.Bucket, &p.Key)}, nil
	case *s3.PutObjectInput:
		return []string{"s3:PutObject " + object(p.Bucket, p.Key)}, nil
	case *s3.CopyObjectInput:
		// CopyObject reads its source with s3:GetObject and writes its
		// destination with s3:PutObject.
		src, err := url.PathUnescape(aws.ToString(p.CopySource))
		srcBucket, srcKey, ok := strings.Cut(src, "/")
		if err != nil || !ok {
			return nil, fmt.Errorf("copy source %q is not bucket/key", aws.ToString(p.CopySource))
		}
		return []string{"s3:GetObject " + object(&srcBucket, &srcKey), "s3:PutObject " + object(p.Bucket, p.Key)}, nil
	case *s3.HeadBucketInput:
		return []string{"s3:ListBucket " + bucket(p.Bucket)}, nil
	case *kms.EncryptInput:
		return []string{"kms:Encrypt " + photoContext(p.EncryptionContext)}, nil
	case *kms.DecryptInput:
		return []string{"kms:Decrypt " + photoContext(p.EncryptionContext)}, nil
	case *kms.DescribeKeyInput:
		return []string{"kms:DescribeKey key"}, nil
	case *sns.PublishInput:
		if aws.ToString(p.TopicArn) != r.s.TopicARN {
			return []string{"sns:Publish another topic " + aws.ToString(p.TopicArn)}, nil
		}
		return []string{"sns:Publish topic"}, nil
	case *secretsmanager.GetSecretValueInput:
		return []string{"secretsmanager:GetSecretValue secret"}, nil
	}
	return nil, fmt.Errorf("the IAM test does not know which permission %T needs: teach grantsOf", params)
}

// used returns the grants the function's calls needed, sorted.
func (r *recorder) used() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.calls))
}

// TestFunctionsCallOnlyWhatTheirRolesAllow makes IAM a checked fact. It
// wires every function as its main does (lambdafn's Build with the Links
// of lambdafn.Uses) on the emulators, with a recorder on every AWS client,
// runs every sample event (events/*.json, then events/scheduled/*.json)
// through its function, and a few more that take the paths the samples do
// not (a stranger's request, a job run once everything is due, the chat
// CDN's cold start); then it fails on any call a function makes that its
// role, lambdafn.Permissions, does not grant (AWS would refuse it with
// AccessDenied, and no other test would notice), and on any grant that no
// call used and unexercised does not explain.
func TestFunctionsCallOnlyWhatTheirRolesAllow(t *testing.T) {
	ctx := context.Background()
	// The seeds go through a runtime of their own, whose calls are nobody's.
	clients, s, rt := onEmulators(t)
	env := s.Env()
	env[awsruntime.EnvPathStyle] = "true"
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}

	// The legacy chat's public bucket: a second bucket of the S3 emulator,
	// which only the migration function may read.
	legacyBucket := awstest.NewBucket(t, clients.S3, "legacy")
	legacyEnv := map[string]string{
		migrate.EnvLegacySource:    "s3://" + legacyBucket,
		migrate.EnvLegacyURLPrefix: "https://old-chat.nyc3.digitaloceanspaces.com/",
	}
	recs := map[string]*recorder{}
	options := func(name string) lambdafn.Options {
		r := newRecorder(s)
		r.legacy = legacyBucket
		recs[name] = r
		return lambdafn.Options{APIOptions: []func(*middleware.Stack) error{r.install}, Log: io.Discard}
	}
	ops := map[string]lambdafn.Handler{}
	jobFns := map[string]lambdafn.JobHandler{}
	var worker migratefn.Handler
	var err error
	for _, name := range lambdafn.Names() {
		if name == migratefn.Name {
			worker, err = wired.BuildWorkerWith(ctx, options(name), name, func(k string) string {
				if v, ok := legacyEnv[k]; ok {
					return v
				}
				return getenv(k)
			})
		} else if _, isJob := jobs.ByName(name); isJob {
			jobFns[name], err = wired.BuildJobWith(ctx, options(name), name, getenv)
		} else {
			ops[name], err = wired.BuildWith(ctx, options(name), name, getenv)
		}
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
	}
	// chat-signed-url as the stack runs it with the chat CDN: the same
	// function, whose cold start reads the signing key from Secrets
	// Manager (a stand-in on loopback); its calls count as the function's.
	cdnEnv, _, _ := chatCDN(t)
	cdnOpts := lambdafn.Options{APIOptions: []func(*middleware.Stack) error{recs["chat-signed-url"].install}, Log: io.Discard}
	cdnSignedURL, err := wired.BuildWith(ctx, cdnOpts, "chat-signed-url", func(k string) string {
		if v, ok := cdnEnv[k]; ok {
			return v
		}
		return getenv(k)
	})
	if err != nil {
		t.Fatalf("build chat-signed-url with the chat CDN: %v", err)
	}

	target := sampleTarget(t, rt)
	if err := samples.Seed(ctx, target); err != nil {
		t.Fatal(err)
	}
	invoke := func(h lambdafn.Handler, op string, ev events.APIGatewayV2HTTPRequest, want int) {
		t.Helper()
		resp, err := h(ctx, ev)
		if err != nil || resp.StatusCode != want {
			t.Errorf("%s: %d %s %v, want %d", op, resp.StatusCode, resp.Body, err, want)
		}
	}
	for _, op := range samples.Order {
		if op == "signed-url" {
			if err := samples.SeedKey(ctx, target); err != nil {
				t.Fatal(err)
			}
		}
		invoke(ops[op], op, loadEvent(t, op), samples.Status[op])
		if op == "chat-signed-url" {
			invoke(cdnSignedURL, op+" through the chat CDN", loadEvent(t, op), samples.Status[op])
		}
	}
	// The paths the samples do not take, each through the function that
	// takes it; what they start from is written through the unrecorded
	// runtime.
	paths := iamPaths{t: t, rt: rt, clients: clients, s: s, ops: ops}
	paths.run(ctx)
	paths.migrate(ctx, worker, legacyBucket)

	// What the cleanup job finds due: a session that expired, a key that
	// expired and two uploads abandoned, all written by a service whose
	// clock is three hours behind.
	past, err := awsruntime.New(clients, s, core.Config{}, func() time.Time { return time.Now().Add(-3 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	paths.rt = past
	paths.due(ctx)
	for _, name := range slices.Sorted(maps.Keys(jobFns)) {
		res, err := jobFns[name](ctx, loadScheduled(t, name))
		if err != nil {
			t.Errorf("%s, its sample event: %v", name, err)
		}
		if c := res.Cleanup; name == "cleanup" && (c == nil || c.SharesExpired == 0 || c.KeysDeleted == 0 || c.UploadsAborted < 2) {
			t.Errorf("cleanup: %+v, want a session expired, a key deleted and two uploads abandoned", c)
		}
	}

	perms := lambdafn.Permissions()
	for _, name := range lambdafn.Names() {
		r := recs[name]
		for _, b := range r.bad {
			t.Errorf("%s: %s", name, b)
		}
		grants := perms[name].Grants()
		used := r.used()
		for _, g := range used {
			if !slices.Contains(grants, g) {
				t.Errorf("%s calls %v, which needs %q: its role (lambdafn.Permissions) does not allow it, and AWS would answer AccessDenied",
					name, r.calls[g], g)
			}
		}
		var unused []string
		for _, g := range grants {
			if !slices.Contains(used, g) {
				unused = append(unused, g)
			}
		}
		want := slices.Sorted(maps.Keys(unexercised[name]))
		if !slices.Equal(unused, want) {
			t.Errorf("%s: no call used %q; unexercised explains %q: remove a permission nobody uses, or explain it", name, unused, want)
		}
		if len(unused) > 0 {
			sort.Strings(unused)
			t.Logf("%s: granted, never called here: %s", name, strings.Join(unused, ", "))
		}
	}
}

// iamPaths drive the functions through the paths their sample events do
// not take, so that every grant of lambdafn.Permissions is used by some
// call.
type iamPaths struct {
	t       *testing.T
	rt      *awsruntime.Runtime // writes what the paths start from, unrecorded
	clients awsruntime.Clients
	s       awsruntime.Settings
	ops     map[string]lambdafn.Handler
}

func (p iamPaths) invoke(op string, ev events.APIGatewayV2HTTPRequest, want int) map[string]any {
	p.t.Helper()
	resp, err := p.ops[op](context.Background(), ev)
	if err != nil || resp.StatusCode != want {
		p.t.Errorf("%s as %s: %d %s %v, want %d", op, ev.RequestContext.Authorizer.JWT.Claims["sub"], resp.StatusCode, resp.Body, err, want)
	}
	var body map[string]any
	json.Unmarshal([]byte(resp.Body), &body)
	return body
}

// put stores data at key as a client that ignores its presigned URL would
// not be able to: another object than the one declared.
func (p iamPaths) put(ctx context.Context, key string, data []byte) {
	p.t.Helper()
	if _, err := p.clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.s.Bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		p.t.Fatalf("put %s: %v", key, err)
	}
}

// upload stores a ready photo of patient through the unrecorded runtime.
func (p iamPaths) upload(ctx context.Context, patient core.Caller) string {
	p.t.Helper()
	data := bytes.Repeat([]byte("ciphertext"), 100)
	sum := sha256.Sum256(data)
	up, err := p.rt.Service.PresignPhotoUpload(ctx, patient, core.PhotoUploadInput{Angle: "CROWN", ContentType: "image/jpeg", Size: int64(len(data)), SHA256: sum[:], DataKey: make([]byte, 32)})
	if err != nil {
		p.t.Fatal(err)
	}
	p.put(ctx, up.Photo.ObjectKey(), data)
	if _, err := p.rt.Service.FinalizePhoto(ctx, patient, up.Photo.ID); err != nil {
		p.t.Fatal(err)
	}
	return up.Photo.ID
}

// share shares a new photo of patient with pro and opens an access on a
// new device.
func (p iamPaths) share(ctx context.Context, patient, pro core.Caller, expiresIn time.Duration) (core.Access, string) {
	p.t.Helper()
	photo := p.upload(ctx, patient)
	sh, _, err := p.rt.Service.CreateShare(ctx, patient, core.ShareInput{ProfessionalID: pro.ID, PhotoIDs: []string{photo}, ExpiresIn: expiresIn, MaxViews: 5, ScreenshotPolicy: core.ScreenshotWarn})
	if err != nil {
		p.t.Fatal(err)
	}
	dev, err := client.NewDevice(core.KEMX25519)
	if err != nil {
		p.t.Fatal(err)
	}
	a, err := p.rt.Service.OpenAccess(ctx, pro, sh.ID, core.DeviceInput{KEM: dev.KEM, PublicKey: dev.Private.PublicKey().Bytes(), Fingerprint: dev.Fingerprint})
	if err != nil {
		p.t.Fatal(err)
	}
	return a, photo
}

func (p iamPaths) run(ctx context.Context) {
	patient := core.Caller{ID: "pat-iam", Role: core.RolePatient, RequestID: "iam"}
	pro := core.Caller{ID: "pro-iam", Role: core.RoleProfessional, RequestID: "iam"}
	clinic := core.Caller{ID: "clinic-iam", Role: core.RoleClinic, RequestID: "iam"}

	// A stranger's request for the chat image: counted toward the denied
	// records' limit, then recorded in the patient's chain.
	p.invoke("chat-signed-url", as(loadEvent(p.t, "chat-signed-url"), "pro-stranger", core.RoleProfessional,
		map[string]string{"id": samples.ChatImage}, nil), 404)
	// And for the legacy chat image's old URL: the same.
	p.invoke("chat-resolve", as(loadEvent(p.t, "chat-resolve"), "pro-stranger", core.RoleProfessional,
		nil, map[string]string{"url": samples.LegacyURL}), 404)
	// The professional's own lists: sessions granted to them, their
	// history; the patient's verification of their chain.
	p.invoke("list-sessions", as(loadEvent(p.t, "list-sessions"), samples.Professional, core.RoleProfessional, nil, nil), 200)
	p.invoke("access-history", as(loadEvent(p.t, "access-history"), samples.Professional, core.RoleProfessional, nil, nil), 200)
	p.invoke("verify-audit", as(loadEvent(p.t, "verify-audit"), samples.Patient, core.RolePatient, nil, nil), 200)

	// Uploads whose object is not the one declared: finalize deletes it.
	data := bytes.Repeat([]byte("declared"), 64)
	sum := sha256.Sum256(data)
	up, err := p.rt.Service.PresignPhotoUpload(ctx, patient, core.PhotoUploadInput{Angle: "CROWN", ContentType: "image/jpeg", Size: int64(len(data)), SHA256: sum[:], DataKey: make([]byte, 32)})
	if err != nil {
		p.t.Fatal(err)
	}
	p.put(ctx, up.Photo.ObjectKey(), bytes.Repeat([]byte("another!"), 64))
	p.invoke("finalize-upload", as(loadEvent(p.t, "finalize-upload"), patient.ID, core.RolePatient, map[string]string{"photo_id": up.Photo.ID}, nil), 409)
	now := time.Now().UTC()
	if _, _, err := p.rt.Service.RegisterAppointment(ctx, clinic, "appt-iam", core.AppointmentInput{PatientID: patient.ID, ProfessionalIDs: []string{pro.ID}, StartsAt: now, EndsAt: now.Add(time.Hour)}); err != nil {
		p.t.Fatal(err)
	}
	ci, err := p.rt.Service.CreateChatUpload(ctx, patient, core.ChatUploadInput{AppointmentID: "appt-iam", ContentType: "image/png", Size: int64(len(data)), SHA256: sum[:]})
	if err != nil {
		p.t.Fatal(err)
	}
	p.put(ctx, ci.Image.ObjectKey(), bytes.Repeat([]byte("another!"), 64))
	p.invoke("chat-finalize", as(loadEvent(p.t, "chat-finalize"), patient.ID, core.RolePatient, map[string]string{"id": ci.Image.ID}, nil), 409)

	// The detectors notify the patient when a score crosses the warning
	// (a report of a screenshot and a copy attempt), and revoke past the
	// threshold (key claims refused as used): both publish.
	a, photo := p.share(ctx, patient, pro, time.Hour)
	report := map[string]any{"events": []map[string]any{{"type": "screenshot", "at": now}, {"type": "copy_attempt", "at": now}}}
	if b := p.invoke("report-activity", as(loadEvent(p.t, "report-activity"), pro.ID, core.RoleProfessional, map[string]string{"access_id": a.ID}, report), 200); b["action"] != "warned" {
		p.t.Errorf("report of a screenshot and a copy attempt: %v, want warned", b)
	}
	k, err := p.rt.Service.IssueKey(ctx, pro, a.ID, photo)
	if err != nil {
		p.t.Fatal(err)
	}
	claim := as(loadEvent(p.t, "signed-url"), pro.ID, core.RoleProfessional, map[string]string{"key_id": k.Key.ID}, nil)
	p.invoke("signed-url", claim, 200)
	for range 2 {
		p.invoke("signed-url", claim, 410)
	}
	if sh, err := p.rt.Store.GetShare(ctx, a.ShareID); err != nil || sh.Status != core.ShareRevoked {
		p.t.Errorf("share after refused claims past the threshold: %q %v, want revoked", sh.Status, err)
	}
}

// due writes, through a runtime whose clock is behind, what the cleanup job
// then finds due: a session past its expiry, an expired key, an upload of a
// photo and one of a chat image never finished.
func (p iamPaths) due(ctx context.Context) {
	patient := core.Caller{ID: "pat-iam-due", Role: core.RolePatient, RequestID: "iam"}
	pro := core.Caller{ID: "pro-iam-due", Role: core.RoleProfessional, RequestID: "iam"}
	clinic := core.Caller{ID: "clinic-iam", Role: core.RoleClinic, RequestID: "iam"}
	a, photo := p.share(ctx, patient, pro, time.Hour)
	if _, err := p.rt.Service.IssueKey(ctx, pro, a.ID, photo); err != nil {
		p.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("never sent"))
	if _, err := p.rt.Service.PresignPhotoUpload(ctx, patient, core.PhotoUploadInput{Angle: "CROWN", ContentType: "image/jpeg", Size: 10, SHA256: sum[:], DataKey: make([]byte, 32)}); err != nil {
		p.t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, _, err := p.rt.Service.RegisterAppointment(ctx, clinic, "appt-iam-due", core.AppointmentInput{PatientID: patient.ID, ProfessionalIDs: []string{pro.ID}, StartsAt: now, EndsAt: now.Add(time.Hour)}); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.rt.Service.CreateChatUpload(ctx, patient, core.ChatUploadInput{AppointmentID: "appt-iam-due", ContentType: "image/png", Size: 10, SHA256: sum[:]}); err != nil {
		p.t.Fatal(err)
	}
}

// migrate runs the migration function on its sample event (the legacy
// object put in the legacy bucket first), then again (already done), then
// on a line whose checksum the object does not match: its copy is deleted
// and its import discarded.
func (p iamPaths) migrate(ctx context.Context, worker migratefn.Handler, legacyBucket string) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("an old chat image "), 200)...)
	for _, key := range []string{"images/2023/03/5d1e7a90.png", "images/2023/03/9f00c2d1.png"} {
		if _, err := p.clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(legacyBucket), Key: aws.String(key), Body: bytes.NewReader(png)}); err != nil {
			p.t.Fatalf("put legacy %s: %v", key, err)
		}
	}
	b, err := os.ReadFile("../events/worker/migrate-chat-image.json")
	if err != nil {
		p.t.Fatal(err)
	}
	var it migrate.Item
	if err := json.Unmarshal(b, &it); err != nil {
		p.t.Fatal(err)
	}
	for _, want := range []string{migrate.Migrated, migrate.AlreadyDone} {
		if res, err := worker(ctx, it); err != nil || res.Outcome != want {
			p.t.Errorf("migrate-chat-image, its sample event: %+v %v, want %s", res, err, want)
		}
	}
	wrong := sha256.Sum256([]byte("other bytes"))
	bad := migrate.Item{Index: 1, Format: legacy.JSONL, ClinicID: it.ClinicID, Run: it.Run, Record: json.RawMessage(fmt.Sprintf(
		`{"message_id":"m-2","appointment_id":%q,"sender_id":%q,"url":"https://old-chat.nyc3.digitaloceanspaces.com/images/2023/03/9f00c2d1.png","sent_at":"2023-03-14T09:30:00Z","sha256":"%x"}`,
		samples.Appointment, samples.Patient, wrong[:]))}
	if res, err := worker(ctx, bad); err != nil || res.Outcome != migrate.Failed || res.Reason != legacy.ReasonChecksumMismatch {
		p.t.Errorf("migrate-chat-image, a line of another checksum: %+v %v, want failed %s", res, err, legacy.ReasonChecksumMismatch)
	}
}

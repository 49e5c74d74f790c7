package stack

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/blob/s3blob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
	"github.com/medshare/medshare/shared/store/dynamostore"
)

// TestStack synthesizes the default stack once and checks one concern per
// subtest.
func TestStack(t *testing.T) {
	s := synth(t, nil)
	t.Run("keys", func(t *testing.T) { testKeys(t, s) })
	t.Run("storage", func(t *testing.T) { testStorage(t, s) })
	t.Run("data", func(t *testing.T) { testData(t, s) })
	t.Run("backup", func(t *testing.T) { testBackup(t, s) })
	t.Run("events", func(t *testing.T) { testEvents(t, s) })
	t.Run("functions", func(t *testing.T) { testFunctions(t, s) })
	t.Run("iam", func(t *testing.T) { testIAM(t, s) })
	t.Run("api", func(t *testing.T) { testAPI(t, s) })
	t.Run("routes", func(t *testing.T) { testRoutes(t, s) })
	t.Run("portal", func(t *testing.T) { testPortal(t, s) })
	t.Run("jobs", func(t *testing.T) { testJobs(t, s) })
	t.Run("monitoring", func(t *testing.T) { testMonitoring(t, s) })
	t.Run("outputs", func(t *testing.T) { testOutputs(t, s) })
	t.Run("nag", func(t *testing.T) { testNag(t, s) })
	t.Run("dependencies", func(t *testing.T) { testDependencies(t, s) })
}

func only(t *testing.T, s *synthesized, typ string) (string, map[string]any) {
	t.Helper()
	rs := s.resources(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	for id, r := range rs {
		return id, r
	}
	return "", nil
}

func testKeys(t *testing.T, s *synthesized) {
	keys := s.resources("AWS::KMS::Key")
	if len(keys) != 2 {
		t.Fatalf("%d keys, want 2 (data, logs)", len(keys))
	}
	for id, k := range keys {
		if props(k)["EnableKeyRotation"] != true {
			t.Errorf("key %s: rotation is off", s.name(id))
		}
		if k["DeletionPolicy"] != "Retain" {
			t.Errorf("key %s: deletion policy %v, want Retain", s.name(id), k["DeletionPolicy"])
		}
	}
	var dataID string
	for id, n := range s.ids {
		if n == "key" {
			dataID = id
		}
	}
	policy := props(keys[dataID])["KeyPolicy"].(map[string]any)
	var denies []string
	for _, st := range asList(policy["Statement"]) {
		st := st.(map[string]any)
		if st["Effect"] == "Deny" && strings.HasPrefix(str(st["Sid"]), "DirectUse") {
			denies = append(denies, str(st["Sid"])+": "+s.conditions(st["Condition"]))
			if !slices.Contains(asList(st["Action"]), any("kms:Decrypt")) || !slices.Contains(asList(st["Action"]), any("kms:Encrypt")) {
				t.Errorf("deny %s does not cover Encrypt and Decrypt: %v", st["Sid"], st["Action"])
			}
		}
	}
	sort.Strings(denies)
	account := "StringEquals{aws:PrincipalAccount=${AccountId}}"
	want := []string{
		"DirectUseAllowsNoOtherContextKey: ForAnyValue:StringNotLike{kms:EncryptionContextKeys=aws:*,owner,photo} " + account,
		"DirectUseRequiresContextKey-owner: ForAllValues:StringNotEquals{kms:EncryptionContextKeys=owner} ForAllValues:StringNotLike{kms:EncryptionContextKeys=aws:*} " + account,
		"DirectUseRequiresContextKey-photo: ForAllValues:StringNotEquals{kms:EncryptionContextKeys=photo} ForAllValues:StringNotLike{kms:EncryptionContextKeys=aws:*} " + account,
	}
	if diff := cmp.Diff(want, denies); diff != "" {
		t.Errorf("data key policy denials (-want +got):\n%s", diff)
	}
	testPhotoContext(t, s, policy)
	// The context keys are the ones the key ring uses.
	ctx := core.Photo{ID: "ph", OwnerID: "o"}.EncryptionContext()
	var keysOfCtx []string
	for k := range ctx {
		keysOfCtx = append(keysOfCtx, k)
	}
	sort.Strings(keysOfCtx)
	wantKeys := slices.Clone(EncryptionContextKeys)
	sort.Strings(wantKeys)
	if !slices.Equal(keysOfCtx, wantKeys) {
		t.Errorf("EncryptionContextKeys = %v, the key ring uses %v", wantKeys, keysOfCtx)
	}
}

// testPhotoContext checks the data key's guard of the key ring's context:
// under a context naming photo (or owner), Decrypt is left to the
// functions that unwrap photo keys, Encrypt to those that wrap them, and
// every other use of the key's material to no one, whoever asks; and the
// policy gives no one else anything.
func testPhotoContext(t *testing.T, s *synthesized, policy map[string]any) {
	t.Helper()
	// Who wraps and who unwraps, from the reviewed IAM table: the
	// functions allowed kms:Encrypt and kms:Decrypt under the photo context.
	var wrappers, unwrappers []string
	for name, lines := range wantIAM() {
		for _, l := range lines {
			switch l {
			case "kms:Encrypt" + photoCtx:
				wrappers = append(wrappers, "role:"+name)
			case "kms:Decrypt" + photoCtx:
				unwrappers = append(unwrappers, "role:"+name)
			}
		}
	}
	sort.Strings(wrappers)
	sort.Strings(unwrappers)
	if diff := cmp.Diff([]string{"role:upload-presign"}, wrappers); diff != "" {
		t.Errorf("functions that wrap photo keys (-want +got):\n%s", diff)
	}
	// A grantee's view (issue-key) and the owner's own read (photo-key).
	if diff := cmp.Diff([]string{"role:issue-key", "role:photo-key"}, unwrappers); diff != "" {
		t.Errorf("functions that unwrap photo keys (-want +got):\n%s", diff)
	}
	photo := "ForAnyValue:StringEquals{kms:EncryptionContextKeys=owner,photo}"
	except := func(roles []string) string {
		return "ArnNotEquals{aws:PrincipalArn=" + strings.Join(roles, ",") + "} "
	}
	want := map[string]string{
		SidPhotoDecrypt: "kms:Decrypt if " + except(unwrappers) + photo,
		SidPhotoEncrypt: "kms:Encrypt if " + except(wrappers) + photo,
		SidPhotoOther: "kms:GenerateDataKey,kms:GenerateDataKeyPair,kms:GenerateDataKeyPairWithoutPlaintext," +
			"kms:GenerateDataKeyWithoutPlaintext,kms:ReEncryptFrom,kms:ReEncryptTo if " + photo,
	}
	got := map[string]string{}
	// exempt maps each crypto action to the principals a Deny under the
	// photo context leaves it to ("" for no one); absent, nothing denies it.
	exempt := map[string][]string{}
	var allows []string
	for _, st := range asList(policy["Statement"]) {
		st := st.(map[string]any)
		cond := s.conditions(st["Condition"])
		principal := "?"
		if p, ok := st["Principal"].(map[string]any); ok && len(p) == 1 && p["AWS"] != nil {
			principal = s.render(p["AWS"])
		}
		if st["Effect"] == "Allow" {
			allows = append(allows, principal+" "+s.render(st["Action"])+" "+s.render(st["Resource"])+" "+cond)
			continue
		}
		if strings.Contains(cond, "aws:PrincipalArn") && !strings.HasPrefix(str(st["Sid"]), "PhotoContext") {
			t.Errorf("deny %s exempts principals: %s", st["Sid"], cond)
		}
		if !strings.Contains(cond, photo) {
			continue
		}
		if principal != "*" || s.render(st["Resource"]) != "*" || st["NotPrincipal"] != nil || st["NotAction"] != nil {
			t.Errorf("deny %s is not on every principal and the whole key: %v", st["Sid"], st)
		}
		got[str(st["Sid"])] = s.render(st["Action"]) + " if " + cond
		c, _ := st["Condition"].(map[string]any)
		var roles []string
		if ne, ok := c["ArnNotEquals"].(map[string]any); ok {
			for _, r := range asList(ne["aws:PrincipalArn"]) {
				roles = append(roles, s.render(r))
			}
		}
		sort.Strings(roles) // a set: the template lists them in FunctionNames() order
		for _, a := range asList(st["Action"]) {
			exempt[str(a)] = append(exempt[str(a)], strings.Join(roles, ","))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data key's photo-context denials (-want +got):\n%s", diff)
	}
	// Each crypto action is denied under the photo context by exactly one
	// statement, which leaves Decrypt to the unwrappers, Encrypt to the
	// wrappers and the rest to no one.
	wantExempt := map[string][]string{}
	for _, a := range cryptoActions {
		wantExempt[a] = []string{""}
	}
	wantExempt["kms:Decrypt"] = []string{strings.Join(unwrappers, ",")}
	wantExempt["kms:Encrypt"] = []string{strings.Join(wrappers, ",")}
	if diff := cmp.Diff(wantExempt, exempt); diff != "" {
		t.Errorf("principals exempted from the photo-context denials (-want +got):\n%s", diff)
	}
	// The one Allow is the account's: kms:* for the root, which keeps the
	// policy changeable and delegates to IAM.
	wantAllows := []string{"arn:${Partition}:iam::${AccountId}:root kms:* * "}
	if diff := cmp.Diff(wantAllows, allows); diff != "" {
		t.Errorf("data key policy's Allow statements (-want +got):\n%s", diff)
	}
}

func testStorage(t *testing.T, s *synthesized) {
	buckets := s.resources("AWS::S3::Bucket")
	if len(buckets) != 4 {
		t.Fatalf("%d buckets, want 4 (objects, access logs, and the portal's bundle and CDN logs)", len(buckets))
	}
	var objID, logID string
	for id, n := range s.ids {
		switch n {
		case "bucket":
			objID = id
		case "logbucket":
			logID = id
		}
	}
	for id, b := range buckets {
		p := props(b)
		pab := p["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if pab[k] != true {
				t.Errorf("bucket %s: %s is not true", s.name(id), k)
			}
		}
		if b["DeletionPolicy"] != "Retain" {
			t.Errorf("bucket %s is not retained", s.name(id))
		}
	}
	s.template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{map[string]any{
			"BucketKeyEnabled": true,
			"ServerSideEncryptionByDefault": map[string]any{
				"SSEAlgorithm":   "aws:kms",
				"KMSMasterKeyID": map[string]any{"Fn::GetAtt": []any{keyID(s, "key"), "Arn"}},
			},
		}}},
		"VersioningConfiguration": map[string]any{"Status": "Enabled"},
		"LoggingConfiguration":    map[string]any{"DestinationBucketName": map[string]any{"Ref": logID}},
		"LifecycleConfiguration": map[string]any{"Rules": []any{assertions.Match_ObjectLike(&map[string]any{
			"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1},
			"NoncurrentVersionExpiration":    map[string]any{"NoncurrentDays": DefaultNoncurrentVersionDays},
			"Status":                         "Enabled",
		}), assertions.Match_ObjectLike(&map[string]any{
			// The tombstones of deleted keys: the only empty objects.
			"ObjectSizeLessThan": 1,
			"ExpirationInDays":   TombstoneDays,
			"Status":             "Enabled",
		})}},
	})
	// The bucket policy: TLS only, SigV4 only, signatures at most an hour old.
	var denies []string
	for _, st := range s.bucketStatements(objID) {
		if st["Effect"] == "Deny" {
			denies = append(denies, s.render(st["Action"])+" "+s.conditions(st["Condition"]))
		}
	}
	sort.Strings(denies)
	want := []string{
		"s3:* Bool{aws:SecureTransport=false}",
		"s3:* NumericGreaterThan{s3:signatureAge=3600000}",
		"s3:* NumericLessThan{s3:TlsVersion=1.2}",
		"s3:* StringNotEquals{s3:signatureversion=AWS4-HMAC-SHA256}",
		// Writes that ask for another encryption than the default (SSE-KMS
		// with the data key), each only when its header is present.
		"s3:PutObject Null{s3:x-amz-server-side-encryption=false} StringNotEquals{s3:x-amz-server-side-encryption=aws:kms}",
		"s3:PutObject Null{s3:x-amz-server-side-encryption-aws-kms-key-id=false} StringNotEquals{s3:x-amz-server-side-encryption-aws-kms-key-id=key}",
		"s3:PutObject Null{s3:x-amz-server-side-encryption-aws-kms-key-id=true; s3:x-amz-server-side-encryption=false}",
		"s3:PutObject Null{s3:x-amz-server-side-encryption-customer-algorithm=false}",
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, denies); diff != "" {
		t.Errorf("object bucket policy denials (-want +got):\n%s", diff)
	}
	if MaxSignatureAge < core.DefaultChatURLTTL.Milliseconds() || MaxSignatureAge < core.DefaultUploadTTL.Milliseconds() {
		t.Errorf("MaxSignatureAge %d ms is shorter than a URL the service hands out", MaxSignatureAge)
	}
	testPutEncryption(t, s, objID)
	// Without corsOrigins, the portal's origin is the only one; with them,
	// see TestExternalIssuerAndCORS.
	cors, _ := props(buckets[objID])["CorsConfiguration"].(map[string]any)
	var origins []string
	for _, r := range asList(cors["CorsRules"]) {
		if r, ok := r.(map[string]any); ok {
			origins = append(origins, s.render(r["AllowedOrigins"]))
		}
	}
	if diff := cmp.Diff([]string{"https://cdn"}, origins); diff != "" {
		t.Errorf("object bucket CORS origins (-want +got):\n%s", diff)
	}
}

// testPutEncryption evaluates the object bucket policy's denials of
// s3:PutObject against the encryption headers of a few writes: the
// service's own presigned PUT (s3blob.PresignPut), which relies on the
// bucket's default encryption and must pass, and writes that ask for
// another encryption, which must not.
func testPutEncryption(t *testing.T, s *synthesized, objID string) {
	t.Helper()
	var denies []map[string]any
	for _, st := range s.bucketStatements(objID) {
		if st["Effect"] == "Deny" && slices.Contains(asList(st["Action"]), any("s3:PutObject")) {
			if got := s.render(st["Resource"]); got != "bucket/*" {
				t.Errorf("deny %s is on %s, want every object (bucket/*)", st["Sid"], got)
			}
			denies = append(denies, st)
		}
	}
	// denied says whether a PutObject whose request has the condition keys
	// ctx is denied: IAM's semantics of the operators, including that a
	// negated operator holds, and an ...IfExists one too, when its key is
	// absent.
	denied := func(ctx map[string]string) (string, bool) {
		for _, st := range denies {
			all := true
			for op, kv := range st["Condition"].(map[string]any) {
				for k, v := range kv.(map[string]any) {
					val, present := ctx[k]
					want := s.render(v)
					var holds bool
					switch op {
					case "Null":
						holds = (want == "true") == !present
					case "StringEquals":
						holds = present && val == want
					case "StringNotEquals":
						holds = !present || val != want
					case "StringEqualsIfExists":
						holds = !present || val == want
					case "StringNotEqualsIfExists":
						holds = !present || val != want
					default:
						t.Fatalf("deny %s: operator %s is not modelled here", st["Sid"], op)
					}
					all = all && holds
				}
			}
			if all {
				return str(st["Sid"]), true
			}
		}
		return "", false
	}

	// The presigned PUT, as the functions sign it.
	client := s3.NewFromConfig(aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
	})
	store, err := s3blob.New(client, s3.NewPresignClient(client), "bucket")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("photo"))
	up, err := store.PresignPut(context.Background(), core.PhotoObjectKey("owner", "photo"), 5, sum[:], "image/jpeg", core.DefaultUploadTTL)
	if err != nil {
		t.Fatal(err)
	}
	presigned := map[string]string{}
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for k, v := range u.Query() {
		params[k] = strings.Join(v, ",")
	}
	for _, m := range []map[string]string{up.Headers, params} {
		for k, v := range m {
			if k := strings.ToLower(k); strings.HasPrefix(k, "x-amz-server-side-encryption") {
				presigned["s3:"+k] = v
			}
		}
	}
	if sid, ok := denied(presigned); ok {
		t.Errorf("the service's presigned PUT (encryption headers %v) is denied by %s", presigned, sid)
	}

	const (
		sse      = "s3:x-amz-server-side-encryption"
		sseKey   = "s3:x-amz-server-side-encryption-aws-kms-key-id"
		sseCAlgo = "s3:x-amz-server-side-encryption-customer-algorithm"
	)
	for _, tc := range []struct {
		name   string
		ctx    map[string]string
		denied bool
	}{
		{"the bucket's default", map[string]string{}, false},
		{"SSE-KMS with the data key", map[string]string{sse: "aws:kms", sseKey: "key"}, false},
		{"SSE-S3", map[string]string{sse: "AES256"}, true},
		{"DSSE-KMS", map[string]string{sse: "aws:kms:dsse", sseKey: "key"}, true},
		{"SSE-KMS with the AWS managed key", map[string]string{sse: "aws:kms"}, true},
		{"SSE-KMS with another key", map[string]string{sse: "aws:kms", sseKey: "arn:aws:kms:us-east-1:111122223333:key/other"}, true},
		{"SSE-C", map[string]string{sseCAlgo: "AES256"}, true},
	} {
		if _, got := denied(tc.ctx); got != tc.denied {
			t.Errorf("PutObject with %s (%v): denied = %v, want %v", tc.name, tc.ctx, got, tc.denied)
		}
	}
}

func keyID(s *synthesized, name string) string {
	for id, n := range s.ids {
		if n == name {
			return id
		}
	}
	return ""
}

func testData(t *testing.T, s *synthesized) {
	_, table := only(t, s, "AWS::DynamoDB::Table")
	if table["DeletionPolicy"] != "Retain" {
		t.Errorf("table deletion policy %v, want Retain", table["DeletionPolicy"])
	}
	p := props(table)
	in := dynamostore.TableInput("x")
	keySchema := func(ks any) []string {
		var out []string
		for _, k := range asList(ks) {
			k := k.(map[string]any)
			out = append(out, str(k["AttributeName"])+":"+str(k["KeyType"]))
		}
		return out
	}
	var wantKeys []string
	for _, k := range in.KeySchema {
		wantKeys = append(wantKeys, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	if diff := cmp.Diff(wantKeys, keySchema(p["KeySchema"])); diff != "" {
		t.Errorf("key schema (-want +got):\n%s", diff)
	}
	var wantAttrs, gotAttrs []string
	for _, a := range in.AttributeDefinitions {
		wantAttrs = append(wantAttrs, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	for _, a := range asList(p["AttributeDefinitions"]) {
		a := a.(map[string]any)
		gotAttrs = append(gotAttrs, str(a["AttributeName"])+":"+str(a["AttributeType"]))
	}
	sort.Strings(wantAttrs)
	sort.Strings(gotAttrs)
	if diff := cmp.Diff(wantAttrs, gotAttrs); diff != "" {
		t.Errorf("attribute definitions (-want +got):\n%s", diff)
	}
	var wantGSI, gotGSI []string
	for _, g := range in.GlobalSecondaryIndexes {
		var ks []string
		for _, k := range g.KeySchema {
			ks = append(ks, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
		}
		wantGSI = append(wantGSI, aws.ToString(g.IndexName)+" "+strings.Join(ks, ",")+" "+string(g.Projection.ProjectionType))
	}
	for _, g := range asList(p["GlobalSecondaryIndexes"]) {
		g := g.(map[string]any)
		gotGSI = append(gotGSI, str(g["IndexName"])+" "+strings.Join(keySchema(g["KeySchema"]), ",")+" "+
			str(g["Projection"].(map[string]any)["ProjectionType"]))
	}
	sort.Strings(wantGSI)
	sort.Strings(gotGSI)
	if diff := cmp.Diff(wantGSI, gotGSI); diff != "" {
		t.Errorf("global secondary indexes (-want +got):\n%s", diff)
	}
	s.template.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
		"BillingMode":                      "PAY_PER_REQUEST",
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		"SSESpecification": map[string]any{
			"SSEEnabled": true, "SSEType": "KMS",
			"KMSMasterKeyId": map[string]any{"Fn::GetAtt": []any{keyID(s, "key"), "Arn"}},
		},
		"TimeToLiveSpecification":   map[string]any{"AttributeName": dynamostore.AttrTTL, "Enabled": true},
		"DeletionProtectionEnabled": true,
	})
	// The cleanup index is the time index of the schema.
	if !strings.Contains(strings.Join(gotGSI, "\n"), lambdafn.TimeIndex()+" ") {
		t.Errorf("time index %q is not an index of the table: %v", lambdafn.TimeIndex(), gotGSI)
	}
}

// testBackup checks the table's AWS Backup plan: a daily backup kept at
// least BackupRetentionDays (35) days, into a vault encrypted with the data
// key, retained, whose recovery points no one may delete early, taken by a
// role only AWS Backup can assume, with no restore permission.
func testBackup(t *testing.T, s *synthesized) {
	_, vault := only(t, s, "AWS::Backup::BackupVault")
	if vault["DeletionPolicy"] != "Retain" || vault["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("vault deletion policy %v, update-replace policy %v, want Retain", vault["DeletionPolicy"], vault["UpdateReplacePolicy"])
	}
	vp := props(vault)
	if got := s.render(vp["EncryptionKeyArn"]); got != "key" {
		t.Errorf("vault encrypted with %q, want the data key", got)
	}
	var vaultDenies []string
	for _, st := range asList(vp["AccessPolicy"].(map[string]any)["Statement"]) {
		st := st.(map[string]any)
		if st["Effect"] == "Deny" && s.render(st["Principal"].(map[string]any)["AWS"]) == "*" && st["Condition"] == nil {
			vaultDenies = append(vaultDenies, s.render(st["Action"]))
		}
	}
	if diff := cmp.Diff([]string{"backup:DeleteRecoveryPoint,backup:UpdateRecoveryPointLifecycle"}, vaultDenies); diff != "" {
		t.Errorf("vault access policy denials to everyone (-want +got):\n%s", diff)
	}

	planID, plan := only(t, s, "AWS::Backup::BackupPlan")
	daily := false
	for _, r := range asList(props(plan)["BackupPlan"].(map[string]any)["BackupPlanRule"]) {
		r := r.(map[string]any)
		if s.render(r["TargetBackupVault"]) != "vault" {
			t.Errorf("rule %v backs up into %v, want the vault", r["RuleName"], r["TargetBackupVault"])
		}
		lc, _ := r["Lifecycle"].(map[string]any)
		if _, cold := lc["MoveToColdStorageAfterDays"]; cold {
			t.Errorf("rule %v moves backups to cold storage", r["RuleName"])
		}
		// cron(minutes hours day-of-month month day-of-week year)
		f := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(str(r["ScheduleExpression"]), "cron("), ")"))
		if len(f) == 6 && f[2] == "*" && f[3] == "*" && (f[4] == "?" || f[4] == "*") && f[5] == "*" &&
			lc["DeleteAfterDays"] != nil && lc["DeleteAfterDays"].(float64) >= 35 {
			daily = true
		}
	}
	if !daily {
		t.Errorf("plan %s has no daily rule keeping backups 35 days or more: %v", planID, props(plan))
	}
	if BackupRetentionDays < 35 {
		t.Errorf("BackupRetentionDays = %d, want at least 35", BackupRetentionDays)
	}

	_, sel := only(t, s, "AWS::Backup::BackupSelection")
	sp := props(sel)
	if got := s.render(sp["BackupPlanId"]); got != planID {
		t.Errorf("selection belongs to %s, want the plan %s", got, planID)
	}
	bs := sp["BackupSelection"].(map[string]any)
	if got := s.render(bs["Resources"]); got != "table" {
		t.Errorf("selection backs up %q, want the table only", got)
	}
	if bs["ListOfTags"] != nil || bs["Conditions"] != nil {
		t.Errorf("selection also selects by tag or condition: %v", bs)
	}
	roleID := s.render(bs["IamRoleArn"])
	role, ok := s.resources("AWS::IAM::Role")[roleID]
	if !ok {
		t.Fatalf("selection's role %s is not a role of the stack", roleID)
	}
	rp := props(role)
	for _, st := range asList(rp["AssumeRolePolicyDocument"].(map[string]any)["Statement"]) {
		pr := st.(map[string]any)["Principal"].(map[string]any)
		if pr["Service"] != "backup.amazonaws.com" || len(pr) != 1 {
			t.Errorf("backup role is assumable by %v, want only backup.amazonaws.com", pr)
		}
	}
	if got := s.render(rp["ManagedPolicyArns"]); got != "arn:${Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup" {
		t.Errorf("backup role's managed policies %s, want only AWSBackupServiceRolePolicyForBackup (no restores)", got)
	}
	if rp["Policies"] != nil {
		t.Errorf("backup role has inline policies: %v", rp["Policies"])
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for id, p := range s.resources(typ) {
			for _, r := range asList(props(p)["Roles"]) {
				if m, ok := r.(map[string]any); ok && str(m["Ref"]) == roleID {
					t.Errorf("policy %s is attached to the backup role", id)
				}
			}
		}
	}
	// The table is in a backup plan: no resource accepts cdk-nag's finding
	// that it is not.
	for id, r := range s.json["Resources"].(map[string]any) {
		md, _ := r.(map[string]any)["Metadata"].(map[string]any)
		nag, _ := md["cdk_nag"].(map[string]any)
		for _, sp := range asList(nag["rules_to_suppress"]) {
			if m, ok := sp.(map[string]any); ok && str(m["id"]) == "HIPAA.Security-DynamoDBInBackupPlan" {
				t.Errorf("%s suppresses HIPAA.Security-DynamoDBInBackupPlan", id)
			}
		}
	}
}

// testDependencies checks the order CloudFormation must follow where the
// data key's policy names the functions' roles: the key depends on the
// roles, so no role may depend, through Ref, Fn::GetAtt, Fn::Sub or
// DependsOn, on the key (the functions' policies, which name the key, are
// resources of their own). A cycle anywhere in the template already fails
// synth: assertions.Template_FromStack refuses an undeployable template.
func testDependencies(t *testing.T, s *synthesized) {
	res := s.json["Resources"].(map[string]any)
	sub := regexp.MustCompile(`\$\{([A-Za-z0-9]+)(\.[A-Za-z0-9.]+)?\}`)
	deps := map[string][]string{}
	var walk func(id string, v any)
	walk = func(id string, v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(id, x)
			}
		case map[string]any:
			for k, x := range v {
				switch k {
				case "Ref":
					if _, isRes := res[str(x)]; isRes {
						deps[id] = append(deps[id], str(x))
					}
				case "Fn::GetAtt":
					if l, ok := x.([]any); ok && len(l) > 0 {
						deps[id] = append(deps[id], str(l[0]))
					}
				case "Fn::Sub":
					tmpl := str(x)
					if l, ok := x.([]any); ok && len(l) > 0 {
						tmpl = str(l[0])
						walk(id, l[1:])
					}
					for _, m := range sub.FindAllStringSubmatch(tmpl, -1) {
						if _, isRes := res[m[1]]; isRes {
							deps[id] = append(deps[id], m[1])
						}
					}
				default:
					walk(id, x)
				}
			}
		}
	}
	for id, r := range res {
		r := r.(map[string]any)
		walk(id, r["Properties"])
		for _, d := range asList(r["DependsOn"]) {
			if d != nil {
				deps[id] = append(deps[id], str(d))
			}
		}
	}
	var reach func(id string, seen map[string]bool)
	reach = func(id string, seen map[string]bool) {
		for _, d := range deps[id] {
			if !seen[d] {
				seen[d] = true
				reach(d, seen)
			}
		}
	}
	key := keyID(s, "key")
	keyDeps := map[string]bool{}
	reach(key, keyDeps)
	for _, name := range FunctionNames() {
		role := logicalID(s.stack.Stack, s.stack.Functions.ByName[name].Role.Node().DefaultChild())
		seen := map[string]bool{}
		reach(role, seen)
		if seen[key] {
			t.Errorf("the role of %s depends on the data key", name)
		}
		if (name == "issue-key" || name == "upload-presign") && !keyDeps[role] {
			t.Errorf("the data key's policy does not name the role of %s", name)
		}
	}
}

func testEvents(t *testing.T, s *synthesized) {
	topicID := keyID(s, "topic")
	topic := s.resources("AWS::SNS::Topic")[topicID]
	if got := s.render(props(topic)["KmsMasterKeyId"]); got != "key" {
		t.Errorf("notification topic is encrypted with %q, want the data key", got)
	}
	for _, id := range []string{topicID, keyID(s, "alarmtopic")} {
		found := false
		for _, tp := range s.resources("AWS::SNS::TopicPolicy") {
			if s.render(props(tp)["Topics"]) != s.name(id) {
				continue
			}
			for _, st := range asList(props(tp)["PolicyDocument"].(map[string]any)["Statement"]) {
				st := st.(map[string]any)
				if st["Effect"] == "Deny" && s.conditions(st["Condition"]) == "Bool{aws:SecureTransport=false}" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("topic %s accepts publishers without TLS", s.name(id))
		}
	}
}

func testFunctions(t *testing.T, s *synthesized) {
	fns := s.resources("AWS::Lambda::Function")
	// Besides the routes' and jobs', the one function of the portal's
	// deployment (testPortal).
	if len(fns) != len(FunctionNames())+1 {
		t.Errorf("%d functions, want %d (routes and jobs) and the portal's deployment", len(fns), len(FunctionNames()))
	}
	ids := s.fnIDs()
	logsKey := keyID(s, "logskey")
	for _, name := range FunctionNames() {
		fn, ok := fns[ids[name]]
		if !ok {
			t.Errorf("no function %s", name)
			continue
		}
		p := props(fn)
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || s.render(p["Architectures"]) != "arm64" {
			t.Errorf("%s: runtime %v, handler %v, architectures %v; want provided.al2023, bootstrap, arm64",
				name, p["Runtime"], p["Handler"], p["Architectures"])
		}
		env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		got := map[string]string{}
		for k, v := range env {
			got[k] = s.render(v)
		}
		want := map[string]string{
			awsruntime.EnvTable: "table", awsruntime.EnvBucket: "bucket", awsruntime.EnvKeyID: "key", awsruntime.EnvTopicARN: "topic",
			"MEDSHARE_CHAT_URL_TTL": core.DefaultChatURLTTL.String(), "MEDSHARE_UPLOAD_TTL": core.DefaultUploadTTL.String(),
			// Declared for sam local's --env-vars, with values that change nothing.
			EnvEndpointURL: "", awsruntime.EnvPathStyle: "false",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: environment (-want +got):\n%s", name, diff)
		}
		lg := s.render(p["LoggingConfig"].(map[string]any)["LogGroup"])
		if lg != "logs:"+name {
			t.Errorf("%s logs to %s, want its own log group", name, lg)
		}
		// The code is the asset of <assetDir>/<name>: its bootstrap.
		if asset := s.stack.Functions.ByName[name]; asset == nil {
			t.Errorf("no construct for %s", name)
		}
	}
	for id, lg := range s.resources("AWS::Logs::LogGroup") {
		p := props(lg)
		if p["RetentionInDays"] != float64(DefaultLogRetentionDays) {
			t.Errorf("log group %s keeps logs %v days, want %d", s.name(id), p["RetentionInDays"], DefaultLogRetentionDays)
		}
		if s.render(p["KmsKeyId"]) != s.name(logsKey) {
			t.Errorf("log group %s is encrypted with %v, want the logs key", s.name(id), p["KmsKeyId"])
		}
	}
	// Each function's directory exists in the repository.
	for _, name := range FunctionNames() {
		if _, err := os.Stat(filepath.Join("..", "..", "functions", name, "main.go")); err != nil {
			t.Errorf("function %s has no functions/%s/main.go: %v", name, name, err)
		}
	}
}

func testAPI(t *testing.T, s *synthesized) {
	_, api := only(t, s, "AWS::ApiGatewayV2::Api")
	if props(api)["ProtocolType"] != "HTTP" {
		t.Errorf("API protocol %v, want HTTP", props(api)["ProtocolType"])
	}
	_, pool := only(t, s, "AWS::Cognito::UserPool")
	pp := props(pool)
	if pp["MfaConfiguration"] != "ON" {
		t.Errorf("user pool MFA %v, want ON", pp["MfaConfiguration"])
	}
	if pp["DeletionProtection"] != "ACTIVE" {
		t.Errorf("user pool deletion protection %v, want ACTIVE", pp["DeletionProtection"])
	}
	var groups []string
	for _, g := range s.resources("AWS::Cognito::UserPoolGroup") {
		groups = append(groups, str(props(g)["GroupName"]))
	}
	sort.Strings(groups)
	want := []string{string(core.RoleClinic), string(core.RolePatient), string(core.RoleProfessional)}
	if diff := cmp.Diff(want, groups); diff != "" {
		t.Errorf("user pool groups (-want +got):\n%s", diff)
	}
	_, auth := only(t, s, "AWS::ApiGatewayV2::Authorizer")
	ap := props(auth)
	poolID := logicalID(s.stack.Stack, s.stack.API.UserPool.Node().DefaultChild())
	clientID := logicalID(s.stack.Stack, s.stack.API.Client.Node().DefaultChild())
	if ap["AuthorizerType"] != "JWT" || s.render(ap["IdentitySource"]) != "$request.header.Authorization" {
		t.Errorf("authorizer %v, want JWT from the Authorization header", ap)
	}
	jwt := ap["JwtConfiguration"].(map[string]any)
	if got, want := s.render(jwt["Issuer"]), "https://cognito-idp.${Region}.amazonaws.com/"+poolID; got != want {
		t.Errorf("issuer %s, want %s", got, want)
	}
	if got := s.render(jwt["Audience"]); got != clientID+",portalclient" {
		t.Errorf("audience %s, want the app client %s and the portal's", got, clientID)
	}
	// The claim the edge reads is the one Cognito fills with the groups.
	if httpapi.ClaimGroups != "cognito:groups" || httpapi.ClaimSubject != "sub" {
		t.Errorf("the edge reads %s and %s; Cognito tokens carry sub and cognito:groups", httpapi.ClaimSubject, httpapi.ClaimGroups)
	}
	_, stage := only(t, s, "AWS::ApiGatewayV2::Stage")
	sp := props(stage)
	rs := sp["DefaultRouteSettings"].(map[string]any)
	if rs["ThrottlingRateLimit"] != float64(DefaultThrottleRate) || rs["ThrottlingBurstLimit"] != float64(DefaultThrottleBurst) {
		t.Errorf("stage throttling %v, want rate %d burst %d", rs, DefaultThrottleRate, DefaultThrottleBurst)
	}
	testPublicThrottling(t, s, DefaultThrottleRate, DefaultThrottleBurst)
	testAppClient(t, s)
	als := sp["AccessLogSettings"].(map[string]any)
	if s.render(als["DestinationArn"]) != logicalID(s.stack.Stack, s.stack.API.AccessLogs.Node().DefaultChild()) {
		t.Errorf("access logs go to %v", als["DestinationArn"])
	}
	var format map[string]string
	if err := json.Unmarshal([]byte(str(als["Format"])), &format); err != nil {
		t.Fatalf("access log format is not JSON: %v", err)
	}
	if !strings.Contains(str(als["Format"]), "$context.requestId") {
		t.Error("access log format has no request id")
	}
	for k, v := range format {
		lv := strings.ToLower(v)
		if strings.Contains(lv, "querystring") || strings.Contains(lv, "$context.path") || strings.Contains(lv, "$request") ||
			strings.Contains(lv, "header") || strings.Contains(lv, "body") {
			t.Errorf("access log field %s = %s may carry a query string, path, header or body", k, v)
		}
	}
}

// testPublicThrottling checks that each public route has throttling of its
// own, PublicThrottleRate and PublicThrottleBurst or the stage's if lower,
// and that the stage, whose settings name the route, is made after it.
func testPublicThrottling(t *testing.T, s *synthesized, stageRate, stageBurst int) {
	t.Helper()
	stageID, stage := only(t, s, "AWS::ApiGatewayV2::Stage")
	routeIDs := map[string]string{}
	for id, r := range s.resources("AWS::ApiGatewayV2::Route") {
		routeIDs[str(props(r)["RouteKey"])] = id
	}
	want := map[string]any{}
	var public []string
	for _, r := range httpapi.Routes() {
		if r.Public() {
			public = append(public, r.RouteKey())
			want[r.RouteKey()] = map[string]any{
				"ThrottlingRateLimit":    float64(min(PublicThrottleRate, stageRate)),
				"ThrottlingBurstLimit":   float64(min(PublicThrottleBurst, stageBurst)),
				"DetailedMetricsEnabled": true,
			}
			if !slices.Contains(asList(stage["DependsOn"]), any(routeIDs[r.RouteKey()])) {
				t.Errorf("stage %s does not depend on route %s, which its settings name", stageID, r.RouteKey())
			}
		}
	}
	if len(public) == 0 || !slices.Contains(public, "GET /health") {
		t.Fatalf("public routes %v, want GET /health among them", public)
	}
	if diff := cmp.Diff(want, props(stage)["RouteSettings"]); diff != "" {
		t.Errorf("stage route settings (-want +got):\n%s", diff)
	}
	if PublicThrottleRate >= DefaultThrottleRate || PublicThrottleBurst >= DefaultThrottleBurst {
		t.Errorf("public routes' throttling %d/%d is not below the stage's default %d/%d",
			PublicThrottleRate, PublicThrottleBurst, DefaultThrottleRate, DefaultThrottleBurst)
	}
}

// testAppClient checks the Cognito app client and what it lets users
// change: no attribute of their identity, an email only once verified, and
// refresh tokens that live a week at most.
func testAppClient(t *testing.T, s *synthesized) {
	t.Helper()
	client := s.resources("AWS::Cognito::UserPoolClient")[logicalID(s.stack.Stack, s.stack.API.Client.Node().DefaultChild())]
	cp := props(client)
	var write []string
	for _, a := range asList(cp["WriteAttributes"]) {
		write = append(write, str(a))
	}
	// An absent or empty list is every standard attribute to Cognito.
	if diff := cmp.Diff([]string{"locale"}, write); diff != "" {
		t.Errorf("attributes users may write (-want +got):\n%s", diff)
	}
	minutes := func(field, unitField string) float64 {
		v, _ := cp[field].(float64)
		switch unit := str(cp["TokenValidityUnits"].(map[string]any)[unitField]); unit {
		case "minutes":
			return v
		case "hours":
			return v * 60
		case "days":
			return v * 24 * 60
		default:
			t.Errorf("%s: unit %q", field, unit)
			return 0
		}
	}
	if got := minutes("RefreshTokenValidity", "RefreshToken"); got <= 0 || got > 7*24*60 {
		t.Errorf("refresh tokens live %v minutes, want at most 7 days", got)
	}
	for _, f := range [][2]string{{"AccessTokenValidity", "AccessToken"}, {"IdTokenValidity", "IdToken"}} {
		if got := minutes(f[0], f[1]); got <= 0 || got > 60 {
			t.Errorf("%s is %v minutes, want at most an hour", f[0], got)
		}
	}
	if cp["EnableTokenRevocation"] != true {
		t.Error("token revocation is off")
	}
	_, pool := only(t, s, "AWS::Cognito::UserPool")
	upd, _ := props(pool)["UserAttributeUpdateSettings"].(map[string]any)
	if got := s.render(upd["AttributesRequireVerificationBeforeUpdate"]); got != "email" {
		t.Errorf("attributes kept until the new value is verified: %q, want email", got)
	}
}

func testRoutes(t *testing.T, s *synthesized) {
	routes := s.resources("AWS::ApiGatewayV2::Route")
	integrations := s.resources("AWS::ApiGatewayV2::Integration")
	authID, _ := only(t, s, "AWS::ApiGatewayV2::Authorizer")
	fnIDs := s.fnIDs()
	byKey := map[string]map[string]any{}
	for _, r := range routes {
		key := str(props(r)["RouteKey"])
		if _, dup := byKey[key]; dup {
			t.Errorf("route %s defined twice", key)
		}
		byKey[key] = props(r)
	}
	if len(byKey) != len(httpapi.Routes()) {
		t.Errorf("%d routes, want %d (httpapi.Routes())", len(byKey), len(httpapi.Routes()))
	}
	for _, r := range httpapi.Routes() {
		rp, ok := byKey[r.RouteKey()]
		if !ok {
			t.Errorf("route %s (%s) is missing", r.RouteKey(), r.Op)
			continue
		}
		target := s.render(rp["Target"])
		integ, ok := integrations[strings.TrimPrefix(target, "integrations/")]
		if !ok {
			t.Errorf("route %s targets %s, not an integration", r.RouteKey(), target)
			continue
		}
		ip := props(integ)
		if got := s.render(ip["IntegrationUri"]); got != s.name(fnIDs[r.Op]) {
			t.Errorf("route %s invokes %s, want fn:%s", r.RouteKey(), got, r.Op)
		}
		if ip["IntegrationType"] != "AWS_PROXY" || ip["PayloadFormatVersion"] != "2.0" {
			t.Errorf("route %s: integration %v %v, want AWS_PROXY 2.0", r.RouteKey(), ip["IntegrationType"], ip["PayloadFormatVersion"])
		}
		switch {
		case r.Public():
			if rp["AuthorizationType"] != "NONE" {
				t.Errorf("public route %s has authorization %v", r.RouteKey(), rp["AuthorizationType"])
			}
		default:
			if rp["AuthorizationType"] != "JWT" || s.render(rp["AuthorizerId"]) != authID {
				t.Errorf("route %s: authorization %v by %v, want JWT by %s", r.RouteKey(), rp["AuthorizationType"], rp["AuthorizerId"], authID)
			}
		}
	}
	// API Gateway may invoke each routed function, from this API only.
	for _, r := range httpapi.Routes() {
		found := false
		for _, perm := range s.resources("AWS::Lambda::Permission") {
			pp := props(perm)
			if s.render(pp["FunctionName"]) == s.name(fnIDs[r.Op]) && pp["Principal"] == "apigateway.amazonaws.com" &&
				strings.Contains(s.render(pp["SourceArn"]), "execute-api") {
				found = true
			}
		}
		if !found {
			t.Errorf("API Gateway has no permission to invoke %s", r.Op)
		}
	}
}

func testJobs(t *testing.T, s *synthesized) {
	rules := s.resources("AWS::Events::Rule")
	if len(rules) != len(jobs.Jobs) {
		t.Errorf("%d rules, want %d (jobs.Jobs)", len(rules), len(jobs.Jobs))
	}
	fnIDs := s.fnIDs()
	for _, j := range jobs.Jobs {
		found := false
		for _, r := range rules {
			p := props(r)
			if p["ScheduleExpression"] != j.Schedule {
				continue
			}
			found = true
			if p["State"] != "ENABLED" {
				t.Errorf("job %s: rule state %v", j.Name, p["State"])
			}
			targets := asList(p["Targets"])
			if len(targets) != 1 {
				t.Fatalf("job %s: %d targets", j.Name, len(targets))
			}
			tg := targets[0].(map[string]any)
			if got := s.render(tg["Arn"]); got != "fn:"+j.Name {
				t.Errorf("job %s targets %s", j.Name, got)
			}
			if got := s.render(tg["DeadLetterConfig"].(map[string]any)["Arn"]); got != "dlq" {
				t.Errorf("job %s: dead letters go to %s, want dlq", j.Name, got)
			}
			rp := tg["RetryPolicy"].(map[string]any)
			if rp["MaximumRetryAttempts"] != float64(scheduleRetries) || rp["MaximumEventAgeInSeconds"] != float64(scheduleMaxAgeHrs*3600) {
				t.Errorf("job %s: retry policy %v", j.Name, rp)
			}
		}
		if !found {
			t.Errorf("no rule with job %s's schedule %s", j.Name, j.Schedule)
		}
		fn := props(s.json["Resources"].(map[string]any)[fnIDs[j.Name]].(map[string]any))
		if got := s.render(fn["DeadLetterConfig"].(map[string]any)["TargetArn"]); got != "dlq" {
			t.Errorf("job function %s sends failed runs to %s, want dlq", j.Name, got)
		}
		invoke := false
		for _, c := range s.resources("AWS::Lambda::EventInvokeConfig") {
			p := props(c)
			if s.render(p["FunctionName"]) == "fn:"+j.Name && p["MaximumRetryAttempts"] == float64(jobRetries) {
				invoke = true
			}
		}
		if !invoke {
			t.Errorf("job function %s has no retry configuration", j.Name)
		}
	}
	_, q := only(t, s, "AWS::SQS::Queue")
	if props(q)["SqsManagedSseEnabled"] != true {
		t.Error("dead-letter queue is not encrypted")
	}
	for _, name := range FunctionNames() {
		if _, isJob := jobs.ByName(name); isJob {
			continue
		}
		fn := props(s.json["Resources"].(map[string]any)[fnIDs[name]].(map[string]any))
		if _, ok := fn["DeadLetterConfig"]; ok {
			t.Errorf("API function %s has a dead-letter queue", name)
		}
	}
}

func testMonitoring(t *testing.T, s *synthesized) {
	alarms := s.resources("AWS::CloudWatch::Alarm")
	got := map[string]bool{}
	fnIDs := s.fnIDs()
	for id, a := range alarms {
		p := props(a)
		if s.render(p["AlarmActions"]) != "alarmtopic" || s.render(p["OKActions"]) != "alarmtopic" {
			t.Errorf("alarm %s notifies %v / %v, want the alarm topic", id, p["AlarmActions"], p["OKActions"])
		}
		var dim []string
		for _, d := range asList(p["Dimensions"]) {
			d := d.(map[string]any)
			dim = append(dim, str(d["Name"])+"="+s.render(d["Value"]))
		}
		got[str(p["Namespace"])+" "+str(p["MetricName"])+" "+strings.Join(dim, ",")] = true
	}
	apiID, _ := only(t, s, "AWS::ApiGatewayV2::Api")
	want := []string{
		"AWS/ApiGateway 5xx ApiId=" + s.name(apiID),
		"AWS/SQS ApproximateNumberOfMessagesVisible QueueName=dlq",
	}
	for _, name := range FunctionNames() {
		want = append(want,
			"AWS/Lambda Errors FunctionName=fn:"+name,
			"AWS/Lambda Throttles FunctionName=fn:"+name)
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no alarm on %s", w)
		}
	}
	if len(alarms) != len(want) {
		t.Errorf("%d alarms, want %d", len(alarms), len(want))
	}
	topic := s.resources("AWS::SNS::Topic")[keyID(s, "alarmtopic")]
	if got := s.render(props(topic)["KmsMasterKeyId"]); got != "logskey" {
		t.Errorf("alarm topic encrypted with %q, want the logs key", got)
	}
	_ = fnIDs
}

func testOutputs(t *testing.T, s *synthesized) {
	outputs := s.json["Outputs"].(map[string]any)
	for _, name := range []string{OutApiURL, OutJwtIssuer, OutJwtAudience, OutUserPoolID, OutUserPoolClient,
		OutTable, OutBucket, OutDataKey, OutTopic, OutAlarmTopic, OutDeadLetters, OutPortalURL, OutPortalClient} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
}

func testNag(t *testing.T, s *synthesized) {
	ann := assertions.Annotations_FromStack(s.stack.Stack)
	for _, pack := range []string{"AwsSolutions-.*", "HIPAA\\.Security-.*"} {
		errs := ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(pack)))
		for _, e := range *errs {
			t.Errorf("unsuppressed cdk-nag error on %s: %v", *e.Id, e.Entry.Data)
		}
	}
	// Every suppression names a rule of the list, with its reason; none
	// is on the whole stack.
	known := map[string]bool{} // rule + "\x00" + reason
	for _, sp := range s.stack.Suppressions() {
		if len(sp.Reason) < 40 {
			t.Errorf("suppression of %s has a short reason: %q", sp.Rule, sp.Reason)
		}
		known[sp.Rule+"\x00"+sp.Reason] = true
	}
	if md, ok := s.json["Metadata"].(map[string]any); ok {
		if _, ok := md["cdk_nag"]; ok {
			t.Errorf("stack-level cdk-nag suppressions: %v", md["cdk_nag"])
		}
	}
	used := map[string]bool{}
	for id, r := range s.json["Resources"].(map[string]any) {
		md, _ := r.(map[string]any)["Metadata"].(map[string]any)
		nag, _ := md["cdk_nag"].(map[string]any)
		for _, sp := range asList(nag["rules_to_suppress"]) {
			if sp == nil {
				continue
			}
			sp := sp.(map[string]any)
			rule, reason := str(sp["id"]), str(sp["reason"])
			used[rule+"\x00"+reason] = true
			if !known[rule+"\x00"+reason] {
				t.Errorf("%s: suppression of %s with reason %q is not in Suppressions()", id, rule, reason)
			}
		}
	}
	for key := range known {
		if !used[key] {
			rule, reason, _ := strings.Cut(key, "\x00")
			t.Errorf("Suppressions() lists %s (%.40s…), which suppresses nothing", rule, reason)
		}
	}
}

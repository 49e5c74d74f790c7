package stack

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/runtime/lambdafn"
	"github.com/medshare/medshare/shared/store/dynamostore"
)

// The KMS uses that go with a service call, as the IAM table below writes
// them: the service's encryption context names the one resource.
const (
	viaDynamo  = "kms:Decrypt key if StringEquals{kms:EncryptionContext:aws:dynamodb:tableName=table; kms:ViaService=dynamodb.${Region}.amazonaws.com}"
	s3Decrypt  = "kms:Decrypt key if StringEquals{kms:EncryptionContext:aws:s3:arn=bucket; kms:ViaService=s3.${Region}.amazonaws.com}"
	s3Generate = "kms:GenerateDataKey key if StringEquals{kms:EncryptionContext:aws:s3:arn=bucket; kms:ViaService=s3.${Region}.amazonaws.com}"
	snsDecrypt = "kms:Decrypt key if StringEquals{kms:EncryptionContext:aws:sns:topicArn=topic; kms:ViaService=sns.${Region}.amazonaws.com}"
	snsGen     = "kms:GenerateDataKey key if StringEquals{kms:EncryptionContext:aws:sns:topicArn=topic; kms:ViaService=sns.${Region}.amazonaws.com}"
	// s3:ListBucket on the bucket, with no prefix condition: HeadBucket
	// needs it, and so does HeadObject for S3 to answer 404 on a missing
	// key rather than 403.
	listBucket = "s3:ListBucket bucket"
	publish    = "sns:Publish topic"
	photoCtx   = " key if ForAllValues:StringEquals{kms:EncryptionContextKeys=owner,photo} Null{kms:EncryptionContextKeys=false}"
	toDLQ      = "sqs:SendMessage dlq"
)

func ddb(actions ...string) []string {
	var out []string
	for _, a := range actions {
		out = append(out, "dynamodb:"+a+" table")
	}
	return append(out, viaDynamo)
}

func queryIndex(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, "dynamodb:Query table/index/"+n)
	}
	return out
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// wantIAM is every function's permissions, written out: one line per
// action and resource, "if" its condition. It is the review copy of
// lambdafn.Permissions(): a change there that is not made here fails the test.
func wantIAM() map[string][]string {
	actor, grantee, due := dynamostore.IndexByActor, dynamostore.IndexSharesByGrantee, lambdafn.TimeIndex()
	published := []string{publish, snsDecrypt, snsGen}
	return map[string][]string{
		"health":                 join(ddb("GetItem"), []string{listBucket, "kms:DescribeKey key"}),
		"upload-presign":         join(ddb("PutItem"), []string{"s3:PutObject bucket/photos/*", s3Generate, "kms:Encrypt" + photoCtx}),
		"finalize-upload":        join(ddb("GetItem", "PutItem", "UpdateItem"), []string{"s3:GetObject bucket/photos/*", s3Decrypt, "s3:PutObject bucket/photos/*", s3Generate, listBucket}),
		"list-photos":            ddb("Query"),
		"delete-photo":           join(ddb("DeleteItem", "GetItem", "PutItem"), []string{"s3:PutObject bucket/photos/*", s3Generate}),
		"photo-key":              join(ddb("GetItem", "PutItem", "UpdateItem"), []string{"s3:GetObject bucket/photos/*", s3Decrypt, "kms:Decrypt" + photoCtx}),
		"register-appointment":   ddb("GetItem", "PutItem", "UpdateItem"),
		"chat-upload":            join(ddb("PutItem", "Query", "UpdateItem"), []string{"s3:PutObject bucket/chat/*", s3Generate}),
		"chat-finalize":          join(ddb("GetItem", "PutItem", "UpdateItem"), []string{"s3:GetObject bucket/chat/*", s3Decrypt, "s3:PutObject bucket/chat/*", s3Generate, listBucket}),
		"chat-signed-url":        join(ddb("GetItem", "PutItem", "UpdateItem"), []string{"s3:GetObject bucket/chat/*", s3Decrypt}),
		"list-chat-images":       join(ddb("Query"), queryIndex(grantee)),
		"chat-resolve":           ddb("GetItem", "PutItem", "Query", "UpdateItem"),
		"create-session":         join(ddb("GetItem", "PutItem", "Query", "UpdateItem"), published),
		"list-sessions":          join(queryIndex(actor, grantee), []string{viaDynamo}),
		"get-session":            ddb("GetItem"),
		"revoke-session":         join(ddb("GetItem", "PutItem", "UpdateItem"), published),
		"open-access":            join(ddb("GetItem", "PutItem", "UpdateItem"), published),
		"issue-key":              join(ddb("ConditionCheckItem", "GetItem", "PutItem", "UpdateItem"), []string{"kms:Decrypt" + photoCtx}, published),
		"signed-url":             join(ddb("ConditionCheckItem", "GetItem", "PutItem", "UpdateItem"), []string{"s3:GetObject bucket/photos/*", s3Decrypt}, published),
		"report-activity":        join(ddb("GetItem", "PutItem", "UpdateItem"), published),
		"list-notifications":     ddb("Query"),
		"mark-notification-read": ddb("UpdateItem"),
		"access-history":         join(ddb("Query"), queryIndex(actor)),
		"verify-audit":           join(ddb("GetItem", "Query"), queryIndex(actor)),
		"cleanup": join(ddb("DeleteItem", "GetItem", "PutItem", "UpdateItem"), queryIndex(due),
			[]string{"s3:PutObject bucket/photos/*", "s3:PutObject bucket/chat/*", s3Generate, toDLQ}, published),
		"daily-report": join(ddb("PutItem"), queryIndex(due), []string{toDLQ}, published),
		// Its read of the legacy bucket is LegacyMigration's, with a legacy
		// bucket only (TestLegacyMigration).
		MigrationFunction: join(ddb("DeleteItem", "GetItem", "PutItem", "UpdateItem"),
			[]string{"s3:GetObject bucket/chat/*", s3Decrypt, "s3:PutObject bucket/chat/*", s3Generate, listBucket}),
	}
}

// grants returns, for each function, what its role may do according to the
// synthesized template: every Allow statement of every policy attached to
// the role, one line per action and resource.
func (s *synthesized) grants(t *testing.T) map[string][]string {
	t.Helper()
	roleOf := map[string]string{} // role logical id -> function name
	for name, id := range s.fnIDs() {
		fn := s.json["Resources"].(map[string]any)[id].(map[string]any)
		role := props(fn)["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		if other, ok := roleOf[role]; ok {
			t.Errorf("functions %s and %s share role %s", other, name, role)
		}
		roleOf[role] = name
	}
	out := map[string][]string{}
	add := func(name string, doc map[string]any) {
		for _, st := range asList(doc["Statement"]) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("%s: statement %v is not an Allow", name, st)
				continue
			}
			if _, ok := st["NotAction"]; ok {
				t.Errorf("%s: NotAction in %v", name, st)
			}
			if _, ok := st["NotResource"]; ok {
				t.Errorf("%s: NotResource in %v", name, st)
			}
			cond := s.conditions(st["Condition"])
			for _, a := range asList(st["Action"]) {
				for _, r := range asList(st["Resource"]) {
					line := str(a) + " " + s.render(r)
					if cond != "" {
						line += " if " + cond
					}
					out[name] = append(out[name], line)
				}
			}
		}
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for id, p := range s.resources(typ) {
			var attached []string
			for _, r := range asList(props(p)["Roles"]) {
				if m, ok := r.(map[string]any); ok {
					if name, ok := roleOf[str(m["Ref"])]; ok {
						attached = append(attached, name)
					}
				}
			}
			if len(attached) > 1 {
				t.Errorf("policy %s is attached to several functions' roles: %v", id, attached)
			}
			for _, name := range attached {
				add(name, props(p)["PolicyDocument"].(map[string]any))
			}
		}
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		name, ok := roleOf[id]
		if !ok {
			continue
		}
		p := props(r)
		if _, ok := p["Policies"]; ok {
			t.Errorf("role of %s has inline policies", name)
		}
		if arns := asList(p["ManagedPolicyArns"]); p["ManagedPolicyArns"] != nil && len(arns) > 0 {
			t.Errorf("role of %s has managed policies attached by ARN (AWS-managed?): %v", name, arns)
		}
		trust := props(r)["AssumeRolePolicyDocument"].(map[string]any)
		for _, st := range asList(trust["Statement"]) {
			pr := st.(map[string]any)["Principal"].(map[string]any)
			if pr["Service"] != "lambda.amazonaws.com" || len(pr) != 1 {
				t.Errorf("role of %s is assumable by %v, want only lambda.amazonaws.com", name, pr)
			}
		}
	}
	for name, lines := range out {
		sort.Strings(lines)
		out[name] = lines
	}
	return out
}

// checkGrants checks that every function's role allows exactly want
// (by function name) and the writes to its own log group, and returns what
// the roles allow (synthesized.grants).
func checkGrants(t *testing.T, s *synthesized, want map[string][]string) map[string][]string {
	t.Helper()
	got := s.grants(t)
	for name := range want {
		own := "logs:" + name
		want[name] = append(want[name], "logs:CreateLogStream "+own, "logs:PutLogEvents "+own)
		sort.Strings(want[name])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("function permissions (-want +got):\n%s", diff)
	}
	return got
}

func testIAM(t *testing.T, s *synthesized) {
	got := checkGrants(t, s, wantIAM())
	// The roles are lambdafn.Permissions rendered: what Access.Grants lists
	// (which the emulator IAM test holds the code's calls to) is exactly
	// what the template allows, besides the KMS uses through a service and
	// the function's own logs. The stack synthesized here has no chat CDN,
	// so no role reads its signing key.
	for name, lines := range got {
		var rendered []string
		for _, line := range lines {
			if strings.HasPrefix(line, "logs:") || strings.Contains(line, "kms:ViaService") {
				continue
			}
			grant, _, _ := strings.Cut(line, " if ")
			rendered = append(rendered, grant)
		}
		var grants []string
		for _, g := range lambdafn.Permissions()[name].Grants() {
			// The stack has no chat CDN and no legacy bucket.
			if !strings.HasPrefix(g, "secretsmanager:") && !strings.HasSuffix(g, " legacy") && !strings.HasSuffix(g, " legacy/*") {
				grants = append(grants, g)
			}
		}
		if diff := cmp.Diff(grants, sorted(rendered)); diff != "" {
			t.Errorf("%s: the role is not lambdafn.Permissions()[%q].Grants() (-grants +role):\n%s", name, name, diff)
		}
	}
	for name, lines := range got {
		for _, line := range lines {
			action, rest, _ := strings.Cut(line, " ")
			resource, _, _ := strings.Cut(rest, " ")
			if strings.Contains(action, "*") {
				t.Errorf("%s: wildcard action %q", name, action)
			}
			if resource == "*" || strings.HasPrefix(resource, "arn:") {
				t.Errorf("%s: %s on %q: a resource of the stack must be named", name, action, resource)
			}
			if strings.Contains(resource, "*") && !slices.ContainsFunc([]string{lambdafn.PhotoPrefix, lambdafn.ChatPrefix}, func(p string) bool {
				return resource == "bucket/"+p+"*"
			}) {
				t.Errorf("%s: %s on %q: the only wildcards allowed are the object prefixes", name, action, resource)
			}
		}
	}
	// Every function appears, and nothing else has a policy.
	if len(got) != len(FunctionNames()) {
		t.Errorf("%d functions have policies, want %d", len(got), len(FunctionNames()))
	}
}

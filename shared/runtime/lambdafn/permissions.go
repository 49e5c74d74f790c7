package lambdafn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/dynamostore"
)

// Access is what one function's role may do: the AWS calls its code path
// makes, and nothing else. Permissions is the one table of it, which
// infra/stack builds each function's role from and which Uses reads the
// function's AWS clients from. It imports no CDK package, so that the IAM
// test (TestFunctionsCallOnlyWhatTheirRolesAllow, functions/iam_test.go)
// reads it without synthesizing: that test runs every sample event through
// each function's AWS runtime on the emulators, records every SDK call,
// and fails on a call the function's Access does not grant.
type Access struct {
	// Table lists the DynamoDB actions on the table itself (GetItem,
	// PutItem, UpdateItem, DeleteItem, Query, ConditionCheckItem). A
	// TransactWriteItems needs the action of each of its parts.
	Table []string
	// Indexes are the global secondary indexes the function queries.
	Indexes []string
	// Object prefixes (core's object keys hold ids only, under a prefix per
	// kind) on which the function reads (HeadObject, GetObject, a presigned
	// GET), writes (a presigned PUT) or deletes (s3blob.Delete, a PutObject
	// of an empty tombstone over the key).
	Read, Write, Delete []string
	// ListBucket is s3:ListBucket on the bucket itself. The blob store's
	// health check needs it for HeadBucket. A function that calls
	// HeadObject needs it too: without it S3 answers HeadObject on a
	// missing key with 403 instead of 404 (so as not to tell whether the
	// key exists), which the store can only report as an internal error.
	// It has no s3:prefix condition: HeadObject carries no prefix, so such
	// a condition would never match it.
	ListBucket bool
	// Wrap, Unwrap and Describe are the key ring's direct KMS calls
	// (Encrypt and Decrypt under the photo/owner encryption context,
	// DescribeKey).
	Wrap, Unwrap, Describe bool
	// Publish is sns:Publish on the notification topic.
	Publish bool
	// DeadLetters is sqs:SendMessage on the jobs' dead-letter queue, where
	// Lambda puts the event of a scheduled run that failed its retries.
	// Lambda sends it with the role, the function's code never does.
	DeadLetters bool
	// Legacy is read on the legacy chat's bucket (s3:GetObject on its
	// objects, s3:ListBucket on it: a dead URL must come back 404, not
	// 403), imported by name when the stack is given one
	// (infra/stack/legacy.go), and nothing else on it: the migration
	// function reads it, HeadObject and GetObject, and copies from it
	// (CopyObject reads its source with s3:GetObject).
	Legacy bool
	// SigningKey is secretsmanager:GetSecretValue on the chat CDN's signing
	// key, read once per cold start. The chat CDN's construct grants it,
	// when the stack has the CDN (infra/stack/cdn.go).
	SigningKey bool
}

// The DynamoDB actions of Access.Table.
const (
	DynamoGetItem        = "dynamodb:GetItem"
	DynamoPutItem        = "dynamodb:PutItem"
	DynamoUpdateItem     = "dynamodb:UpdateItem"
	DynamoDeleteItem     = "dynamodb:DeleteItem"
	DynamoQuery          = "dynamodb:Query"
	DynamoConditionCheck = "dynamodb:ConditionCheckItem"
)

// Object prefixes, read from the core's key rules: photos/<owner>/<id> and
// chat/<id>.
var (
	PhotoPrefix = prefixOf(core.PhotoObjectKey("owner", "id"))
	ChatPrefix  = prefixOf(core.ChatImage{ID: "id"}.ObjectKey())
)

func prefixOf(key string) string {
	p := ObjectPrefix(key)
	if p == "" {
		panic(fmt.Sprintf("object key %q has no prefix", key))
	}
	return p
}

// ObjectPrefix returns the prefix of an object key (PhotoPrefix,
// ChatPrefix), or "" when the key has none.
func ObjectPrefix(key string) string {
	i := strings.Index(key, "/")
	if i <= 0 {
		return ""
	}
	return key[:i+1]
}

// TimeIndex is the table's index of due times and audit counters (the
// cleanup job's and the daily report's index).
func TimeIndex() string { return dynamostore.IndexTime }

// Permissions returns the access of every function, by name (Names()). It
// is read from the code (the service method behind the operation, the
// store, blob, key-ring and notifier methods it calls, and the SDK call each
// of those makes), and checked against what the code calls on the
// emulators (TestFunctionsCallOnlyWhatTheirRolesAllow).
func Permissions() map[string]Access {
	// Throughout: the audit trail's head is a GetItem and an append a
	// transaction of Puts; a notification published after its write is
	// marked with an UpdateItem (MarkPublished).
	const (
		getItem        = DynamoGetItem
		putItem        = DynamoPutItem
		updateItem     = DynamoUpdateItem
		deleteItem     = DynamoDeleteItem
		query          = DynamoQuery
		conditionCheck = DynamoConditionCheck
	)
	byActor := dynamostore.IndexByActor // also IndexSharesByPatient
	return map[string]Access{
		// Health pings the store (GetItem), the bucket (HeadBucket, hence
		// ListBucket) and the key (DescribeKey).
		"health": {Table: []string{getItem}, ListBucket: true, Describe: true},
		// Wrap the data key, presign the PUT, CreatePhoto.
		"upload-presign": {Table: []string{putItem}, Write: []string{PhotoPrefix}, Wrap: true},
		// Stat (HeadObject with its checksum, hence ListBucket: an upload
		// that never arrived must come back 404 from S3, which the service
		// answers 404 or 409, and not 403, which it can only answer 500;
		// GetObject to hash an object without one), GetPhoto,
		// MarkPhotoReady, delete a mismatched object, audit.
		"finalize-upload": {Table: []string{getItem, updateItem, putItem}, Read: []string{PhotoPrefix}, Delete: []string{PhotoPrefix}, ListBucket: true},
		"list-photos":     {Table: []string{query}},
		// GetPhoto, audit, delete the object, DeletePhoto.
		"delete-photo": {Table: []string{getItem, putItem, deleteItem}, Delete: []string{PhotoPrefix}},
		// Count the call (Tally: UpdateItem), GetPhoto, unwrap the data key
		// (to seal it to the owner's device), presign the GET of the
		// ciphertext, audit (photo.view).
		"photo-key": {Table: []string{getItem, putItem, updateItem}, Read: []string{PhotoPrefix}, Unwrap: true},
		// Count the registration (Tally: UpdateItem), PutAppointment
		// (UpdateItem), audit.
		"register-appointment": {Table: []string{getItem, updateItem, putItem}},
		// FindAppointments (a Query of the id's partition: appointment ids
		// are scoped to their clinic), presign the PUT, CreateChatImage
		// (Put + Update).
		"chat-upload": {Table: []string{query, putItem, updateItem}, Write: []string{ChatPrefix}},
		// GetChatImage, then as finalize-upload: Stat (HeadObject, hence
		// ListBucket), MarkChatImageReady (Update, Put), delete a
		// mismatched object, audit.
		"chat-finalize": {Table: []string{getItem, updateItem, putItem}, Read: []string{ChatPrefix}, Delete: []string{ChatPrefix}, ListBucket: true},
		// GetChatImage, audit, presign the GET (or, with the chat CDN, sign
		// a CloudFront URL with the key read at cold start); a stranger's
		// denial is counted (Tally: UpdateItem) before it is audited.
		"chat-signed-url": {Table: []string{getItem, putItem, updateItem}, Read: []string{ChatPrefix}, SigningKey: true},
		// FindAppointments (a Query of the id's partition), then
		// ListChatImages (a Query of the by-appointment index, gsi2 under
		// its APPTIMG# partitions). Nothing is written: a list hands out
		// no image, and a stranger's attempt is not recorded (as
		// chat-upload's is not).
		"list-chat-images": {Table: []string{query}, Indexes: []string{dynamostore.IndexChatImagesByAppointment}},
		// FindChatImagesByLegacyURL (a Query of the URL's partition, then
		// GetItem of each image), audit (chat_image.resolve or
		// chat_image.legacy_url); a stranger's denial is counted (Tally:
		// UpdateItem) before it is audited. It hands out no signed URL: a
		// migrated image's is chat-signed-url's, a legacy one is public.
		"chat-resolve": {Table: []string{query, getItem, putItem, updateItem}},
		// ListPhotos (select by angle), CreateShare, replay (GetShare),
		// publish.
		"create-session": {Table: []string{query, getItem, putItem, updateItem}, Publish: true},
		"list-sessions":  {Indexes: []string{byActor, dynamostore.IndexSharesByGrantee}},
		"get-session":    {Table: []string{getItem}},
		"revoke-session": {Table: []string{getItem, putItem, updateItem}, Publish: true},
		// GetShare, OpenAccess (a transaction of Updates and Puts); a
		// refused device: Tally (UpdateItem), the record and the patient's
		// notification (AppendAuditNotify, Puts); publish.
		"open-access": {Table: []string{getItem, putItem, updateItem}, Publish: true},
		// GetAccess, the detectors (Tally, GetShare, AddSuspicion,
		// RevokeShare), unwrap the data key, IssueKey (Update,
		// ConditionCheck, Put), publish.
		"issue-key": {Table: []string{getItem, putItem, updateItem, conditionCheck}, Unwrap: true, Publish: true},
		// GetKey, ClaimKey (Update, ConditionCheck), the failed-claim
		// detector, presign the GET of the ciphertext, publish.
		"signed-url":             {Table: []string{getItem, putItem, updateItem, conditionCheck}, Read: []string{PhotoPrefix}, Publish: true},
		"report-activity":        {Table: []string{getItem, putItem, updateItem}, Publish: true},
		"list-notifications":     {Table: []string{query}},
		"mark-notification-read": {Table: []string{updateItem}},
		// A patient's chain (Query of the table), a professional's records
		// (the by-actor index).
		"access-history": {Table: []string{query}, Indexes: []string{byActor}},
		"verify-audit":   {Table: []string{query, getItem}, Indexes: []string{byActor}},
		// The scheduled jobs (core's jobs.go and dynamostore's jobs.go).
		// cleanup reads its watermarks (GetItem) and moves them
		// (UpdateItem), lists what is due (Query of the time index), expires
		// shares (GetShare, then a transaction of an Update, the parties'
		// notifications and the audit record), deletes expired keys and
		// abandoned uploads (GetPhoto/GetChatImage, DeleteObject,
		// DeleteItem), and publishes what the notifier never accepted
		// (GetItem, Publish, MarkPublished).
		"cleanup": {
			Table:       []string{getItem, putItem, updateItem, deleteItem},
			Indexes:     []string{TimeIndex()},
			Delete:      []string{PhotoPrefix, ChatPrefix},
			Publish:     true,
			DeadLetters: true,
		},
		// The migration function (migratefn), one line of a legacy chat
		// export per invocation: GetAppointment and GetChatImage (GetItem),
		// ImportChatImage (Put, Put, Update), the legacy object (HeadObject,
		// GetObject, or CopyObject's read of its source: Legacy), the
		// private copy (PutObject or CopyObject under chat/, HeadObject to
		// find a copy of an earlier run, hence ListBucket), and then
		// CompleteChatImageImport (Update and the audit record's Puts), or
		// for a copy whose bytes do not match the tombstone of its object
		// and DiscardChatImageImport (Delete, Delete, Update).
		"migrate-chat-image": {
			Table:      []string{getItem, putItem, updateItem, deleteItem},
			Read:       []string{ChatPrefix},
			Write:      []string{ChatPrefix},
			Delete:     []string{ChatPrefix},
			ListBucket: true,
			Legacy:     true,
		},
		// daily-report counts a day's audit records (Select=COUNT queries
		// of the time index), stores the report (PutItem) and publishes it.
		"daily-report": {Table: []string{putItem}, Indexes: []string{TimeIndex()}, Publish: true, DeadLetters: true},
	}
}

// Uses returns the AWS services beyond DynamoDB whose client function name
// links, in the order of Services: those its Access calls. A function links
// S3 exactly when its role may touch an object or the bucket, KMS exactly
// when it may wrap, unwrap or describe the data key, SNS exactly when it
// may publish, and the CDN's Secrets Manager client exactly when it may
// read the chat CDN's signing key. ok is false for a name that is no
// function.
func Uses(name string) (uses []string, ok bool) {
	a, ok := Permissions()[name]
	if !ok {
		return nil, false
	}
	return a.Uses(), true
}

// SignsOnly reports whether a's only uses of S3 are presigned GETs and
// deletes (the tombstone PutObject of s3blob's Delete): it reads or
// deletes objects, writes none by a presigned PUT, and does not list the
// bucket, which HeadObject and HeadBucket need. Such a function links
// s3presign, which makes both with the SDK's SigV4 signer, without the S3
// client (Service.ReadOnly).
func (a Access) SignsOnly() bool {
	return len(a.Read)+len(a.Delete) > 0 && len(a.Write) == 0 && !a.ListBucket && !a.Legacy
}

// Uses returns the services beyond DynamoDB that a calls (see the function
// Uses).
func (a Access) Uses() []string {
	var out []string
	if len(a.Read)+len(a.Write)+len(a.Delete) > 0 || a.ListBucket || a.Legacy {
		out = append(out, S3)
	}
	if a.Wrap || a.Unwrap || a.Describe {
		out = append(out, KMS)
	}
	if a.Publish {
		out = append(out, SNS)
	}
	if a.SigningKey {
		out = append(out, CDN)
	}
	return out
}

// Grants returns what a allows, one line per IAM action and resource, in
// the words of the synthesized policies without their ARNs and conditions:
// "dynamodb:GetItem table", "dynamodb:Query table/index/gsi1",
// "s3:GetObject bucket/photos/*", "s3:ListBucket bucket", "s3:GetObject
// legacy/*" (the legacy chat's bucket), "kms:Decrypt key"
// (under the photo context), "sns:Publish topic", "sqs:SendMessage dlq",
// "secretsmanager:GetSecretValue secret". The KMS uses that DynamoDB, S3
// and SNS make on the caller's behalf go with their service and are not
// listed. Sorted, without duplicates.
func (a Access) Grants() []string {
	set := map[string]bool{}
	for _, act := range a.Table {
		set[act+" table"] = true
	}
	for _, ix := range a.Indexes {
		set[DynamoQuery+" table/index/"+ix] = true
	}
	for _, p := range a.Read {
		set["s3:GetObject bucket/"+p+"*"] = true
	}
	for _, p := range append(append([]string(nil), a.Write...), a.Delete...) {
		set["s3:PutObject bucket/"+p+"*"] = true
	}
	for grant, on := range map[string]bool{
		"s3:ListBucket bucket":                 a.ListBucket,
		"s3:GetObject legacy/*":                a.Legacy,
		"s3:ListBucket legacy":                 a.Legacy,
		"kms:Encrypt key":                      a.Wrap,
		"kms:Decrypt key":                      a.Unwrap,
		"kms:DescribeKey key":                  a.Describe,
		"sns:Publish topic":                    a.Publish,
		"sqs:SendMessage dlq":                  a.DeadLetters,
		"secretsmanager:GetSecretValue secret": a.SigningKey,
	} {
		if on {
			set[grant] = true
		}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

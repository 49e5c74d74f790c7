package awstest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/medshare/medshare/shared/devtools/awstest"
)

// These tests prove that the emulators do what the AWS adapters rely on. They
// run with `make test`, which starts the emulators; plain `go test` skips them.

func TestUniqueName(t *testing.T) {
	for _, prefix := range []string{"bkt", "", "Some_Long Prefix!!", strings.Repeat("x", 100)} {
		a, b := awstest.UniqueName(t, prefix), awstest.UniqueName(t, prefix)
		if a == b {
			t.Errorf("UniqueName(%q) twice = %q", prefix, a)
		}
		if len(a) < 3 || len(a) > 63 {
			t.Errorf("UniqueName(%q) = %q: %d characters, want 3 to 63", prefix, a, len(a))
		}
		for i, r := range a {
			ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0 && i < len(a)-1 && a[i-1] != '-'
			if !ok {
				t.Errorf("UniqueName(%q) = %q: not a valid S3 bucket name at %d", prefix, a, i)
				break
			}
		}
	}
}

func TestDynamoDBLocal(t *testing.T) {
	cfg := awstest.Config(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	table := awstest.UniqueName(t, "tbl")
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() { db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })

	item := func(pk, state string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "state": &ddbtypes.AttributeValueMemberS{Value: state}}
	}
	key := func(pk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}
	}
	for _, pk := range []string{"a", "b"} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item(pk, "old-"+pk)}); err != nil {
			t.Fatalf("put %s: %v", pk, err)
		}
	}
	stateOf := func(m map[string]ddbtypes.AttributeValue) string {
		if s, ok := m["state"].(*ddbtypes.AttributeValueMemberS); ok {
			return s.Value
		}
		return ""
	}

	t.Run("conditional put returns the old item", func(t *testing.T) {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(table), Item: item("a", "new"),
			ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
			ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var ccf *ddbtypes.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			t.Fatalf("err = %v, want ConditionalCheckFailedException", err)
		}
		if got := stateOf(ccf.Item); got != "old-a" {
			t.Errorf("ConditionalCheckFailedException.Item state = %q, want %q (item %v)", got, "old-a", ccf.Item)
		}
	})

	t.Run("transaction cancellation reasons carry the old items", func(t *testing.T) {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			{ConditionCheck: &ddbtypes.ConditionCheck{
				TableName: aws.String(table), Key: key("a"),
				ConditionExpression:                 aws.String("#s = :want"),
				ExpressionAttributeNames:            map[string]string{"#s": "state"},
				ExpressionAttributeValues:           map[string]ddbtypes.AttributeValue{":want": &ddbtypes.AttributeValueMemberS{Value: "something else"}},
				ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
			}},
			{Update: &ddbtypes.Update{
				TableName: aws.String(table), Key: key("b"),
				UpdateExpression:                    aws.String("SET #s = :new"),
				ConditionExpression:                 aws.String("#s = :want"),
				ExpressionAttributeNames:            map[string]string{"#s": "state"},
				ExpressionAttributeValues:           map[string]ddbtypes.AttributeValue{":new": &ddbtypes.AttributeValueMemberS{Value: "new"}, ":want": &ddbtypes.AttributeValueMemberS{Value: "nope"}},
				ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
			}},
			{Put: &ddbtypes.Put{TableName: aws.String(table), Item: item("c", "new-c")}},
		}})
		var tce *ddbtypes.TransactionCanceledException
		if !errors.As(err, &tce) {
			t.Fatalf("err = %v, want TransactionCanceledException", err)
		}
		if len(tce.CancellationReasons) != 3 {
			t.Fatalf("%d cancellation reasons, want 3: %+v", len(tce.CancellationReasons), tce.CancellationReasons)
		}
		for i, want := range []struct{ code, state string }{{"ConditionalCheckFailed", "old-a"}, {"ConditionalCheckFailed", "old-b"}, {"None", ""}} {
			r := tce.CancellationReasons[i]
			if got := aws.ToString(r.Code); got != want.code {
				t.Errorf("reason %d: code %q, want %q", i, got, want.code)
			}
			if got := stateOf(r.Item); got != want.state {
				t.Errorf("reason %d: item state %q, want %q (item %v)", i, got, want.state, r.Item)
			}
		}
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("c"), ConsistentRead: aws.Bool(true)})
		if err != nil || out.Item != nil {
			t.Errorf("item c after a cancelled transaction: %v, %v; want none", out.Item, err)
		}
	})
}

func TestVersityGW(t *testing.T) {
	cfg := awstest.Config(t)
	ctx := context.Background()
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := awstest.UniqueName(t, "bkt")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		out, _ := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if out != nil {
			for _, o := range out.Contents {
				client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			}
		}
		client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	presign := s3.NewPresignClient(client)
	body := bytes.Repeat([]byte("medshare photo bytes "), 3000)
	sum := sha256.Sum256(body)
	b64 := base64.StdEncoding.EncodeToString(sum[:])

	do := func(t *testing.T, method, rawURL string, h http.Header, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range h {
			if strings.EqualFold(k, "host") {
				continue
			}
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		req.ContentLength = int64(len(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, rawURL, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	presignPut := func(t *testing.T, key string) (string, http.Header) {
		t.Helper()
		req, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key),
			ContentType: aws.String("image/jpeg"), ContentLength: aws.Int64(int64(len(body))),
			ChecksumSHA256: aws.String(b64),
		}, s3.WithPresignExpires(15*time.Minute))
		if err != nil {
			t.Fatalf("presign put: %v", err)
		}
		if req.Method != http.MethodPut {
			t.Fatalf("presigned method %s", req.Method)
		}
		signed := strings.ToLower(req.URL) + " " + strings.ToLower(headerNames(req.SignedHeader))
		if !strings.Contains(signed, "x-amz-checksum-sha256") {
			t.Errorf("the presigned PUT does not carry x-amz-checksum-sha256: %s %v", req.URL, req.SignedHeader)
		}
		return req.URL, req.SignedHeader
	}

	t.Run("presigned PUT with x-amz-checksum-sha256, HeadObject returns it", func(t *testing.T) {
		u, h := presignPut(t, "photos/one")
		if st, b := do(t, http.MethodPut, u, h, body); st != http.StatusOK {
			t.Fatalf("PUT: %d %s", st, b)
		}
		head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("photos/one"), ChecksumMode: s3types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		if got := aws.ToString(head.ChecksumSHA256); got != b64 {
			t.Errorf("HeadObject ChecksumSHA256 = %q, want %q (type %q)", got, b64, head.ChecksumType)
		}
		if got := aws.ToInt64(head.ContentLength); got != int64(len(body)) {
			t.Errorf("ContentLength = %d, want %d", got, len(body))
		}
		t.Logf("HeadObject: ChecksumSHA256 %s, ChecksumType %q, ContentType %q", aws.ToString(head.ChecksumSHA256), head.ChecksumType, aws.ToString(head.ContentType))
	})

	t.Run("presigned PUT refuses other bytes of the same length", func(t *testing.T) {
		u, h := presignPut(t, "photos/two")
		other := bytes.Clone(body)
		other[0] ^= 0xff
		if st, b := do(t, http.MethodPut, u, h, other); st/100 == 2 {
			t.Errorf("PUT of other bytes: %d %s, want a refusal", st, b)
		}
		if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("photos/two")}); err == nil {
			t.Errorf("the refused object exists")
		}
	})

	t.Run("presigned PUT refuses another length", func(t *testing.T) {
		u, h := presignPut(t, "photos/three")
		if st, b := do(t, http.MethodPut, u, h, body[:len(body)-1]); st/100 == 2 {
			t.Errorf("PUT of a shorter body: %d %s, want a refusal", st, b)
		}
	})

	t.Run("SDK PutObject with a SHA-256 checksum", func(t *testing.T) {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String("sdk/put"), Body: bytes.NewReader(body),
			ChecksumSHA256: aws.String(b64),
		})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("sdk/put"), ChecksumMode: s3types.ChecksumModeEnabled})
		if err != nil || aws.ToString(head.ChecksumSHA256) != b64 {
			t.Errorf("head: %v, checksum %q, want %q", err, aws.ToString(head.ChecksumSHA256), b64)
		}
	})

	t.Run("presigned GET: works, expires, refuses an altered signature", func(t *testing.T) {
		// Two URLs that differ only in their lifetime: an hour, which is
		// used at once and again after the short one has expired, and one
		// second. A 1-second URL cannot be relied on to work when it is
		// first used (its clock starts at a whole second, and a busy machine
		// may take longer than that to send it): only its refusal once
		// expired is checked, beside the long one still working.
		get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("photos/one")}, s3.WithPresignExpires(time.Hour))
		if err != nil {
			t.Fatalf("presign get: %v", err)
		}
		short, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("photos/one")}, s3.WithPresignExpires(time.Second))
		if err != nil {
			t.Fatalf("presign get: %v", err)
		}
		if !strings.HasPrefix(get.URL, "http://127.0.0.1:") {
			t.Errorf("presigned URL %s does not point at the loopback emulator", get.URL)
		}
		st, b := do(t, http.MethodGet, get.URL, get.SignedHeader, nil)
		if st != http.StatusOK || !bytes.Equal(b, body) {
			t.Fatalf("GET: %d, %d bytes, want 200 and the %d bytes put", st, len(b), len(body))
		}
		u, err := url.Parse(get.URL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		sig := q.Get("X-Amz-Signature")
		q.Set("X-Amz-Signature", flipHex(sig))
		u.RawQuery = q.Encode()
		if st, b := do(t, http.MethodGet, u.String(), get.SignedHeader, nil); st != http.StatusForbidden {
			t.Errorf("GET with an altered signature: %d %s, want 403", st, b)
		}
		time.Sleep(2 * time.Second)
		if st, b := do(t, http.MethodGet, short.URL, short.SignedHeader, nil); st != http.StatusForbidden {
			t.Errorf("GET after expiry: %d %s, want 403", st, b)
		}
		if st, b := do(t, http.MethodGet, get.URL, get.SignedHeader, nil); st != http.StatusOK || !bytes.Equal(b, body) {
			t.Errorf("GET of the hour-long URL after the short one expired: %d, %d bytes, want 200", st, len(b))
		}
	})

	t.Run("wrong secret is refused", func(t *testing.T) {
		bad := cfg.Copy()
		bad.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "medsharelocal", SecretAccessKey: "not-the-secret"}, nil
		})
		c := s3.NewFromConfig(bad, func(o *s3.Options) { o.UsePathStyle = true })
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("photos/one")}); err == nil {
			t.Errorf("HeadObject signed with a wrong secret succeeded")
		}
	})
}

func TestLocalKMS(t *testing.T) {
	cfg := awstest.Config(t)
	ctx := context.Background()
	c := kms.NewFromConfig(cfg)
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecSymmetricDefault, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	alias := "alias/" + awstest.UniqueName(t, "key")
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatalf("create alias: %v", err)
	}
	encCtx := map[string]string{"photo_id": "ph_1", "owner_id": "pat_1"}
	dataKey := bytes.Repeat([]byte{7}, 32)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(alias), Plaintext: dataKey, EncryptionContext: encCtx})
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if !bytes.Equal(dec.Plaintext, dataKey) {
		t.Errorf("decrypt = %x, want %x", dec.Plaintext, dataKey)
	}
	if aws.ToString(dec.KeyId) != aws.ToString(key.KeyMetadata.Arn) {
		t.Logf("Decrypt KeyId %q, key ARN %q", aws.ToString(dec.KeyId), aws.ToString(key.KeyMetadata.Arn))
	}
	for name, other := range map[string]map[string]string{
		"another photo": {"photo_id": "ph_2", "owner_id": "pat_1"},
		"no context":    nil,
	} {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: other})
		var ice *kmstypes.InvalidCiphertextException
		if !errors.As(err, &ice) {
			t.Errorf("decrypt with %s: %v, want InvalidCiphertextException", name, err)
		}
	}
	gdk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(alias), KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: encCtx})
	if err != nil || len(gdk.Plaintext) != 32 {
		t.Fatalf("generate data key: %v", err)
	}
}

func TestGoAwsSNSToSQS(t *testing.T) {
	cfg := awstest.Config(t)
	ctx := context.Background()
	topics := sns.NewFromConfig(cfg)
	queues := awstest.NewSQS(t, cfg)
	topic, err := topics.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(awstest.UniqueName(t, "topic"))})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { topics.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: topic.TopicArn}) })

	for _, raw := range []bool{false, true} {
		name := "envelope"
		if raw {
			name = "raw"
		}
		t.Run(name, func(t *testing.T) {
			qURL, qARN, err := queues.CreateQueue(ctx, awstest.UniqueName(t, "q"))
			if err != nil {
				t.Fatalf("create queue: %v", err)
			}
			t.Cleanup(func() { queues.DeleteQueue(context.Background(), qURL) })
			sub, err := topics.Subscribe(ctx, &sns.SubscribeInput{
				TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qARN),
				Attributes: map[string]string{"RawMessageDelivery": map[bool]string{true: "true", false: "false"}[raw]},
			})
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			t.Cleanup(func() {
				topics.Unsubscribe(context.Background(), &sns.UnsubscribeInput{SubscriptionArn: sub.SubscriptionArn})
			})
			msg := `{"kind":"share_opened","recipient":"pat_1"}`
			if _, err := topics.Publish(ctx, &sns.PublishInput{
				TopicArn: topic.TopicArn, Message: aws.String(msg),
				MessageAttributes: map[string]snstypes.MessageAttributeValue{
					"recipient": {DataType: aws.String("String"), StringValue: aws.String("pat_1")},
					"kind":      {DataType: aws.String("String"), StringValue: aws.String("share_opened")},
				},
			}); err != nil {
				t.Fatalf("publish: %v", err)
			}
			got, err := queues.Receive(ctx, qURL, 10, 5*time.Second)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("received %d messages, want 1: %+v", len(got), got)
			}
			m := got[0]
			attrs := m.Attributes
			body := m.Body
			if !raw {
				var env struct {
					Type              string
					TopicArn          string
					Message           string
					MessageAttributes map[string]struct{ Type, Value string }
				}
				if err := json.Unmarshal([]byte(m.Body), &env); err != nil {
					t.Fatalf("SNS envelope: %v: %s", err, m.Body)
				}
				if env.TopicArn != aws.ToString(topic.TopicArn) || env.Type != "Notification" {
					t.Errorf("envelope Type %q TopicArn %q, want Notification %q", env.Type, env.TopicArn, aws.ToString(topic.TopicArn))
				}
				body = env.Message
				attrs = map[string]string{}
				for k, v := range env.MessageAttributes {
					attrs[k] = v.Value
				}
			}
			if body != msg {
				t.Errorf("message %q, want %q", body, msg)
			}
			if attrs["recipient"] != "pat_1" || attrs["kind"] != "share_opened" {
				t.Errorf("message attributes %v, want recipient=pat_1 kind=share_opened", attrs)
			}
			if raw && (m.AttributeTypes["recipient"] != "String" || m.AttributeTypes["kind"] != "String") {
				t.Errorf("message attribute types %v, want String for recipient and kind", m.AttributeTypes)
			}
			if err := queues.DeleteMessage(ctx, qURL, m.ReceiptHandle); err != nil {
				t.Errorf("delete message: %v", err)
			}
		})
	}
}

func TestRIEPath(t *testing.T) {
	p := awstest.RIE(t)
	if !strings.HasSuffix(p, "aws-lambda-rie") {
		t.Errorf("RIE = %q", p)
	}
}

func headerNames(h http.Header) string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	return strings.Join(names, ",")
}

// flipHex changes the last hex digit of s.
func flipHex(s string) string {
	if s == "" {
		return "0"
	}
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}

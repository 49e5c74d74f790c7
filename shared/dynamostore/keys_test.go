package dynamostore

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/boltstore"
	"github.com/medshare/medshare/shared/core"
)

// The key shapes are the embedded store's (DESIGN §5): this store keeps its
// own copy, so that Lambda functions do not link bbolt, and these tests keep
// the copy equal to boltstore's exported key functions.

func TestKeysMatchBoltstore(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 5000, time.FixedZone("x", 3600))
	ids := []string{"pat-1", "ph_01JABC", "a", "with#hash", "dr.a@clinic:1", "ünï"}
	seqs := []uint64{0, 1, 42, 1<<64 - 1}
	type pair struct{ got, want key }
	var pairs []pair
	b := func(k boltstore.Key) key { return key{k.PK, k.SK} }
	for _, x := range ids {
		for _, y := range ids {
			pairs = append(pairs,
				pair{photoKey(x, y), b(boltstore.PhotoKey(x, y))},
				pair{actorIndexKey(x, at, y, 7), b(boltstore.ActorIndexKey(x, at, y, 7))},
			)
		}
		pairs = append(pairs,
			pair{appointmentKey(x), b(boltstore.AppointmentKey(x))},
			pair{chatImageKey(x), b(boltstore.ChatImageKey(x))},
			pair{auditHeadKey(x), b(boltstore.AuditHeadKey(x))},
		)
		for _, seq := range seqs {
			pairs = append(pairs, pair{auditRecordKey(x, seq), b(boltstore.AuditRecordKey(x, seq))})
		}
	}
	for _, seq := range seqs {
		if got, want := seqSK(seq), boltstore.SeqSK(seq); got != want {
			t.Errorf("seqSK(%d) = %q, boltstore says %q", seq, got, want)
		}
	}
	for _, p := range pairs {
		if p.got != p.want {
			t.Errorf("key %+v, boltstore says %+v", p.got, p.want)
		}
	}
	for _, c := range []struct{ got, want string }{
		{photoSKPrefix, boltstore.PhotoSKPrefix},
		{auditSeqSKPrefix, boltstore.AuditSeqSKPrefix},
		{actorPKPrefix, boltstore.ActorPKPrefix},
		{actorTimeLayout, boltstore.ActorTimeLayout},
	} {
		if c.got != c.want {
			t.Errorf("constant %q, boltstore says %q", c.got, c.want)
		}
	}
}

func TestParseActorSKMatchesBoltstore(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	good := boltstore.ActorIndexKey("dr-a", at, "pat#1", 12345).SK
	for _, sk := range []string{
		good, "", "SEQ#00000000000000000001", good[:len(good)-1], good + "0",
		"2026-03-14T15:09:26.535897932Z##00000000000000000001",
		"2026-03-14T15:09:26.535897932Z#p#+0000000000000000001",
		"2026-03-14X15:09:26.535897932Z#p#00000000000000000001",
	} {
		at1, p1, s1, err1 := parseActorSK(sk)
		at2, p2, s2, err2 := boltstore.ParseActorSK(sk)
		if (err1 == nil) != (err2 == nil) || !at1.Equal(at2) || p1 != p2 || s1 != s2 {
			t.Errorf("parseActorSK(%q) = %v %q %d %v; boltstore says %v %q %d %v", sk, at1, p1, s1, err1, at2, p2, s2, err2)
		}
	}
}

func TestCursorsMatchBoltstore(t *testing.T) {
	for _, sk := range []string{photoSKPrefix + "ph_1", seqSK(3), "2026-03-14T15:09:26.535897932Z#p#00000000000000000001"} {
		if got, want := encodeCursor(sk), boltstore.EncodeCursor(sk); got != want {
			t.Errorf("encodeCursor(%q) = %q, boltstore says %q", sk, got, want)
		}
	}
	for _, c := range []struct{ cursor, prefix string }{
		{"", photoSKPrefix},
		{encodeCursor(photoSKPrefix + "ph_1"), photoSKPrefix},
		{encodeCursor(photoSKPrefix), photoSKPrefix},
		{encodeCursor(seqSK(1)), photoSKPrefix},
		{encodeCursor("a\x00b"), ""},
		{"%%%", photoSKPrefix},
		{base64.URLEncoding.EncodeToString([]byte(photoSKPrefix + "ph_ab")), photoSKPrefix},
	} {
		got, gerr := decodeCursor(c.cursor, c.prefix)
		want, werr := boltstore.DecodeCursor(c.cursor, c.prefix)
		if got != want || core.KindOf(gerr) != core.KindOf(werr) || (gerr == nil) != (werr == nil) {
			t.Errorf("decodeCursor(%q, %q) = %q, %v; boltstore says %q, %v", c.cursor, c.prefix, got, gerr, want, werr)
		}
	}
	// One deliberate difference: a sort key that is not UTF-8 cannot be in
	// DynamoDB, so its cursor is malformed here.
	if _, err := decodeCursor(encodeCursor(photoSKPrefix+"\xff"), photoSKPrefix); core.KindOf(err) != core.KindInvalid {
		t.Errorf("decodeCursor of a non-UTF-8 sort key: got %v, want kind invalid", err)
	}
}

// TestTableInput pins the table definition that bootstrap and the CDK app
// build from.
func TestTableInput(t *testing.T) {
	in := TableInput("medshare-prod")
	if got := aws.ToString(in.TableName); got != "medshare-prod" {
		t.Errorf("TableName: got %q", got)
	}
	if in.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("BillingMode: got %q, want PAY_PER_REQUEST", in.BillingMode)
	}
	keys := func(ks []types.KeySchemaElement) string {
		var s string
		for _, k := range ks {
			s += fmt.Sprintf("%s:%s ", aws.ToString(k.AttributeName), k.KeyType)
		}
		return s
	}
	if got, want := keys(in.KeySchema), "pk:HASH sk:RANGE "; got != want {
		t.Errorf("KeySchema: got %q, want %q", got, want)
	}
	attrs := map[string]types.ScalarAttributeType{}
	for _, d := range in.AttributeDefinitions {
		attrs[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	wantAttrs := map[string]types.ScalarAttributeType{
		"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S", "expiry_bucket": "S", "expires_at": "N",
	}
	if diff := cmp.Diff(wantAttrs, attrs); diff != "" {
		t.Errorf("AttributeDefinitions mismatch (-want +got):\n%s", diff)
	}
	indexes := map[string]string{}
	for _, g := range in.GlobalSecondaryIndexes {
		indexes[aws.ToString(g.IndexName)] = keys(g.KeySchema) + string(g.Projection.ProjectionType)
	}
	wantIndexes := map[string]string{
		"gsi1":       "gsi1pk:HASH gsi1sk:RANGE ALL",
		"gsi_expiry": "expiry_bucket:HASH expires_at:RANGE KEYS_ONLY",
	}
	if diff := cmp.Diff(wantIndexes, indexes); diff != "" {
		t.Errorf("GlobalSecondaryIndexes mismatch (-want +got):\n%s", diff)
	}
}

func TestUploadExpiry(t *testing.T) {
	window := time.Date(2026, 3, 14, 15, 59, 59, 1, time.FixedZone("x", 2*3600))
	got := uploadExpiry(core.StatusPending, window)
	want := expiring{
		ExpiryBucket: "upload#2026-03-14-13",
		ExpiresAt:    window.Unix() + 1,
		TTL:          window.Add(UploadTTLGrace).Unix() + 1,
	}
	if got != want {
		t.Errorf("uploadExpiry(pending) = %+v, want %+v", got, want)
	}
	exact := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	if got := uploadExpiry(core.StatusPending, exact).ExpiresAt; got != exact.Unix() {
		t.Errorf("expires_at of a whole second: got %d, want %d", got, exact.Unix())
	}
	if got := uploadExpiry(core.StatusReady, window); got != (expiring{}) {
		t.Errorf("uploadExpiry(ready) = %+v, want none", got)
	}
}

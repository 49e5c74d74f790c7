package dynamostore

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy/legacytest"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
	"github.com/medshare/medshare/shared/store/storetest"
)

// The tests against DynamoDB Local. They run when MEDSHARE_AWS_EMULATORS=1
// and the SDK's environment points at the emulator
// (AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION, credentials); otherwise they skip,
// or fail when MEDSHARE_REQUIRE_AWS=1.

// emulatorClient returns a client of the emulator, or skips t.
func emulatorClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	if os.Getenv("MEDSHARE_AWS_EMULATORS") != "1" {
		if os.Getenv("MEDSHARE_REQUIRE_AWS") == "1" {
			t.Fatal("MEDSHARE_REQUIRE_AWS=1 but MEDSHARE_AWS_EMULATORS is not 1")
		}
		t.Skip("set MEDSHARE_AWS_EMULATORS=1 and AWS_ENDPOINT_URL_DYNAMODB to run against DynamoDB Local")
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatalf("load aws config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		// DynamoDB Local omits x-amz-crc32 on error responses, and the SDK
		// then logs a spurious checksum warning for every failed condition
		// (aws/aws-sdk-go-v2#3545).
		o.DisableValidateResponseChecksum = true
	})
}

var tableSeq atomic.Int64

// newTable creates a fresh table with EnsureTable and deletes it when t ends.
func newTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("medshare-test-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	if err := EnsureTable(t.Context(), client, name); err != nil {
		t.Fatalf("EnsureTable(%s): %v", name, err)
	}
	deleteTableAtEnd(t, client, name)
	return name
}

// newContractTable creates a fresh table of TableInput with TTL off, and
// deletes it when t ends. The contract suites pass fixed times, often
// before the wall clock, and DynamoDB Local deletes an item whose TTL has
// passed when a write touches it: with TTL on, an item of the suite could
// vanish between two steps. TTL is cleanup that the store never relies on
// (ARCHITECTURE §2.2), so the contract holds the same without it.
func newContractTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("medshare-contract-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	if _, err := client.CreateTable(t.Context(), TableInput(name)); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	deleteTableAtEnd(t, client, name)
	if _, err := waitActive(t.Context(), client, name); err != nil {
		t.Fatalf("table %s: %v", name, err)
	}
	return name
}

func deleteTableAtEnd(t *testing.T, client *dynamodb.Client, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("delete table %s: %v", name, err)
		}
	})
}

func newStore(t *testing.T, _ func() time.Time) core.Store {
	t.Helper()
	client := emulatorClient(t)
	return New(client, newContractTable(t, client))
}

// tamper rewrites one audit record in place with a PutItem, as someone with
// write access to the table could: the record's attributes change, its keys
// (table and index) stay, the head is untouched.
func tamper(t *testing.T, cs core.Store, patientID string, seq uint64, mutate func(*core.AuditRecord)) {
	t.Helper()
	s := cs.(*Store)
	ctx := t.Context()
	old, err := s.get(ctx, storekeys.AuditRecordKey(patientID, seq))
	if err != nil || len(old) == 0 {
		t.Fatalf("tamper with audit record %d of %s: read: %v (found %v)", seq, patientID, err, len(old) > 0)
	}
	rec, err := decodeAudit(old)
	if err != nil {
		t.Fatalf("tamper with audit record %d of %s: %v", seq, patientID, err)
	}
	mutate(&rec)
	it, err := marshal(auditItemOf(rec))
	if err != nil {
		t.Fatalf("tamper with audit record %d of %s: %v", seq, patientID, err)
	}
	for _, k := range []string{AttrPK, AttrSK, AttrGSI1PK, AttrGSI1SK, AttrTimeBucket, AttrTimeAt} {
		if v, ok := old[k]; ok {
			it[k] = v
		} else {
			delete(it, k)
		}
	}
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: it}); err != nil {
		t.Fatalf("tamper with audit record %d of %s: put: %v", seq, patientID, err)
	}
}

// TestContract runs the store port's contract suite on a fresh table per
// test, with TTL off (newContractTable): the suite's times are in the past,
// and DynamoDB Local would delete a Tally counter whose TTL has passed when
// the next Tally touches it, which the suite's own clock says is not over
// yet. The store's forgetting is DynamoDB's TTL: it reads no clock.
func TestContract(t *testing.T) {
	emulatorClient(t)
	storetest.Run(t, storetest.Harness{New: newStore, Tamper: tamper})
}

func TestLegacyContract(t *testing.T) {
	emulatorClient(t)
	legacytest.Run(t, legacytest.Harness{New: func(t *testing.T) legacytest.Store {
		client := emulatorClient(t)
		return New(client, newContractTable(t, client))
	}})
}

// TestEnsureTableOnEmulator checks that EnsureTable makes the table of
// TableInput with TTL on, and that running it again changes nothing.
func TestEnsureTableOnEmulator(t *testing.T) {
	client := emulatorClient(t)
	name := newTable(t, client)
	if err := EnsureTable(t.Context(), client, name); err != nil {
		t.Fatalf("EnsureTable again: %v", err)
	}
	desc, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSchema(desc.Table, TableInput(name)); err != nil {
		t.Errorf("schema of the created table: %v", err)
	}
	ttl, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != AttrTTL {
		t.Errorf("ttl of the created table: got %+v, want enabled on %q", d, AttrTTL)
	}
}

// TestUploadTimeIndexOnEmulator checks the cleanup attributes: a PENDING
// upload is in IndexTime under its hour's bucket and has a TTL; once READY
// it has neither.
func TestUploadTimeIndexOnEmulator(t *testing.T) {
	client := emulatorClient(t)
	s := New(client, newTable(t, client))
	ctx := t.Context()
	window := time.Date(2026, 3, 14, 15, 24, 26, 535897932, time.UTC)
	p := core.Photo{ID: core.NewID("ph"), OwnerID: "pat-1", Size: 10, SHA256: make([]byte, 32),
		Status: core.StatusPending, UploadExpiresAt: window}
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"}}
	img := core.ChatImage{ID: core.NewID("ci"), AppointmentID: a.ID, ClinicID: a.ClinicID, PatientID: "pat-1", Participants: a.Participants(),
		Size: 10, SHA256: make([]byte, 32), Status: core.StatusPending, UploadExpiresAt: window}
	if err := s.CreatePhoto(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAppointment(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChatImage(ctx, img); err != nil {
		t.Fatal(err)
	}

	due := func() []string {
		t.Helper()
		out, err := client.Query(ctx, &dynamodb.QueryInput{
			TableName:              s.table,
			IndexName:              aws.String(IndexTime),
			KeyConditionExpression: aws.String("#b = :b AND #e <= :now"),
			ExpressionAttributeNames: map[string]string{
				"#b": AttrTimeBucket, "#e": AttrTimeAt,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":b": avS("upload#2026-03-14-15"), ":now": avN(fmt.Sprint(window.Unix() + 1)),
			},
		})
		if err != nil {
			t.Fatalf("query %s: %v", IndexTime, err)
		}
		var keys []string
		for _, it := range out.Items {
			keys = append(keys, it[AttrPK].(*types.AttributeValueMemberS).Value)
		}
		return keys
	}
	wantAttrs := func(k storekeys.Key, want map[string]string) {
		t.Helper()
		it, err := s.get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, name := range []string{AttrTimeBucket, AttrTimeAt, AttrTTL} {
			switch v := it[name].(type) {
			case *types.AttributeValueMemberS:
				got[name] = v.Value
			case *types.AttributeValueMemberN:
				got[name] = v.Value
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("expiry attributes of %s mismatch (-want +got):\n%s", k.PK, diff)
		}
	}

	pending := map[string]string{
		AttrTimeBucket: "upload#2026-03-14-15",
		AttrTimeAt:     fmt.Sprint(window.Unix() + 1),
		AttrTTL:        fmt.Sprint(window.Add(UploadTTLGrace).Unix() + 1),
	}
	wantAttrs(storekeys.PhotoKey(p.OwnerID, p.ID), pending)
	wantAttrs(storekeys.ChatImageKey(img.ID), pending)
	wantAttrs(storekeys.AppointmentKey(a.ClinicID, a.ID), map[string]string{})
	if diff := cmp.Diff([]string{storekeys.ChatImagePKPrefix + img.ID, storekeys.PhotoPKPrefix + p.OwnerID}, slices.Sorted(slices.Values(due()))); diff != "" {
		t.Errorf("items due mismatch (-want +got):\n%s", diff)
	}

	now := window.Add(-time.Minute)
	if _, err := s.MarkPhotoReady(ctx, p.OwnerID, p.ID, core.BlobInfo{Size: p.Size, SHA256: p.SHA256}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkChatImageReady(ctx, img.ID, core.BlobInfo{Size: img.Size, SHA256: img.SHA256}, now); err != nil {
		t.Fatal(err)
	}
	wantAttrs(storekeys.PhotoKey(p.OwnerID, p.ID), map[string]string{})
	wantAttrs(storekeys.ChatImageKey(img.ID), map[string]string{})
	if got := due(); len(got) != 0 {
		t.Errorf("items due after READY: got %v, want none", got)
	}
}

// TestAuditItemShape pins the stored shape of an audit record that the
// tamper harness and the by-actor index rely on.
func TestAuditItemShape(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC)
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "dr-a", At: at, Outcome: core.OutcomeSuccess}, core.ChainHead{})
	it, err := marshal(auditItemOf(rec))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range []string{AttrPK, AttrSK, AttrGSI1PK, AttrGSI1SK, "at"} {
		got[k] = it[k].(*types.AttributeValueMemberS).Value
	}
	want := map[string]string{
		AttrPK:     "AUDIT#pat-1",
		AttrSK:     "SEQ#00000000000000000001",
		AttrGSI1PK: "ACTOR#dr-a",
		AttrGSI1SK: "2026-03-14T15:09:26.000000001Z#pat-1#00000000000000000001",
		"at":       "2026-03-14T15:09:26.000000001Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit item mismatch (-want +got):\n%s", diff)
	}
	noActor, err := marshal(auditItemOf(core.Link(core.AuditRecord{PatientID: "pat-1", At: at}, core.ChainHead{})))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{AttrGSI1PK, AttrGSI1SK} {
		if _, ok := noActor[k]; ok {
			t.Errorf("record without an actor has %s, want it absent (not indexed)", k)
		}
	}
	// A stranger's denied probe stays out of the stranger's own history.
	probe := rec
	probe.Outcome, probe.Reason = core.OutcomeDenied, core.CodeNotFound
	unlisted, err := marshal(auditItemOf(core.Link(probe, core.ChainHead{})))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{AttrGSI1PK, AttrGSI1SK} {
		if _, ok := unlisted[k]; ok {
			t.Errorf("a denied probe's record has %s, want it absent (not in the actor's history)", k)
		}
	}
}

// TestTimesSortAsStrings checks the property the upload-window condition
// relies on: stored times compare as strings as they compare as times.
func TestTimesSortAsStrings(t *testing.T) {
	base := time.Date(2026, 3, 14, 15, 9, 26, 500000000, time.UTC)
	times := []time.Time{
		{}, base.Add(-time.Hour), base, base.Add(time.Nanosecond), base.Add(30 * time.Millisecond),
		base.Add(time.Second).In(time.FixedZone("x", -7*3600)),
	}
	for _, a := range times {
		for _, b := range times {
			if got, want := strings.Compare(storeitem.FormatTime(a), storeitem.FormatTime(b)), a.Compare(b); got != want {
				t.Errorf("compare %s and %s: strings say %d, times say %d", storeitem.FormatTime(a), storeitem.FormatTime(b), got, want)
			}
		}
		back, err := storeitem.ParseTime(storeitem.FormatTime(a))
		if err != nil || !back.Equal(a) || back.Location() != time.UTC {
			t.Errorf("storeitem.ParseTime(storeitem.FormatTime(%v)) = %v, %v; want the same instant in UTC", a, back, err)
		}
	}
}

func TestParticipantsKey(t *testing.T) {
	a := core.Appointment{PatientID: "pat-1", ProfessionalIDs: []string{"dr-b", "dr-a"}}
	for _, tc := range []struct {
		name  string
		other core.Appointment
	}{
		{"same", a},
		{"reordered", core.Appointment{PatientID: "pat-1", ProfessionalIDs: []string{"dr-a", "dr-b"}}},
		{"professional added", core.Appointment{PatientID: "pat-1", ProfessionalIDs: []string{"dr-a", "dr-b", "dr-c"}}},
		{"professional removed", core.Appointment{PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"}}},
		{"patient changed", core.Appointment{PatientID: "pat-2", ProfessionalIDs: []string{"dr-a", "dr-b"}}},
		{"patient swapped with a professional", core.Appointment{PatientID: "dr-a", ProfessionalIDs: []string{"pat-1", "dr-b"}}},
		{"duplicate", core.Appointment{PatientID: "pat-1", ProfessionalIDs: []string{"dr-a", "dr-b", "dr-b"}}},
		{"separator inside an id", core.Appointment{PatientID: "pat-1", ProfessionalIDs: []string{`dr-a","dr-b`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := participantsKey(a.PatientID, a.ProfessionalIDs) == participantsKey(tc.other.PatientID, tc.other.ProfessionalIDs)
			if want := a.SameParticipants(tc.other); got != want {
				t.Errorf("keys equal: got %v, want %v (SameParticipants)", got, want)
			}
		})
	}
	if got, want := imageParticipantsKey(a.Participants()), participantsKey(a.PatientID, a.ProfessionalIDs); got != want {
		t.Errorf("imageParticipantsKey(Participants()) = %q, want %q", got, want)
	}
	if imageParticipantsKey(nil) == participantsKey("", nil) {
		t.Error("an image without participants matches an appointment with an empty patient")
	}
	// The caller's slice is not reordered.
	pros := []string{"dr-b", "dr-a"}
	participantsKey("pat-1", pros)
	if pros[0] != "dr-b" {
		t.Errorf("participantsKey sorted its argument: %v", pros)
	}
}

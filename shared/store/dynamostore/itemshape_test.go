package dynamostore

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
)

// The item layout of the table must not change (ARCHITECTURE §5): items
// already written are read with it, and the conditions and indexes name its
// attributes. TestItemShapes pins the whole item of every entity, every
// attribute's name, type and value, and the attributes left out, against
// testdata/items.golden, which the code before the stores shared one stored
// shape (issue 12) wrote; and reads each item back to its entity. Rewrite
// the file (-update-items) only for a change of layout that is meant,
// with a migration of the items already stored.
var updateItems = flag.Bool("update-items", false, "rewrite testdata/items.golden with the items the current code writes")

// it0 is the items' time: nanoseconds set, so that precision shows.
var it0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func TestItemShapes(t *testing.T) {
	type shape struct {
		name string
		item func() (item, error)
		// back decodes the item, for the round trip; nil for items that
		// are not read back as an entity.
		back func(item) (any, error)
		want any
	}
	photo := core.Photo{
		ID: "ph_shape", OwnerID: "pat-1", Angle: "CROWN", ContentType: "image/heic", Size: 123457,
		SHA256: []byte("0123456789abcdef0123456789abcdef"), WrappedKey: core.WrappedKey{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/k", Ciphertext: []byte("wrapped")},
		Metadata: []byte("\x01metadata"), Status: core.StatusPending, CreatedAt: it0, UploadExpiresAt: it0.Add(15 * time.Minute), UpdatedAt: it0.Add(time.Second),
	}
	readyPhoto := photo
	readyPhoto.Status, readyPhoto.WrappedKey.Ciphertext, readyPhoto.Metadata, readyPhoto.SHA256 = core.StatusReady, nil, nil, nil
	appt := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-b", "dr-a"},
		StartsAt: it0.Add(time.Hour), EndsAt: it0.Add(2 * time.Hour), ImageCount: 3, CreatedAt: it0, UpdatedAt: it0.Add(time.Minute)}
	img := core.ChatImage{ID: "ci_shape", AppointmentID: appt.ID, ClinicID: appt.ClinicID, PatientID: "pat-1", UploaderID: "dr-a",
		Participants: appt.Participants(), ContentType: "image/png", Size: 2048, SHA256: []byte("fedcba9876543210fedcba9876543210"),
		Status: core.StatusPending, CreatedAt: it0, UploadExpiresAt: it0.Add(15 * time.Minute), UpdatedAt: it0}
	readyImg := img
	readyImg.Status, readyImg.SHA256 = core.StatusReady, nil
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", At: it0, ActorID: "dr-a", ActorRole: core.RoleProfessional, Action: "key.issue",
		ResourceType: "key", ResourceID: "ek_shape", Outcome: core.OutcomeSuccess, SourceIP: "203.0.113.7", UserAgent: "shape/1.0",
		RequestID: "rq-1", PhotoID: "ph_shape", ShareID: "sh_shape", Device: "dev-a"}, core.ChainHead{Seq: 6, Hash: []byte("previous hash")})
	v1 := core.Link(core.AuditRecord{PatientID: "pat-1", At: it0, ActorID: "dr-x", ActorRole: core.RoleProfessional, Action: "chat_image.signed_url",
		Outcome: core.OutcomeDenied, Reason: core.CodeNotFound}, core.ChainHead{})
	v1.Version, v1.Hash = core.AuditVersion1, nil
	v1.Hash = core.AuditHash(v1)
	share := core.Share{ID: "sh_shape", PatientID: "pat-1", ProfessionalID: "dr-a",
		Photos:  []core.SharedPhoto{{PhotoID: "ph_shape", Angle: "CROWN", ContentType: "image/heic", Size: 123457, SHA256: []byte("0123456789abcdef0123456789abcdef")}},
		Purpose: "second opinion", ScreenshotPolicy: core.ScreenshotRevoke, MaxViews: 5, ViewsUsed: 2, AccessWindow: 15 * time.Minute,
		MaxDevices: 2, Devices: []string{"dev-a", "dev-b"}, Status: core.ShareActive, CreatedAt: it0, ExpiresAt: it0.Add(time.Hour),
		IdempotencyKey: "idem-1", RequestHash: []byte("request hash")}
	revoked := share
	revoked.Status, revoked.RevokedAt, revoked.RevokedBy, revoked.RevokeReason = core.ShareRevoked, it0.Add(time.Minute), "pat-1", "changed my mind"
	revoked.Photos, revoked.Devices, revoked.IdempotencyKey, revoked.RequestHash = nil, nil, "", nil
	access := core.Access{ID: "ac_shape", ShareID: share.ID, PatientID: "pat-1", ProfessionalID: "dr-a", KEM: 0x0020,
		DevicePublicKey: []byte("device public key"), DeviceFingerprint: "dev-a", SourceIP: "198.51.100.23", UserAgent: "MedShare/2.1",
		CreatedAt: it0, ExpiresAt: it0.Add(15 * time.Minute), ShareExpiresAt: share.ExpiresAt, Photos: share.Photos, Score: 3}
	key := core.EphemeralKey{ID: "ek_shape", AccessID: access.ID, ShareID: share.ID, PhotoID: "ph_shape", PatientID: "pat-1",
		ProfessionalID: "dr-a", ObjectKey: core.PhotoObjectKey("pat-1", "ph_shape"), Status: core.KeyUsed,
		CreatedAt: it0, ExpiresAt: it0.Add(core.MaxKeyTTL), ShareExpiresAt: share.ExpiresAt, UsedAt: it0.Add(time.Second)}
	note := core.Notification{ID: "nt_shape", RecipientID: "pat-1", Type: core.NotePhotoViewed, ShareID: share.ID, CreatedAt: it0,
		Data: map[string]string{"photo_id": "ph_shape", "access_id": access.ID}}
	bare := core.Notification{ID: "nt_bare", RecipientID: "dr-a", Type: core.NoteSessionRevoked, CreatedAt: it0}
	report := core.DailyReport{Day: time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC), GeneratedAt: it0,
		ReportCounts: core.ReportCounts{SharesCreated: 1, SharesRevoked: 2, SharesAutoRevoked: 3, SharesExpired: 4, Views: 5, SuspiciousEvents: 6, ChatImageFetches: 7}}

	shapes := []shape{
		{"photo pending", func() (item, error) { return shapePhoto(photo) }, func(it item) (any, error) { return decodePhoto(it) }, photo},
		{"photo ready, no key or metadata", func() (item, error) { return shapePhoto(readyPhoto) }, func(it item) (any, error) { return decodePhoto(it) }, readyPhoto},
		{"appointment", func() (item, error) { return shapeAppointment(appt) }, func(it item) (any, error) { return decodeAppointment(it) }, appt},
		{"chat image pending", func() (item, error) { return shapeChatImage(img) }, func(it item) (any, error) { return decodeChatImage(it) }, img},
		{"chat image ready", func() (item, error) { return shapeChatImage(readyImg) }, func(it item) (any, error) { return decodeChatImage(it) }, readyImg},
		{"audit record v2 in its actor's history", func() (item, error) { return shapeAuditRecord(rec) }, func(it item) (any, error) { return decodeAudit(it) }, rec},
		{"audit record v1 denied probe", func() (item, error) { return shapeAuditRecord(v1) }, func(it item) (any, error) { return decodeAudit(it) }, v1},
		{"audit head", func() (item, error) { return shapeAuditHead(rec) }, func(it item) (any, error) { return decodeHead(it) }, core.ChainHead{Seq: rec.Seq, Hash: rec.Hash}},
		{"share active", func() (item, error) { return shapeShare(share) }, func(it item) (any, error) { return decodeShare(it) }, share},
		{"share revoked, bare", func() (item, error) { return shapeShare(revoked) }, func(it item) (any, error) { return decodeShare(it) }, revoked},
		{"idempotency claim", func() (item, error) { return shapeIdempotencyClaim(share) }, nil, nil},
		{"access", func() (item, error) { return shapeAccess(access) }, func(it item) (any, error) { return decodeAccess(it) }, access},
		{"ephemeral key", func() (item, error) { return shapeEphemeralKey(key) }, func(it item) (any, error) { return decodeEphemeralKey(it) }, key},
		{"inbox item", func() (item, error) { return shapeInbox(note) }, func(it item) (any, error) { return decodeInboxItem(it) }, core.InboxItem{Notification: note}},
		{"inbox item, no data", func() (item, error) { return shapeInbox(bare) }, func(it item) (any, error) { return decodeInboxItem(it) }, core.InboxItem{Notification: bare}},
		{"daily report", func() (item, error) { return shapeDailyReport(report) }, func(it item) (any, error) { return decodeReport(it) }, report},
	}
	var out strings.Builder
	for _, sh := range shapes {
		it, err := sh.item()
		if err != nil {
			t.Fatalf("%s: %v", sh.name, err)
		}
		fmt.Fprintf(&out, "# %s\n", sh.name)
		for _, name := range slices.Sorted(mapKeys(it)) {
			fmt.Fprintf(&out, "%s %s\n", name, renderAV(it[name]))
		}
		out.WriteString("\n")
		if sh.back == nil {
			continue
		}
		got, err := sh.back(it)
		if err != nil {
			t.Errorf("%s: decode: %v", sh.name, err)
			continue
		}
		if diff := cmp.Diff(sh.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: the item reads back as another value (-want +got):\n%s", sh.name, diff)
		}
	}
	path := filepath.Join("testdata", "items.golden")
	if *updateItems {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-items to write it)", err)
	}
	if diff := cmp.Diff(string(golden), out.String()); diff != "" {
		t.Errorf("the items differ from %s (-golden +now):\n%s", path, diff)
	}
}

func mapKeys(it item) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range it {
			if !yield(k) {
				return
			}
		}
	}
}

// renderAV renders an attribute value with its type, maps with their keys
// sorted, so that a change of type or of an omitted member shows.
func renderAV(av types.AttributeValue) string {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return fmt.Sprintf("S %q", v.Value)
	case *types.AttributeValueMemberN:
		return "N " + v.Value
	case *types.AttributeValueMemberB:
		return "B " + hex.EncodeToString(v.Value)
	case *types.AttributeValueMemberBOOL:
		return fmt.Sprintf("BOOL %t", v.Value)
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		return fmt.Sprintf("SS %q", slices.Sorted(slices.Values(v.Value)))
	case *types.AttributeValueMemberL:
		parts := make([]string, len(v.Value))
		for i, e := range v.Value {
			parts[i] = renderAV(e)
		}
		return "L [" + strings.Join(parts, ", ") + "]"
	case *types.AttributeValueMemberM:
		var parts []string
		for _, k := range slices.Sorted(mapKeys(v.Value)) {
			parts = append(parts, fmt.Sprintf("%q: %s", k, renderAV(v.Value[k])))
		}
		return "M {" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("%T", av)
}

// The items of each entity as the store writes them. These name what the
// code of the day calls to make an item; the golden file is what pins it.

func shapePhoto(p core.Photo) (item, error)               { return marshal(photoItemOf(p)) }
func shapeAppointment(a core.Appointment) (item, error)   { return marshal(appointmentItemOf(a)) }
func shapeChatImage(c core.ChatImage) (item, error)       { return marshal(chatImageItemOf(c)) }
func shapeAuditRecord(r core.AuditRecord) (item, error)   { return marshal(auditItemOf(r)) }
func shapeShare(s core.Share) (item, error)               { return marshal(shareItemOf(s)) }
func shapeIdempotencyClaim(s core.Share) (item, error)    { return marshal(idempotencyItemOf(s)) }
func shapeAccess(a core.Access) (item, error)             { return marshal(accessItemOf(a)) }
func shapeEphemeralKey(k core.EphemeralKey) (item, error) { return marshal(ephemeralKeyItemOf(k)) }
func shapeInbox(n core.Notification) (item, error)        { return marshal(inboxItemOf(n)) }
func shapeDailyReport(r core.DailyReport) (item, error)   { return marshal(reportItemOf(r)) }
func shapeAuditHead(r core.AuditRecord) (item, error) {
	writes, err := (&Store{table: new(string)}).auditWrites(r)
	if err != nil {
		return nil, err
	}
	return writes[1].Put.Item, nil
}

// Package samples seeds a runtime with what the sample events in events/
// refer to, so that tests can run every event through its function on any
// adapter set: the embedded runtime in-process, and the AWS adapters under the
// Lambda Runtime Interface Emulator.
package samples

import (
	"bytes"
	"context"
	"crypto/hpke"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The fixed ids of the sample events (events/README.md).
const (
	Patient      = "pat-sample-1"
	Professional = "pro-sample-1"
	Clinic       = "clinic-sample-1"
	Appointment  = "appt-sample-1"
	Photo        = "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	ChatImage    = "ci_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	Share        = "sh_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	Access       = "ac_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	Key          = "ek_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	Notification = "nt_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	// LegacyURL is the old public URL of the legacy chat image that Seed
	// imports into the sample appointment (not yet migrated):
	// events/chat-resolve.json resolves it.
	LegacyURL = "https://old-chat.nyc3.digitaloceanspaces.com/images/2022/07/0b9f2c41.jpg"
)

// Order is the order in which tests run the events: the route table's, except
// that revoking the session and deleting the photo come after everything that
// uses them.
var Order = []string{
	"health", "upload-presign", "finalize-upload", "photo-key", "list-photos", "register-appointment",
	"chat-upload", "chat-finalize", "chat-signed-url", "chat-resolve", "list-chat-images",
	"create-session", "list-sessions", "get-session", "open-access", "issue-key", "signed-url",
	"list-notifications", "mark-notification-read", "report-activity", "revoke-session", "delete-photo",
	"access-history", "verify-audit",
}

// Status is the status each event gets after Seed.
var Status = map[string]int{
	"health": 200, "upload-presign": 201, "finalize-upload": 200, "list-photos": 200, "delete-photo": 200,
	"register-appointment": 201, "chat-upload": 201, "chat-finalize": 200, "chat-signed-url": 200,
	"create-session": 201, "list-sessions": 200, "get-session": 200, "revoke-session": 200,
	"open-access": 201, "issue-key": 201, "signed-url": 200, "list-notifications": 200,
	"mark-notification-read": 200, "report-activity": 200, "access-history": 200, "verify-audit": 200,
	"photo-key": 200, "list-chat-images": 200, "chat-resolve": 200,
}

// Target is what Seed writes through.
type Target struct {
	Service *core.Service
	Store   core.Store
	Blobs   core.Blobs
	Keys    core.KeyRing
	// Put sends data as the presigned upload says.
	Put func(up core.Upload, data []byte) error
}

// Seed stores the sample photo (PENDING, uploaded: finalize-upload makes it
// READY), the appointment, the chat image (PENDING, uploaded), an image of
// the legacy chat imported from its export (LegacyURL), and a share of
// the photo with an access and a notification. The sample key, which lives
// only MaxKeyTTL, is issued by SeedKey.
func Seed(ctx context.Context, t Target) error {
	now := time.Now().UTC()
	if _, _, err := t.Service.RegisterAppointment(ctx, core.Caller{ID: Clinic, Role: core.RoleClinic}, Appointment, core.AppointmentInput{
		PatientID: Patient, ProfessionalIDs: []string{Professional}, StartsAt: now, EndsAt: now.Add(time.Hour),
	}); err != nil {
		return fmt.Errorf("seed appointment: %w", err)
	}
	put := func(key, contentType string, data []byte) error {
		sum := sha256.Sum256(data)
		up, err := t.Blobs.PresignPut(ctx, key, int64(len(data)), sum[:], contentType, time.Minute)
		if err != nil {
			return err
		}
		return t.Put(up, data)
	}

	ct := []byte("ciphertext of the sample photo")
	sum := sha256.Sum256(ct)
	p := core.Photo{ID: Photo, OwnerID: Patient, Angle: "CROWN", ContentType: "image/jpeg", Size: int64(len(ct)),
		SHA256: sum[:], Status: core.StatusPending, CreatedAt: now, UpdatedAt: now, UploadExpiresAt: now.Add(time.Hour)}
	w, err := t.Keys.Wrap(ctx, bytes.Repeat([]byte{7}, 32), p.EncryptionContext())
	if err != nil {
		return fmt.Errorf("seed photo key: %w", err)
	}
	p.WrappedKey = w
	if err := t.Store.CreatePhoto(ctx, p); err != nil {
		return fmt.Errorf("seed photo: %w", err)
	}
	if err := put(p.ObjectKey(), core.CiphertextContentType, ct); err != nil {
		return fmt.Errorf("seed photo object: %w", err)
	}

	img := []byte("a sample chat image")
	isum := sha256.Sum256(img)
	ci := core.ChatImage{ID: ChatImage, AppointmentID: Appointment, ClinicID: Clinic, PatientID: Patient, UploaderID: Patient,
		Participants: []string{Patient, Professional}, ContentType: "image/png", Size: int64(len(img)), SHA256: isum[:],
		Status: core.StatusPending, CreatedAt: now, UpdatedAt: now, UploadExpiresAt: now.Add(time.Hour)}
	if err := t.Store.CreateChatImage(ctx, ci); err != nil {
		return fmt.Errorf("seed chat image: %w", err)
	}
	if err := put(ci.ObjectKey(), ci.ContentType, img); err != nil {
		return fmt.Errorf("seed chat image object: %w", err)
	}

	// An image of the legacy chat, imported from its export and not yet
	// copied: chat-resolve answers its old URL for a while.
	legacy, err := t.Service.PrepareLegacyImage(ctx, core.LegacyImport{ClinicID: Clinic, AppointmentID: Appointment, SenderID: Professional,
		URL: LegacyURL, SentAt: now.Add(-365 * 24 * time.Hour), ContentType: "image/jpeg", Size: 2048})
	if err == nil {
		_, _, err = t.Service.ImportLegacyImage(ctx, legacy)
	}
	if err != nil {
		return fmt.Errorf("seed legacy chat image: %w", err)
	}

	shared := []core.SharedPhoto{{PhotoID: p.ID, Angle: p.Angle, ContentType: p.ContentType, Size: p.Size, SHA256: p.SHA256}}
	sh := core.Share{ID: Share, PatientID: Patient, ProfessionalID: Professional, Photos: shared, Purpose: "sample",
		ScreenshotPolicy: core.ScreenshotWarn, MaxViews: 10, AccessWindow: time.Hour, MaxDevices: 2,
		Status: core.ShareActive, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	kem, err := hpke.NewKEM(core.KEMX25519)
	if err != nil {
		return err
	}
	// The device of events/open-access.json: private key 32 bytes of 0x02.
	device, err := kem.NewPrivateKey(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		return err
	}
	a := core.Access{ID: Access, ShareID: Share, PatientID: Patient, ProfessionalID: Professional, KEM: core.KEMX25519,
		DevicePublicKey: device.PublicKey().Bytes(), DeviceFingerprint: core.DeviceKeyFingerprint(core.KEMX25519, device.PublicKey().Bytes()), SourceIP: "198.51.100.24",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), ShareExpiresAt: sh.ExpiresAt, Photos: shared}
	note := func(id, recipient, typ string) core.Notification {
		return core.Notification{ID: id, RecipientID: recipient, Type: typ, ShareID: Share, CreatedAt: now}
	}
	record := func(action core.AuditAction, resType, resID string, actor string, role core.Role) (core.AuditRecord, error) {
		head, err := t.Store.AuditHead(ctx, Patient)
		if err != nil {
			return core.AuditRecord{}, err
		}
		return core.Link(core.AuditRecord{PatientID: Patient, At: now, ActorID: actor, ActorRole: role, Action: action,
			ResourceType: resType, ResourceID: resID, Outcome: core.OutcomeSuccess, RequestID: "seed"}, head), nil
	}
	rec, err := record(core.AuditShareCreate, "share", Share, Patient, core.RolePatient)
	if err == nil {
		err = t.Store.CreateShare(ctx, sh, rec, note(Notification, Professional, core.NoteSessionCreated))
	}
	if err != nil {
		return fmt.Errorf("seed share: %w", err)
	}
	if rec, err = record(core.AuditAccessOpen, "access", Access, Professional, core.RoleProfessional); err == nil {
		err = t.Store.OpenAccess(ctx, a, now, rec, note(core.NewSortableID("nt", now), Patient, core.NoteSessionAccess))
	}
	if err != nil {
		return fmt.Errorf("seed access: %w", err)
	}
	return nil
}

// SeedKey issues the sample key (events/signed-url.json claims it) on the
// share and access that Seed stored. The key expires MaxKeyTTL after now, so
// call it right before the signed-url event runs, never minutes before.
func SeedKey(ctx context.Context, t Target) error {
	now := time.Now().UTC()
	a, err := t.Store.GetAccess(ctx, Access)
	if err != nil {
		return fmt.Errorf("seed key: %w", err)
	}
	k := core.EphemeralKey{ID: Key, AccessID: Access, ShareID: Share, PhotoID: Photo, PatientID: Patient, ProfessionalID: Professional,
		ObjectKey: core.PhotoObjectKey(Patient, Photo), Status: core.KeyIssued, CreatedAt: now, ExpiresAt: now.Add(core.MaxKeyTTL), ShareExpiresAt: a.ShareExpiresAt}
	head, err := t.Store.AuditHead(ctx, Patient)
	if err != nil {
		return fmt.Errorf("seed key: %w", err)
	}
	rec := core.Link(core.AuditRecord{PatientID: Patient, At: now, ActorID: Professional, ActorRole: core.RoleProfessional, Action: core.AuditKeyIssue,
		ResourceType: "key", ResourceID: Key, Outcome: core.OutcomeSuccess, RequestID: "seed"}, head)
	n := core.Notification{ID: core.NewSortableID("nt", now), RecipientID: Patient, Type: core.NotePhotoViewed, ShareID: Share, CreatedAt: now}
	if err := t.Store.IssueKey(ctx, k, now, rec, n); err != nil {
		return fmt.Errorf("seed key: %w", err)
	}
	return nil
}

package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/boltstore"
)

// failingAudit is a store whose audit appends fail, as when the table is
// throttled.
type failingAudit struct{ *boltstore.Store }

var errAuditDown = errors.New("audit trail down")

func (failingAudit) AppendAudit(context.Context, core.AuditRecord, ...core.Notification) error {
	return core.ErrUnavailable(errAuditDown, "append audit")
}

// TestProbeAnswerDoesNotDependOnTheAudit: a stranger's probe of an existing
// chat image answers the 404 of an unknown id even when its denial cannot
// be recorded (a 503 would tell them the image exists); the failure rides
// along as the answer's cause, for the logs.
func TestProbeAnswerDoesNotDependOnTheAudit(t *testing.T) {
	store, blobs, keys := embeddedAdapters(t)
	ctx := context.Background()
	now := time.Now().UTC()
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"pro-1"}, StartsAt: now, EndsAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
	if _, err := store.PutAppointment(ctx, a); err != nil {
		t.Fatal(err)
	}
	img := core.ChatImage{ID: core.NewID("ci"), AppointmentID: a.ID, ClinicID: a.ClinicID, PatientID: a.PatientID, UploaderID: "pat-1", Participants: a.Participants(),
		ContentType: "image/png", Size: 1, SHA256: make([]byte, 32), Status: core.StatusReady, CreatedAt: now, UpdatedAt: now, UploadExpiresAt: now.Add(time.Hour)}
	if err := store.CreateChatImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(core.Config{}, core.Deps{Store: failingAudit{store}, Blobs: blobs, Keys: keys})
	stranger := core.Caller{ID: "pro-2", Role: core.RoleProfessional}

	_, probed := svc.ChatImageURL(ctx, stranger, img.ID)
	_, unknown := svc.ChatImageURL(ctx, stranger, core.NewID("ci"))
	var got, want *core.Error
	if !errors.As(probed, &got) || !errors.As(unknown, &want) {
		t.Fatalf("errors %v and %v, want *core.Error", probed, unknown)
	}
	if got.Kind != want.Kind || got.Code != want.Code || got.Message != want.Message || got.Kind != core.KindNotFound {
		t.Errorf("probe of an existing image = %v %q %q, unknown id = %v %q %q; want the same not_found",
			got.Kind, got.Code, got.Message, want.Kind, want.Code, want.Message)
	}
	if !errors.Is(probed, errAuditDown) {
		t.Errorf("the probe's answer %v does not carry the audit failure for the logs", probed)
	}
	// A participant still gets no URL without its record: no audit, no URL.
	if _, err := svc.ChatImageURL(ctx, core.Caller{ID: "pro-1", Role: core.RoleProfessional}, img.ID); core.KindOf(err) != core.KindUnavailable {
		t.Errorf("participant's URL with the audit down: %v, want unavailable", err)
	}
}

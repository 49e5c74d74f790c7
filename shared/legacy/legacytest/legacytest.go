// Package legacytest is the contract suite of the core.LegacyStore port:
// the chat images that the migration of the legacy chat imports, completes
// and discards, and the index of their old URLs (ARCHITECTURE §9). Every
// implementation (the embedded bbolt store in every `go test`, the DynamoDB
// store against the emulator) runs it from its own tests:
//
//	func TestLegacyContract(t *testing.T) {
//		legacytest.Run(t, legacytest.Harness{New: newStore})
//	}
//
// A LegacyStore's images are chat images of core.ChatStore and its
// completion writes into the audit chains of core.AuditStore, so the suite
// runs against a store that is all three, and checks through their methods.
//
// Besides the contracts written on the port in shared/core/legacy.go, the
// suite fixes what the port leaves to the adapters, and every adapter must
// do the same:
//
//   - Everything storetest fixes for core.Store holds for imported images:
//     times round-trip at nanosecond precision and come back in UTC, nil
//     and empty slices are the same value, Participants keep their order.
//   - A failed method writes nothing at all: not the image, not an index
//     entry, not the appointment's count, not the record or the head.
//   - An imported image counts on its appointment as a created one does
//     (core.Appointment.ImageCount), so the appointment's participants are
//     fixed from its import until its discard.
//   - MarkChatImageReady (the finalize of an upload) refuses an IMPORTED
//     image with KindConflict and writes nothing: only a completion makes
//     it READY.
//   - ListChatImages lists a legacy image once it is READY, with its
//     LegacyURL, at its CreatedAt (the time its message was sent).
//   - Of concurrent imports of one image exactly one reports created; of
//     concurrent completions of one image exactly one reports completed,
//     and the chain holds exactly one record of it.
//
// The suite never sleeps: every time is passed to the port explicitly.
package legacytest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storetest"
)

// Store is what the suite runs against.
type Store interface {
	core.Store
	core.LegacyStore
}

// Harness gives the suite a fresh, empty store per test.
type Harness struct {
	// New returns a fresh, empty store; it registers its own cleanup with
	// t.Cleanup.
	New func(t *testing.T) Store
}

// t0 is the suite's "now": nanoseconds set, so that precision loss shows.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// sent is when the suite's legacy messages were sent: years before t0, in
// another zone, with nanoseconds.
var sent = time.Date(2022, 7, 1, 9, 30, 0, 123456789, time.FixedZone("UTC-03:00", -3*3600))

var cmpOpts = cmp.Options{cmpopts.EquateEmpty()}

// Run runs the whole contract suite against the store that h makes.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("legacytest: Harness.New is nil")
	}
	t.Run("Import", func(t *testing.T) { testImport(t, h) })
	t.Run("Find", func(t *testing.T) { testFind(t, h) })
	t.Run("Complete", func(t *testing.T) { testComplete(t, h) })
	t.Run("Discard", func(t *testing.T) { testDiscard(t, h) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, h) })
}

// appointment returns clinic's appointment id with two professionals.
func appointment(clinic, id string) core.Appointment {
	return core.Appointment{
		ID: id, ClinicID: clinic, PatientID: "pat-" + id, ProfessionalIDs: []string{"dr-b", "dr-a"},
		StartsAt: t0.Add(-365 * 24 * time.Hour), EndsAt: t0.Add(-365*24*time.Hour + time.Hour),
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func putAppointment(t *testing.T, s Store, a core.Appointment) {
	t.Helper()
	_, err := s.PutAppointment(t.Context(), a)
	storetest.Must(t, "PutAppointment "+a.ID, err)
}

// withAppointment returns a new store holding one appointment, appt-1 of
// clinic-1, where most subtests start.
func withAppointment(t *testing.T, h Harness) (Store, core.Appointment) {
	t.Helper()
	s := h.New(t)
	a := appointment("clinic-1", "appt-1")
	putAppointment(t, s, a)
	return s, a
}

// imported returns the IMPORTED image of a legacy URL in a, sent by a
// professional, as the service prepares it.
func imported(a core.Appointment, url string) core.ChatImage {
	return core.ChatImage{
		ID:            core.LegacyChatImageID(a.ClinicID, a.ID, url),
		AppointmentID: a.ID,
		ClinicID:      a.ClinicID,
		PatientID:     a.PatientID,
		UploaderID:    a.ProfessionalIDs[0],
		Participants:  a.Participants(),
		ContentType:   "image/jpeg",
		Size:          31337,
		SHA256:        storetest.Digest("legacy " + url),
		Status:        core.StatusImported,
		CreatedAt:     sent,
		UpdatedAt:     t0,
		LegacyURL:     url,
	}
}

// record returns a record of the migration of img linked to head.
func record(img core.ChatImage, head core.ChainHead) core.AuditRecord {
	return core.Link(core.AuditRecord{
		PatientID: img.PatientID, At: t0, ActorID: core.MigrationID, ActorRole: core.RoleSystem,
		Action: core.AuditChatImageMigrate, ResourceType: "chat_image", ResourceID: img.ID, Outcome: core.OutcomeSuccess,
		RequestID: "run-1",
	}, head)
}

func mustImport(t *testing.T, s Store, img core.ChatImage) core.ChatImage {
	t.Helper()
	got, created, err := s.ImportChatImage(t.Context(), img)
	storetest.Must(t, "ImportChatImage "+img.ID, err)
	if !created {
		t.Fatalf("ImportChatImage %s: created=false on a fresh image", img.ID)
	}
	return got
}

func wantImage(t *testing.T, s Store, want core.ChatImage) {
	t.Helper()
	got, err := s.GetChatImage(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("GetChatImage(%s): %v", want.ID, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("GetChatImage(%s) (-want +got):\n%s", want.ID, diff)
	}
	storetest.WantUTC(t, "image", map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt, "UploadExpiresAt": got.UploadExpiresAt})
}

func wantNoImage(t *testing.T, s Store, id string) {
	t.Helper()
	_, err := s.GetChatImage(t.Context(), id)
	storetest.WantKind(t, "GetChatImage "+id, err, core.KindNotFound)
}

func wantCount(t *testing.T, s Store, a core.Appointment, n int) {
	t.Helper()
	got, err := s.GetAppointment(t.Context(), a.ClinicID, a.ID)
	storetest.Must(t, "GetAppointment "+a.ID, err)
	if got.ImageCount != n {
		t.Errorf("appointment %s: ImageCount %d, want %d", a.ID, got.ImageCount, n)
	}
}

func wantFound(t *testing.T, s Store, url string, want ...core.ChatImage) {
	t.Helper()
	got, err := s.FindChatImagesByLegacyURL(t.Context(), url)
	storetest.Must(t, "FindChatImagesByLegacyURL", err)
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("FindChatImagesByLegacyURL(%s) (-want +got):\n%s", url, diff)
	}
}

func wantChain(t *testing.T, s Store, patient string, n int) []core.AuditRecord {
	t.Helper()
	recs, _, err := s.ListAudit(t.Context(), patient, false, core.Page{Limit: 100})
	storetest.Must(t, "ListAudit "+patient, err)
	if len(recs) != n {
		t.Errorf("chain of %s: %d records, want %d", patient, len(recs), n)
	}
	storetest.WantVerified(t, s, patient, n)
	return recs
}

func listed(t *testing.T, s Store, a core.Appointment) []core.ChatImage {
	t.Helper()
	imgs, _, err := s.ListChatImages(t.Context(), a.ClinicID, a.ID, a.PatientID, core.Page{Limit: 100})
	storetest.Must(t, "ListChatImages "+a.ID, err)
	return imgs
}

const url1 = "https://old-chat.example.com/images/2022/a%20b.jpg"
const url2 = "https://old-chat.example.com/images/2022/c.png"

func testImport(t *testing.T, h Harness) {
	t.Run("CreatesOnce", func(t *testing.T) {
		s, a := withAppointment(t, h)
		img := imported(a, url1)
		got := mustImport(t, s, img)
		want := img
		want.CreatedAt = sent.UTC()
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("ImportChatImage returned (-want +got):\n%s", diff)
		}
		wantImage(t, s, want)
		wantCount(t, s, a, 1)
		// Again, even with other fields: the stored image, unchanged.
		other := img
		other.Size, other.SHA256, other.UpdatedAt = 1, nil, t0.Add(time.Hour)
		again, created, err := s.ImportChatImage(t.Context(), other)
		storetest.Must(t, "ImportChatImage again", err)
		if created {
			t.Error("a second import reported created")
		}
		if diff := cmp.Diff(want, again, cmpOpts); diff != "" {
			t.Errorf("second import returned (-stored +got):\n%s", diff)
		}
		wantImage(t, s, want)
		wantCount(t, s, a, 1)
	})
	t.Run("FixesTheParticipants", func(t *testing.T) {
		s, a := withAppointment(t, h)
		mustImport(t, s, imported(a, url1))
		changed := a
		changed.ProfessionalIDs = []string{"dr-c"}
		_, err := s.PutAppointment(t.Context(), changed)
		storetest.WantKind(t, "PutAppointment with other participants", err, core.KindConflict)
	})
	t.Run("Refused", func(t *testing.T) {
		s, a := withAppointment(t, h)
		for _, tc := range []struct {
			name string
			edit func(*core.ChatImage)
			kind core.Kind
		}{
			{"appointment of another clinic", func(img *core.ChatImage) { img.ClinicID = "clinic-2" }, core.KindNotFound},
			{"no such appointment", func(img *core.ChatImage) { img.AppointmentID = "appt-9" }, core.KindNotFound},
			{"participants differ", func(img *core.ChatImage) { img.Participants = []string{a.PatientID, "dr-z"} }, core.KindConflict},
			{"not imported", func(img *core.ChatImage) { img.Status = core.StatusPending }, core.KindInvalid},
			{"no legacy url", func(img *core.ChatImage) { img.LegacyURL = "" }, core.KindInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				img := imported(a, url1+tc.name)
				tc.edit(&img)
				_, _, err := s.ImportChatImage(t.Context(), img)
				storetest.WantKind(t, "ImportChatImage", err, tc.kind)
				wantNoImage(t, s, img.ID)
				wantFound(t, s, url1+tc.name)
			})
		}
		wantCount(t, s, a, 0)
	})
	t.Run("NotFinalizedNotListed", func(t *testing.T) {
		s, a := withAppointment(t, h)
		img := mustImport(t, s, imported(a, url1))
		_, err := s.MarkChatImageReady(t.Context(), img.ID, core.BlobInfo{Size: img.Size, SHA256: img.SHA256}, t0)
		storetest.WantKind(t, "MarkChatImageReady of an imported image", err, core.KindConflict)
		wantImage(t, s, img)
		if got := listed(t, s, a); len(got) != 0 {
			t.Errorf("ListChatImages lists %d imported images, want none before completion", len(got))
		}
	})
}

func testFind(t *testing.T, h Harness) {
	s := h.New(t)
	a := appointment("clinic-1", "appt-1")
	b := appointment("clinic-1", "appt-2")
	c := appointment("clinic-2", "appt-1") // the same appointment id in another clinic
	for _, x := range []core.Appointment{a, b, c} {
		putAppointment(t, s, x)
	}
	wantFound(t, s, url1)
	ia := imported(a, url1)
	ib := imported(b, url1)
	ib.CreatedAt = sent.Add(-time.Second) // older: first
	ic := imported(c, url1)
	ic.CreatedAt = sent
	i2 := imported(a, url2)
	for _, img := range []core.ChatImage{ia, ib, ic, i2} {
		mustImport(t, s, img)
	}
	utc := func(img core.ChatImage) core.ChatImage { img.CreatedAt = img.CreatedAt.UTC(); return img }
	first, second := utc(ia), utc(ic)
	if second.ID < first.ID {
		first, second = second, first
	}
	wantFound(t, s, url1, utc(ib), first, second)
	wantFound(t, s, url2, utc(i2))
	wantFound(t, s, url1+"x")
	wantFound(t, s, "https://old-chat.example.com/images/2022/A%20B.jpg")
}

func testComplete(t *testing.T, h Harness) {
	t.Run("MakesReadyWithItsRecord", func(t *testing.T) {
		s, a := withAppointment(t, h)
		img := mustImport(t, s, imported(a, url1))
		observed := core.BlobInfo{Size: 4321, SHA256: storetest.Digest("bytes")}
		rec := record(img, core.ChainHead{})
		done := t0.Add(time.Minute).In(time.FixedZone("x", 3600))
		got, completed, err := s.CompleteChatImageImport(t.Context(), img.ID, observed, "image/png", done, rec)
		storetest.Must(t, "CompleteChatImageImport", err)
		if !completed {
			t.Fatal("completed=false on an imported image")
		}
		want := img
		want.Status, want.Size, want.SHA256, want.ContentType, want.UpdatedAt = core.StatusReady, observed.Size, observed.SHA256, "image/png", done.UTC()
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("CompleteChatImageImport returned (-want +got):\n%s", diff)
		}
		wantImage(t, s, want)
		recs := wantChain(t, s, a.PatientID, 1)
		if len(recs) == 1 && (recs[0].Action != core.AuditChatImageMigrate || recs[0].ResourceID != img.ID) {
			t.Errorf("record %+v, want the migration of %s", recs[0], img.ID)
		}
		if diff := cmp.Diff([]core.ChatImage{want}, listed(t, s, a), cmpOpts); diff != "" {
			t.Errorf("ListChatImages after completion (-want +got):\n%s", diff)
		}
		wantFound(t, s, url1, want)
		// Again: READY already, nothing written.
		again, completed, err := s.CompleteChatImageImport(t.Context(), img.ID, core.BlobInfo{Size: 1, SHA256: storetest.Digest("other")},
			"image/gif", t0.Add(time.Hour), record(img, storetest.HeadOf(recs[0])))
		storetest.Must(t, "CompleteChatImageImport again", err)
		if completed {
			t.Error("a second completion reported completed")
		}
		if diff := cmp.Diff(want, again, cmpOpts); diff != "" {
			t.Errorf("second completion returned (-stored +got):\n%s", diff)
		}
		wantImage(t, s, want)
		wantChain(t, s, a.PatientID, 1)
	})
	t.Run("WrongHead", func(t *testing.T) {
		s, a := withAppointment(t, h)
		img := mustImport(t, s, imported(a, url1))
		first := record(img, core.ChainHead{})
		storetest.Must(t, "AppendAudit", s.AppendAudit(t.Context(), first))
		_, _, err := s.CompleteChatImageImport(t.Context(), img.ID, core.BlobInfo{Size: 1, SHA256: storetest.Digest("x")}, "image/png", t0, record(img, core.ChainHead{}))
		var moved *core.HeadMismatchError
		if !errors.As(err, &moved) || moved.Current.Seq != 1 {
			t.Fatalf("CompleteChatImageImport on a moved head: %v, want *HeadMismatchError at seq 1", err)
		}
		wantImage(t, s, img)
		wantChain(t, s, a.PatientID, 1)
	})
	t.Run("Refused", func(t *testing.T) {
		s, a := withAppointment(t, h)
		info := core.BlobInfo{Size: 1, SHA256: storetest.Digest("x")}
		absent := imported(a, url1)
		_, _, err := s.CompleteChatImageImport(t.Context(), absent.ID, info, "image/png", t0, record(absent, core.ChainHead{}))
		storetest.WantKind(t, "CompleteChatImageImport of no image", err, core.KindNotFound)
		upload := core.ChatImage{ID: core.NewID("ci"), AppointmentID: a.ID, ClinicID: a.ClinicID, PatientID: a.PatientID,
			UploaderID: a.PatientID, Participants: a.Participants(), ContentType: "image/png", Size: 1, SHA256: info.SHA256,
			Status: core.StatusPending, CreatedAt: t0, UploadExpiresAt: t0.Add(time.Hour), UpdatedAt: t0}
		storetest.Must(t, "CreateChatImage", s.CreateChatImage(t.Context(), upload))
		_, _, err = s.CompleteChatImageImport(t.Context(), upload.ID, info, "image/png", t0, record(upload, core.ChainHead{}))
		storetest.WantKind(t, "CompleteChatImageImport of an upload", err, core.KindConflict)
		wantImage(t, s, upload)
		wantChain(t, s, a.PatientID, 0)
	})
}

func testDiscard(t *testing.T, h Harness) {
	t.Run("LeavesNothing", func(t *testing.T) {
		s, a := withAppointment(t, h)
		img := mustImport(t, s, imported(a, url1))
		storetest.Must(t, "DiscardChatImageImport", s.DiscardChatImageImport(t.Context(), img.ID))
		wantNoImage(t, s, img.ID)
		wantFound(t, s, url1)
		wantCount(t, s, a, 0)
		// The participants are free again.
		changed := a
		changed.ProfessionalIDs = []string{"dr-c"}
		_, err := s.PutAppointment(t.Context(), changed)
		storetest.Must(t, "PutAppointment after the discard", err)
		// Absent: not an error.
		storetest.Must(t, "DiscardChatImageImport again", s.DiscardChatImageImport(t.Context(), img.ID))
		// And it can be imported again.
		img2 := imported(changed, url1)
		mustImport(t, s, img2)
		wantFound(t, s, url1, img2)
	})
	t.Run("NeverAMigratedImage", func(t *testing.T) {
		s, a := withAppointment(t, h)
		img := mustImport(t, s, imported(a, url1))
		ready, _, err := s.CompleteChatImageImport(t.Context(), img.ID, core.BlobInfo{Size: img.Size, SHA256: img.SHA256}, img.ContentType, t0, record(img, core.ChainHead{}))
		storetest.Must(t, "CompleteChatImageImport", err)
		err = s.DiscardChatImageImport(t.Context(), img.ID)
		storetest.WantKind(t, "DiscardChatImageImport of a migrated image", err, core.KindConflict)
		wantImage(t, s, ready)
		wantFound(t, s, url1, ready)
		wantCount(t, s, a, 1)
	})
	t.Run("NeverAnUpload", func(t *testing.T) {
		s, a := withAppointment(t, h)
		upload := core.ChatImage{ID: core.NewID("ci"), AppointmentID: a.ID, ClinicID: a.ClinicID, PatientID: a.PatientID,
			UploaderID: a.PatientID, Participants: a.Participants(), ContentType: "image/png", Size: 1, SHA256: storetest.Digest("u"),
			Status: core.StatusPending, CreatedAt: t0, UploadExpiresAt: t0.Add(time.Hour), UpdatedAt: t0}
		storetest.Must(t, "CreateChatImage", s.CreateChatImage(t.Context(), upload))
		err := s.DiscardChatImageImport(t.Context(), upload.ID)
		storetest.WantKind(t, "DiscardChatImageImport of an upload", err, core.KindConflict)
		wantImage(t, s, upload)
	})
}

// workers is how many goroutines race in the concurrency tests.
const workers = 16

// countTrue makes workers calls at once, each of which must succeed, and
// counts those that answer true.
func countTrue(t *testing.T, what string, call func() (bool, error)) int {
	t.Helper()
	got := make([]bool, workers)
	errs := storetest.RunAll(workers, func(i int) error {
		var err error
		got[i], err = call()
		return err
	})
	n := 0
	for i, err := range errs {
		storetest.Must(t, fmt.Sprintf("%s %d", what, i), err)
		if got[i] {
			n++
		}
	}
	return n
}

func testConcurrency(t *testing.T, h Harness) {
	t.Run("ImportOnce", func(t *testing.T) {
		s, a := withAppointment(t, h)
		img := imported(a, url1)
		n := countTrue(t, "import", func() (bool, error) {
			_, created, err := s.ImportChatImage(t.Context(), img)
			return created, err
		})
		if n != 1 {
			t.Errorf("%d of %d concurrent imports reported created, want exactly 1", n, workers)
		}
		wantCount(t, s, a, 1)
		want := img
		want.CreatedAt = sent.UTC()
		wantFound(t, s, url1, want)
	})
	t.Run("CompleteOnce", func(t *testing.T) {
		s, a := withAppointment(t, h)
		img := mustImport(t, s, imported(a, url1))
		info := core.BlobInfo{Size: img.Size, SHA256: img.SHA256}
		n := countTrue(t, "complete", func() (bool, error) {
			_, completed, err := s.CompleteChatImageImport(t.Context(), img.ID, info, img.ContentType, t0, record(img, core.ChainHead{}))
			return completed, err
		})
		if n != 1 {
			t.Errorf("%d of %d concurrent completions reported completed, want exactly 1", n, workers)
		}
		wantChain(t, s, a.PatientID, 1)
	})
	t.Run("ImportsRaceDiscards", func(t *testing.T) {
		// Imports and discards of one image in any order end with the image
		// imported, counted once, and found once, or gone, counted zero
		// times, and found nowhere.
		s, a := withAppointment(t, h)
		img := imported(a, url1)
		errs := storetest.RunAll(workers, func(i int) error {
			if i%2 == 0 {
				_, _, err := s.ImportChatImage(t.Context(), img)
				return err
			}
			return s.DiscardChatImageImport(t.Context(), img.ID)
		})
		for i, err := range errs {
			storetest.Must(t, fmt.Sprintf("call %d", i), err)
		}
		found, err := s.FindChatImagesByLegacyURL(t.Context(), url1)
		storetest.Must(t, "FindChatImagesByLegacyURL", err)
		_, gerr := s.GetChatImage(t.Context(), img.ID)
		switch {
		case gerr == nil && len(found) == 1:
			wantCount(t, s, a, 1)
		case core.IsKind(gerr, core.KindNotFound) && len(found) == 0:
			wantCount(t, s, a, 0)
		default:
			t.Errorf("after racing imports and discards: GetChatImage %v, found %d; want both or neither", gerr, len(found))
		}
	})
}

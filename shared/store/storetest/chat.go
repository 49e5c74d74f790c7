package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// newAppointment returns an appointment of clinic-1 with every field set.
func newAppointment(id string) core.Appointment {
	return core.Appointment{
		ID:              id,
		ClinicID:        "clinic-1",
		PatientID:       "pat-1",
		ProfessionalIDs: []string{"dr-b", "dr-a"},
		StartsAt:        t0.Add(24 * time.Hour),
		EndsAt:          t0.Add(24*time.Hour + 30*time.Minute),
		CreatedAt:       t0,
		UpdatedAt:       t0,
	}
}

// newChatImage returns a PENDING chat image of a, uploaded by its patient.
func newChatImage(a core.Appointment) core.ChatImage {
	id := core.NewID("ci")
	return core.ChatImage{
		ID:              id,
		AppointmentID:   a.ID,
		ClinicID:        a.ClinicID,
		PatientID:       a.PatientID,
		UploaderID:      a.PatientID,
		Participants:    a.Participants(),
		ContentType:     "image/png",
		Size:            4242,
		SHA256:          Digest("chat image " + id),
		Status:          core.StatusPending,
		CreatedAt:       t0,
		UploadExpiresAt: t0.Add(uploadWindow),
		UpdatedAt:       t0,
	}
}

// legacyChatImage returns newChatImage(a) as the migration imports an image
// of the old public chat: IMPORTED, with the URL it had there. The legacy
// suite (legacytest) covers the import's rules; this suite its round trip,
// so that the fixture guard sees LegacyURL stored and read back.
func legacyChatImage(a core.Appointment) core.ChatImage {
	img := newChatImage(a)
	img.Status, img.LegacyURL = core.StatusImported, "https://legacy-chat.example/bucket/chat/"+img.ID+".png"
	return img
}

// storeWithAppointment is a new store holding newAppointment("appt-1").
func storeWithAppointment(t *testing.T, h Harness) (core.Store, core.Appointment) {
	t.Helper()
	s := newStore(t, h)
	a := newAppointment("appt-1")
	putAppointment(t, s, a)
	return s, a
}

// wantReplaced checks the answer of a PutAppointment (what) of b over an
// appointment created at createdAt: no error, created false, and b stored
// with that creation time and the store's own image count, images.
func wantReplaced(t *testing.T, s core.Store, what string, created bool, err error, b core.Appointment, createdAt time.Time, images int) {
	t.Helper()
	Must(t, what, err)
	if created {
		t.Errorf("%s: got created=true, want false", what)
	}
	want := b
	want.CreatedAt, want.ImageCount = createdAt, images
	wantAppointment(t, s, want)
}

// putAppointment stores a new appointment.
func putAppointment(t *testing.T, s core.Store, a core.Appointment) {
	t.Helper()
	created, err := s.PutAppointment(ctx(t), a)
	Must(t, "PutAppointment "+a.ID, err)
	if !created {
		t.Fatalf("PutAppointment %s: got created=false, want true", a.ID)
	}
}

func wantAppointment(t *testing.T, s core.Store, want core.Appointment) {
	t.Helper()
	got, err := s.GetAppointment(ctx(t), want.ClinicID, want.ID)
	if err != nil {
		t.Fatalf("GetAppointment(%s): %v", want.ID, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("GetAppointment(%s) mismatch (-want +got):\n%s", want.ID, diff)
	}
}

func wantChatImage(t *testing.T, s core.Store, want core.ChatImage) {
	t.Helper()
	got, err := s.GetChatImage(ctx(t), want.ID)
	if err != nil {
		t.Fatalf("GetChatImage(%s): %v", want.ID, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("GetChatImage(%s) mismatch (-want +got):\n%s", want.ID, diff)
	}
}

func wantNoChatImage(t *testing.T, s core.Store, id string) {
	t.Helper()
	_, err := s.GetChatImage(ctx(t), id)
	WantKind(t, "GetChatImage "+id, err, core.KindNotFound)
}

func testChat(t *testing.T, h Harness) {
	t.Run("AppointmentRoundTrip", func(t *testing.T) {
		s := newStore(t, h)
		a := newAppointment("appt-1")
		a.StartsAt = a.StartsAt.In(elsewhere)
		a.EndsAt = a.EndsAt.Add(time.Nanosecond).In(elsewhere)
		a.CreatedAt = a.CreatedAt.In(elsewhere)
		putAppointment(t, s, a)
		got, err := s.GetAppointment(ctx(t), a.ClinicID, a.ID)
		Must(t, "GetAppointment", err)
		if diff := cmp.Diff(a, got, cmpOpts); diff != "" {
			t.Errorf("GetAppointment mismatch (-want +got):\n%s", diff)
		}
		WantUTC(t, "Appointment", map[string]time.Time{
			"StartsAt": got.StartsAt, "EndsAt": got.EndsAt, "CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt,
		})
	})

	t.Run("LegacyChatImageRoundTrip", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		img := legacyChatImage(a)
		stored, created, err := s.ImportChatImage(ctx(t), img)
		Must(t, "ImportChatImage", err)
		if !created {
			t.Fatal("ImportChatImage: created=false, want true")
		}
		if diff := cmp.Diff(img, stored, cmpOpts); diff != "" {
			t.Errorf("ImportChatImage returned (-want +got):\n%s", diff)
		}
		wantChatImage(t, s, img)
	})

	t.Run("GetAppointmentNotFound", func(t *testing.T) {
		s := newStore(t, h)
		putAppointment(t, s, newAppointment("appt-1"))
		for _, id := range []string{"appt-2", "appt-", "appt-10"} {
			_, err := s.GetAppointment(ctx(t), "clinic-1", id)
			WantKind(t, "GetAppointment "+id, err, core.KindNotFound)
			found, err := s.FindAppointments(ctx(t), id)
			Must(t, "FindAppointments "+id, err)
			if len(found) != 0 {
				t.Errorf("FindAppointments(%s) = %d appointments, want none", id, len(found))
			}
		}
		for _, clinic := range []string{"clinic-2", "clinic-", "clinic-10"} {
			_, err := s.GetAppointment(ctx(t), clinic, "appt-1")
			WantKind(t, "GetAppointment of "+clinic, err, core.KindNotFound)
		}
	})

	t.Run("PutAppointmentReplaces", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		b := a
		b.ProfessionalIDs = []string{"dr-c"} // no images yet: participants may change
		b.StartsAt, b.EndsAt = a.StartsAt.Add(time.Hour), a.EndsAt.Add(time.Hour)
		b.CreatedAt, b.UpdatedAt = t0.Add(time.Hour), t0.Add(time.Hour)
		b.ImageCount = 7 // the store keeps its own count
		created, err := s.PutAppointment(ctx(t), b)
		wantReplaced(t, s, "PutAppointment(update)", created, err, b, a.CreatedAt, 0)
	})

	t.Run("AppointmentIDsAreScopedToTheClinic", func(t *testing.T) {
		// Another clinic's PUT of an id creates that clinic's own
		// appointment, exactly as a new id would, and leaves the first one
		// as it was (issue 10 §2: the answer must not tell it exists).
		s, a := storeWithAppointment(t, h)
		Must(t, "CreateChatImage", s.CreateChatImage(ctx(t), newChatImage(a)))
		a.ImageCount = 1
		b := newAppointment("appt-1")
		b.ClinicID, b.PatientID, b.ProfessionalIDs = "clinic-2", "pat-2", []string{"dr-c"}
		b.StartsAt = a.StartsAt.Add(time.Hour)
		putAppointment(t, s, b)
		wantAppointment(t, s, a)
		wantAppointment(t, s, b)
		// Its own chat images count on it alone; and its participants may
		// still change, since it has none yet.
		Must(t, "CreateChatImage(clinic-2)", s.CreateChatImage(ctx(t), newChatImage(b)))
		b.ImageCount = 1
		wantAppointment(t, s, a)
		wantAppointment(t, s, b)
		found, err := s.FindAppointments(ctx(t), "appt-1")
		Must(t, "FindAppointments", err)
		if diff := cmp.Diff([]core.Appointment{a, b}, found, cmpOpts); diff != "" {
			t.Errorf("FindAppointments mismatch (-want +got):\n%s", diff)
		}
		// An image made for one clinic's appointment does not count on the
		// other's.
		wrong := newChatImage(a)
		wrong.ClinicID = "clinic-3"
		WantKind(t, "CreateChatImage(no such clinic's appointment)", s.CreateChatImage(ctx(t), wrong), core.KindNotFound)
		wantNoChatImage(t, s, wrong.ID)
	})

	t.Run("ParticipantsFixedOnceImages", func(t *testing.T) {
		for _, tc := range []struct {
			name         string
			change       func(*core.Appointment)
			wantConflict bool
		}{
			{"times only", func(a *core.Appointment) {
				a.StartsAt, a.EndsAt = a.StartsAt.Add(2*time.Hour), a.EndsAt.Add(2*time.Hour)
				a.UpdatedAt = t0.Add(time.Minute)
			}, false},
			{"professionals reordered", func(a *core.Appointment) { a.ProfessionalIDs = []string{"dr-a", "dr-b"} }, false},
			{"professional added", func(a *core.Appointment) { a.ProfessionalIDs = []string{"dr-b", "dr-a", "dr-c"} }, true},
			{"professional removed", func(a *core.Appointment) { a.ProfessionalIDs = []string{"dr-b"} }, true},
			{"professional replaced", func(a *core.Appointment) { a.ProfessionalIDs = []string{"dr-b", "dr-c"} }, true},
			{"patient changed", func(a *core.Appointment) { a.PatientID = "pat-2" }, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, a := storeWithAppointment(t, h)
				Must(t, "CreateChatImage", s.CreateChatImage(ctx(t), newChatImage(a)))
				stored := a
				stored.ImageCount = 1
				b := a
				b.ProfessionalIDs = append([]string(nil), a.ProfessionalIDs...)
				tc.change(&b)
				created, err := s.PutAppointment(ctx(t), b)
				if tc.wantConflict {
					WantKind(t, "PutAppointment", err, core.KindConflict)
					wantAppointment(t, s, stored)
					return
				}
				wantReplaced(t, s, "PutAppointment", created, err, b, a.CreatedAt, 1)
			})
		}
	})

	t.Run("CreateChatImage", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		img := newChatImage(a)
		img.UploaderID = "dr-a"
		img.CreatedAt = img.CreatedAt.In(elsewhere)
		img.UploadExpiresAt = img.UploadExpiresAt.Add(time.Nanosecond).In(elsewhere)
		Must(t, "CreateChatImage", s.CreateChatImage(ctx(t), img))
		got, err := s.GetChatImage(ctx(t), img.ID)
		Must(t, "GetChatImage", err)
		if diff := cmp.Diff(img, got, cmpOpts); diff != "" {
			t.Errorf("GetChatImage mismatch (-want +got):\n%s", diff)
		}
		WantUTC(t, "ChatImage", chatImageTimes(got))
		a.ImageCount = 1
		wantAppointment(t, s, a)

		second := newChatImage(a)
		Must(t, "CreateChatImage(second)", s.CreateChatImage(ctx(t), second))
		a.ImageCount = 2
		wantAppointment(t, s, a)
		wantChatImage(t, s, second)
	})

	t.Run("CreateChatImageDuplicate", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		img := newChatImage(a)
		Must(t, "CreateChatImage", s.CreateChatImage(ctx(t), img))
		dup := img
		dup.Size, dup.UploaderID = 1, "dr-b"
		WantKind(t, "CreateChatImage(duplicate)", s.CreateChatImage(ctx(t), dup), core.KindConflict)
		wantChatImage(t, s, img)
		a.ImageCount = 1
		wantAppointment(t, s, a)
	})

	t.Run("CreateChatImageNoAppointment", func(t *testing.T) {
		s := newStore(t, h)
		putAppointment(t, s, newAppointment("appt-1"))
		img := newChatImage(newAppointment("appt-2"))
		WantKind(t, "CreateChatImage", s.CreateChatImage(ctx(t), img), core.KindNotFound)
		wantNoChatImage(t, s, img.ID)
	})

	t.Run("CreateChatImageParticipantsDiffer", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			change func(*core.ChatImage)
		}{
			{"professional missing", func(c *core.ChatImage) { c.Participants = []string{"pat-1", "dr-b"} }},
			{"professional extra", func(c *core.ChatImage) { c.Participants = []string{"pat-1", "dr-b", "dr-a", "dr-c"} }},
			{"professional replaced", func(c *core.ChatImage) { c.Participants = []string{"pat-1", "dr-b", "dr-c"} }},
			{"another patient", func(c *core.ChatImage) {
				c.PatientID, c.Participants = "pat-2", []string{"pat-2", "dr-b", "dr-a"}
			}},
			{"no participants", func(c *core.ChatImage) { c.Participants = nil }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, a := storeWithAppointment(t, h)
				img := newChatImage(a)
				tc.change(&img)
				WantKind(t, "CreateChatImage", s.CreateChatImage(ctx(t), img), core.KindConflict)
				wantNoChatImage(t, s, img.ID)
				wantAppointment(t, s, a) // ImageCount still 0
			})
		}
	})

	t.Run("GetChatImageNotFound", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		Must(t, "CreateChatImage", s.CreateChatImage(ctx(t), newChatImage(a)))
		wantNoChatImage(t, s, core.NewID("ci"))
	})

	t.Run("MarkChatImageReady", func(t *testing.T) { testMarkChatImageReady(t, h) })

	t.Run("ListChatImages", func(t *testing.T) { testListChatImages(t, h) })

	t.Run("MarkChatImageReadyIdempotent", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		img := newChatImage(a)
		Must(t, "CreateChatImage", s.CreateChatImage(ctx(t), img))
		info := core.BlobInfo{Size: img.Size, SHA256: img.SHA256}
		first, err := s.MarkChatImageReady(ctx(t), img.ID, info, t0.Add(time.Minute))
		Must(t, "MarkChatImageReady", err)
		for _, now := range []time.Time{t0.Add(2 * time.Minute), t0.Add(uploadWindow), t0.Add(48 * time.Hour)} {
			again, err := s.MarkChatImageReady(ctx(t), img.ID, info, now)
			if err != nil {
				t.Fatalf("MarkChatImageReady again at %v: got %v, want the READY image", now, err)
			}
			if diff := cmp.Diff(first, again, cmpOpts); diff != "" {
				t.Errorf("MarkChatImageReady again at %v changed the image (-first +again):\n%s", now, diff)
			}
		}
		wantChatImage(t, s, first)
		_, err = s.MarkChatImageReady(ctx(t), img.ID, core.BlobInfo{Size: img.Size, SHA256: Digest("other")}, t0.Add(3*time.Minute))
		WantKind(t, "MarkChatImageReady(READY, other object)", err, core.KindConflict)
		wantChatImage(t, s, first)
	})
}

func chatImageTimes(c core.ChatImage) map[string]time.Time {
	return map[string]time.Time{"CreatedAt": c.CreatedAt, "UploadExpiresAt": c.UploadExpiresAt, "UpdatedAt": c.UpdatedAt}
}

func testMarkChatImageReady(t *testing.T, h Harness) {
	matching := func(c core.ChatImage) core.BlobInfo { return core.BlobInfo{Size: c.Size, SHA256: c.SHA256} }
	for _, tc := range []struct {
		name     string
		unknown  bool
		observed func(core.ChatImage) core.BlobInfo
		now      time.Time
		wantKind core.Kind // KindInternal (zero) means success
	}{
		{name: "matching object in the window", observed: matching, now: t0.Add(time.Minute)},
		{name: "matching object just before the window ends", observed: matching, now: t0.Add(uploadWindow - time.Nanosecond)},
		{name: "size differs", observed: func(c core.ChatImage) core.BlobInfo {
			return core.BlobInfo{Size: c.Size - 1, SHA256: c.SHA256}
		}, now: t0.Add(time.Minute), wantKind: core.KindConflict},
		{name: "sha256 differs", observed: func(c core.ChatImage) core.BlobInfo {
			return core.BlobInfo{Size: c.Size, SHA256: Digest("something else")}
		}, now: t0.Add(time.Minute), wantKind: core.KindConflict},
		{name: "window ends exactly now", observed: matching, now: t0.Add(uploadWindow), wantKind: core.KindNotFound},
		{name: "after the window", observed: matching, now: t0.Add(uploadWindow + time.Hour), wantKind: core.KindNotFound},
		{name: "unknown image", unknown: true, observed: matching, now: t0.Add(time.Minute), wantKind: core.KindNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, a := storeWithAppointment(t, h)
			img := newChatImage(a)
			Must(t, "CreateChatImage", s.CreateChatImage(ctx(t), img))
			askID := img.ID
			if tc.unknown {
				askID = core.NewID("ci")
			}
			got, err := s.MarkChatImageReady(ctx(t), askID, tc.observed(img), tc.now)
			wantReadyAnswer(t, s, chatUpload, img, got, err, tc.wantKind)
		})
	}
}

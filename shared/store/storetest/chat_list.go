package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// chatImagesAt creates n chat images in a, the i-th (from 0) created i
// minutes after t0 (a nanosecond more each, so that precision loss shows),
// and marks READY those for which ready(i) holds, a second after creation.
// It returns them as stored, in creation order.
func chatImagesAt(t *testing.T, s core.Store, a core.Appointment, n int, ready func(i int) bool) []core.ChatImage {
	t.Helper()
	var out []core.ChatImage
	for i := range n {
		img := newChatImage(a)
		img.CreatedAt = t0.Add(time.Duration(i)*time.Minute + time.Duration(i)).In(elsewhere)
		img.UpdatedAt = img.CreatedAt
		img.UploadExpiresAt = img.CreatedAt.Add(uploadWindow)
		Must(t, "CreateChatImage", s.CreateChatImage(ctx(t), img))
		if ready(i) {
			var err error
			img, err = s.MarkChatImageReady(ctx(t), img.ID, core.BlobInfo{Size: img.Size, SHA256: img.SHA256}, img.CreatedAt.Add(time.Second))
			Must(t, "MarkChatImageReady", err)
		}
		got, err := s.GetChatImage(ctx(t), img.ID)
		Must(t, "GetChatImage", err)
		out = append(out, got)
	}
	return out
}

// listChatImages lists every page of clinic-1's appointment appt as its
// patient reads it.
func listChatImages(t *testing.T, s core.Store, appt string, limit int) [][]core.ChatImage {
	t.Helper()
	return listClinicChatImages(t, s, "clinic-1", appt, limit)
}

func listClinicChatImages(t *testing.T, s core.Store, clinic, appt string, limit int) [][]core.ChatImage {
	t.Helper()
	return Collect(t, "ListChatImages "+clinic+"/"+appt, limit, func(pg core.Page) ([]core.ChatImage, string, error) {
		return s.ListChatImages(ctx(t), clinic, appt, "pat-1", pg)
	})
}

func imageIDs(imgs []core.ChatImage) []string {
	ids := make([]string, len(imgs))
	for i, c := range imgs {
		ids[i] = c.ID
	}
	return ids
}

func testListChatImages(t *testing.T, h Harness) {
	t.Run("ReadyNewestFirst", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		// Nine images: READY and PENDING interleaved, three PENDING newest
		// of all, so that a page must read past images it does not return.
		ready := func(i int) bool { return i%3 != 1 && i < 6 }
		all := chatImagesAt(t, s, a, 9, ready)
		// Appointments whose partitions start like appt-1's must never leak
		// into its list.
		for _, id := range []string{"appt-10", "appt-"} {
			other := newAppointment(id)
			putAppointment(t, s, other)
			chatImagesAt(t, s, other, 2, func(int) bool { return true })
		}
		var want []core.ChatImage
		for i, img := range all {
			if ready(i) {
				want = append(want, img)
			}
		}
		slices.Reverse(want)
		for _, limit := range []int{1, 2, 3, 50} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				pages := listChatImages(t, s, "appt-1", limit)
				got := Flatten(pages)
				if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
					t.Errorf("ListChatImages(appt-1) mismatch (-want +got):\n%s", diff)
				}
				for _, img := range got {
					WantUTC(t, "ChatImage "+img.ID, chatImageTimes(img))
				}
				for i, p := range pages[:max(len(pages)-1, 0)] {
					if len(p) != limit {
						t.Errorf("page %d of %d holds %d images, want %d (only the last page may be short)", i+1, len(pages), len(p), limit)
					}
				}
			})
		}
	})

	t.Run("PendingNotListed", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		all := chatImagesAt(t, s, a, 2, func(i int) bool { return i == 0 })
		if got := imageIDs(Flatten(listChatImages(t, s, "appt-1", 10))); !slices.Equal(got, []string{all[0].ID}) {
			t.Errorf("ListChatImages: got %v, want only the READY image %s", got, all[0].ID)
		}
		// Finalized later: listed from then on, at its creation time.
		ready, err := s.MarkChatImageReady(ctx(t), all[1].ID, core.BlobInfo{Size: all[1].Size, SHA256: all[1].SHA256}, all[1].CreatedAt.Add(time.Minute))
		Must(t, "MarkChatImageReady", err)
		got := Flatten(listChatImages(t, s, "appt-1", 10))
		if diff := cmp.Diff([]core.ChatImage{ready, all[0]}, got, cmpOpts); diff != "" {
			t.Errorf("ListChatImages after the second is finalized (-want +got):\n%s", diff)
		}
	})

	t.Run("NoImages", func(t *testing.T) {
		s := newStore(t, h)
		putAppointment(t, s, newAppointment("appt-1"))
		for _, appt := range []string{"appt-1", "appt-unknown"} {
			imgs, next, err := s.ListChatImages(ctx(t), "clinic-1", appt, "pat-1", core.Page{Limit: 10})
			Must(t, "ListChatImages "+appt, err)
			if len(imgs) != 0 || next != "" {
				t.Errorf("ListChatImages(%s): got %d images and cursor %q, want none", appt, len(imgs), next)
			}
		}
	})

	t.Run("MalformedCursor", func(t *testing.T) {
		s, a := storeWithAppointment(t, h)
		chatImagesAt(t, s, a, 3, func(int) bool { return true })
		createPhotos(t, s, "pat-1", 2)
		appendChain(t, s, "pat-1", 2, nil)
		_, photoCursor, err := s.ListPhotos(ctx(t), "pat-1", core.Page{Limit: 1})
		Must(t, "ListPhotos", err)
		_, chainCursor, err := s.ListAudit(ctx(t), "pat-1", true, core.Page{Limit: 1})
		Must(t, "ListAudit", err)
		_, actorCursor, err := s.ListAuditByActor(ctx(t), "dr-a", core.Page{Limit: 1})
		Must(t, "ListAuditByActor", err)
		// A cursor of this very list, but another reader's, another
		// clinic's appointment with the same id, or another appointment.
		_, mine, err := s.ListChatImages(ctx(t), "clinic-1", "appt-1", "dr-a", core.Page{Limit: 1})
		Must(t, "ListChatImages as dr-a", err)
		other := newAppointment("appt-1")
		other.ClinicID = "clinic-2"
		putAppointment(t, s, other)
		chatImagesAt(t, s, other, 2, func(int) bool { return true })
		_, otherClinic, err := s.ListChatImages(ctx(t), "clinic-2", "appt-1", "pat-1", core.Page{Limit: 1})
		Must(t, "ListChatImages of clinic-2", err)
		for name, cursor := range map[string]string{
			"not base64": "%%% not a cursor", "photo cursor": photoCursor,
			"chain cursor": chainCursor, "actor cursor": actorCursor,
			"another reader's cursor": mine, "another clinic's cursor": otherClinic,
		} {
			t.Run(name, func(t *testing.T) {
				if cursor == "" {
					t.Fatal("no cursor to try")
				}
				_, _, err := s.ListChatImages(ctx(t), "clinic-1", "appt-1", "pat-1", core.Page{Cursor: cursor, Limit: 1})
				WantKind(t, "ListChatImages with a "+name, err, core.KindInvalid)
			})
		}
		// The reader's own cursor resumes the list.
		_, own, err := s.ListChatImages(ctx(t), "clinic-1", "appt-1", "pat-1", core.Page{Limit: 1})
		Must(t, "ListChatImages as pat-1", err)
		imgs, _, err := s.ListChatImages(ctx(t), "clinic-1", "appt-1", "pat-1", core.Page{Cursor: own, Limit: 1})
		Must(t, "ListChatImages with pat-1's own cursor", err)
		if len(imgs) != 1 {
			t.Errorf("the second page holds %d images, want 1", len(imgs))
		}
	})

	// Appointment ids are scoped to their clinic: two clinics' appointments
	// with the same id, and the same participants, are two lists.
	t.Run("ClinicsDoNotShareAList", func(t *testing.T) {
		s := newStore(t, h)
		want := map[string][]string{}
		for _, clinic := range []string{"clinic-1", "clinic-10", "clinic-2"} {
			a := newAppointment("appt-1")
			a.ClinicID = clinic
			putAppointment(t, s, a)
			imgs := chatImagesAt(t, s, a, 2, func(int) bool { return true })
			want[clinic] = []string{imgs[1].ID, imgs[0].ID}
		}
		for clinic, ids := range want {
			got := imageIDs(Flatten(listClinicChatImages(t, s, clinic, "appt-1", 1)))
			if !slices.Equal(got, ids) {
				t.Errorf("ListChatImages(%s, appt-1): got %v, want %v", clinic, got, ids)
			}
		}
		if got := Flatten(listClinicChatImages(t, s, "clinic-3", "appt-1", 10)); len(got) != 0 {
			t.Errorf("ListChatImages(clinic-3, appt-1): got %d images of other clinics", len(got))
		}
		// A clinic id with "#" could make a partition that names another
		// pair: refused, on the list and on the image.
		_, _, err := s.ListChatImages(ctx(t), "clinic-1#appt-1", "x", "pat-1", core.Page{Limit: 1})
		WantKind(t, "ListChatImages of clinic clinic-1#appt-1", err, core.KindInvalid)
		img := newChatImage(newAppointment("appt-1"))
		img.ClinicID = "clinic#1"
		WantKind(t, "CreateChatImage of clinic clinic#1", s.CreateChatImage(ctx(t), img), core.KindInvalid)
	})
}

package storetest

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
)

// newPhoto returns a PENDING photo of owner with every field set, created
// at t0: pendingPhoto's, whose window ends uploadWindow later.
func newPhoto(owner string) core.Photo { return pendingPhoto(owner, t0.Add(uploadWindow)) }

// pendingPhoto returns a PENDING photo of owner with every field set whose
// upload window of uploadWindow ends at windowEnd.
func pendingPhoto(owner string, windowEnd time.Time) core.Photo {
	id := core.NewID("ph")
	created := windowEnd.Add(-uploadWindow)
	return core.Photo{
		ID:              id,
		OwnerID:         owner,
		Angle:           "CROWN",
		ContentType:     "image/heic",
		Size:            123457,
		SHA256:          Digest("ciphertext of " + id),
		WrappedKey:      core.WrappedKey{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/test", Ciphertext: Digest("wrapped " + id)},
		Metadata:        []byte("\x01client-encrypted\x00metadata of " + id),
		Status:          core.StatusPending,
		CreatedAt:       created,
		UploadExpiresAt: windowEnd,
		UpdatedAt:       created,
	}
}

// createPhotos stores n new photos of owner and returns them ordered by id.
func createPhotos(t *testing.T, s core.Store, owner string, n int) []core.Photo {
	t.Helper()
	var photos []core.Photo
	for range n {
		p := newPhoto(owner)
		Must(t, "CreatePhoto "+p.ID, s.CreatePhoto(ctx(t), p))
		photos = append(photos, p)
	}
	slices.SortFunc(photos, func(a, b core.Photo) int { return strings.Compare(a.ID, b.ID) })
	return photos
}

// wantPhoto fails t unless the stored photo (owner, id) is want.
func wantPhoto(t *testing.T, s core.Store, want core.Photo) {
	t.Helper()
	got, err := s.GetPhoto(ctx(t), want.OwnerID, want.ID)
	if err != nil {
		t.Fatalf("GetPhoto(%s, %s): %v", want.OwnerID, want.ID, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("GetPhoto(%s, %s) mismatch (-want +got):\n%s", want.OwnerID, want.ID, diff)
	}
}

// An uploadKind is what wantReadyAnswer needs of photos or chat images.
type uploadKind[T any] struct {
	op, noun, typeName string // "MarkPhotoReady", "photo", "Photo"
	ready              func(T) T
	times              func(T) map[string]time.Time
	want               func(*testing.T, core.Store, T) // wantPhoto, wantChatImage
}

var (
	photoUpload = uploadKind[core.Photo]{"MarkPhotoReady", "photo", "Photo",
		func(p core.Photo) core.Photo { p.Status = core.StatusReady; return p }, photoTimes, wantPhoto}
	chatUpload = uploadKind[core.ChatImage]{"MarkChatImageReady", "image", "ChatImage",
		func(c core.ChatImage) core.ChatImage { c.Status = core.StatusReady; return c }, chatImageTimes, wantChatImage}
)

// wantReadyAnswer checks the answer of a MarkPhotoReady or MarkChatImageReady
// of the PENDING upload created: with wantKind (not KindInternal), that kind
// and nothing changed, the upload still PENDING as created; otherwise
// created READY (UpdatedAt is the adapter's to set; everything else is
// unchanged), its times in UTC, returned as stored afterwards.
func wantReadyAnswer[T any](t *testing.T, s core.Store, k uploadKind[T], created, got T, err error, wantKind core.Kind) {
	t.Helper()
	if wantKind != core.KindInternal {
		WantKind(t, k.op, err, wantKind)
		k.want(t, s, created)
		return
	}
	if err != nil {
		t.Fatalf("%s: got %v, want the READY %s", k.op, err, k.noun)
	}
	var zero T
	if diff := cmp.Diff(k.ready(created), got, cmpOpts, cmpopts.IgnoreFields(zero, "UpdatedAt")); diff != "" {
		t.Errorf("%s returned (-want +got):\n%s", k.op, diff)
	}
	WantUTC(t, k.typeName, k.times(got))
	k.want(t, s, got)
}

func photoTimes(p core.Photo) map[string]time.Time {
	return map[string]time.Time{"CreatedAt": p.CreatedAt, "UploadExpiresAt": p.UploadExpiresAt, "UpdatedAt": p.UpdatedAt}
}

func testPhotos(t *testing.T, h Harness) {
	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		s := newStore(t, h)
		p := newPhoto("pat-1")
		// Stored from another zone, read back in UTC at the same nanosecond.
		p.CreatedAt = t0.In(elsewhere)
		p.UploadExpiresAt = t0.Add(uploadWindow + time.Nanosecond).In(elsewhere)
		p.UpdatedAt = t0.Add(time.Nanosecond).In(elsewhere)
		Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
		got, err := s.GetPhoto(ctx(t), p.OwnerID, p.ID)
		Must(t, "GetPhoto", err)
		if diff := cmp.Diff(p, got, cmpOpts); diff != "" {
			t.Errorf("GetPhoto mismatch (-want +got):\n%s", diff)
		}
		WantUTC(t, "Photo", photoTimes(got))
	})

	t.Run("CreateWithoutMetadata", func(t *testing.T) {
		s := newStore(t, h)
		p := newPhoto("pat-1")
		p.Metadata = nil
		Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
		wantPhoto(t, s, p)
	})

	t.Run("CreateDuplicate", func(t *testing.T) {
		s := newStore(t, h)
		p := newPhoto("pat-1")
		Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
		dup := p
		dup.Angle, dup.Size, dup.SHA256 = "FRONT", 1, Digest("other")
		WantKind(t, "CreatePhoto(duplicate)", s.CreatePhoto(ctx(t), dup), core.KindConflict)
		wantPhoto(t, s, p)
	})

	t.Run("SameIDOtherOwner", func(t *testing.T) {
		s := newStore(t, h)
		p := newPhoto("pat-1")
		q := p
		q.OwnerID, q.Angle = "pat-2", "BACK"
		Must(t, "CreatePhoto(pat-1)", s.CreatePhoto(ctx(t), p))
		Must(t, "CreatePhoto(pat-2, same id)", s.CreatePhoto(ctx(t), q))
		wantPhoto(t, s, p)
		wantPhoto(t, s, q)
	})

	t.Run("GetNotFound", func(t *testing.T) {
		s := newStore(t, h)
		p := newPhoto("pat-1")
		Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
		for _, tc := range []struct{ name, owner, id string }{
			{"unknown id", "pat-1", core.NewID("ph")},
			{"another owner's photo", "pat-2", p.ID},
			{"owner that is a prefix", "pat-", p.ID},
			{"unknown owner", "nobody", core.NewID("ph")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.GetPhoto(ctx(t), tc.owner, tc.id)
				WantKind(t, "GetPhoto", err, core.KindNotFound)
			})
		}
	})

	t.Run("MarkPhotoReady", func(t *testing.T) { testMarkPhotoReady(t, h) })

	t.Run("MarkPhotoReadyIdempotent", func(t *testing.T) {
		s := newStore(t, h)
		p := newPhoto("pat-1")
		Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
		info := core.BlobInfo{Size: p.Size, SHA256: p.SHA256}
		first, err := s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, info, t0.Add(time.Minute))
		Must(t, "MarkPhotoReady", err)
		for _, now := range []time.Time{t0.Add(2 * time.Minute), t0.Add(uploadWindow), t0.Add(48 * time.Hour)} {
			again, err := s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, info, now)
			if err != nil {
				t.Fatalf("MarkPhotoReady again at %v: got %v, want the READY photo", now, err)
			}
			if diff := cmp.Diff(first, again, cmpOpts); diff != "" {
				t.Errorf("MarkPhotoReady again at %v changed the photo (-first +again):\n%s", now, diff)
			}
		}
		wantPhoto(t, s, first)
		_, err = s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, core.BlobInfo{Size: p.Size + 1, SHA256: p.SHA256}, t0.Add(3*time.Minute))
		WantKind(t, "MarkPhotoReady(READY, other object)", err, core.KindConflict)
		wantPhoto(t, s, first)
	})

	t.Run("ListPhotos", func(t *testing.T) {
		s := newStore(t, h)
		photos := createPhotos(t, s, "pat-1", 7)
		// Owners whose keys start like pat-1's must never leak into its list.
		createPhotos(t, s, "pat-10", 2)
		createPhotos(t, s, "pat-", 1)
		createPhotos(t, s, "pat-1.x", 1)
		pages := Collect(t, "ListPhotos", 3, func(pg core.Page) ([]core.Photo, string, error) {
			return s.ListPhotos(ctx(t), "pat-1", pg)
		})
		if diff := cmp.Diff([]int{3, 3, 1}, pageSizes(pages)); diff != "" {
			t.Errorf("page sizes mismatch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(photos, Flatten(pages), cmpOpts); diff != "" {
			t.Errorf("listed photos mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("ListPhotosPageSizes", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			n, limit  int
			wantSizes []int
		}{
			{"empty", 0, 3, []int{0}},
			{"one short page", 2, 3, []int{2}},
			{"exactly one page", 3, 3, []int{3}},
			{"exact multiple", 6, 3, []int{3, 3}},
			{"limit 1", 3, 1, []int{1, 1, 1}},
			{"limit larger than list", 7, 100, []int{7}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				photos := createPhotos(t, s, "pat-1", tc.n)
				pages := Collect(t, "ListPhotos", tc.limit, func(pg core.Page) ([]core.Photo, string, error) {
					return s.ListPhotos(ctx(t), "pat-1", pg)
				})
				if diff := cmp.Diff(tc.wantSizes, pageSizes(pages)); diff != "" {
					t.Errorf("page sizes mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(photos, Flatten(pages), cmpOpts); diff != "" {
					t.Errorf("listed photos mismatch (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("ListPhotosCursorSurvivesDeletion", func(t *testing.T) {
		s := newStore(t, h)
		photos := createPhotos(t, s, "pat-1", 5)
		first, next, err := s.ListPhotos(ctx(t), "pat-1", core.Page{Limit: 2})
		Must(t, "ListPhotos", err)
		if next == "" || len(first) != 2 {
			t.Fatalf("ListPhotos first page: got %d photos and cursor %q, want 2 and a cursor", len(first), next)
		}
		// The photo the cursor points at goes away before the next page.
		_, err = s.DeletePhoto(ctx(t), "pat-1", first[1].ID)
		Must(t, "DeletePhoto", err)
		rest := Collect(t, "ListPhotos after cursor", 2, func(pg core.Page) ([]core.Photo, string, error) {
			if pg.Cursor == "" {
				pg.Cursor = next
			}
			return s.ListPhotos(ctx(t), "pat-1", pg)
		})
		if diff := cmp.Diff(photos[2:], Flatten(rest), cmpOpts); diff != "" {
			t.Errorf("photos after the cursor mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("ListPhotosMalformedCursor", func(t *testing.T) {
		s := newStore(t, h)
		createPhotos(t, s, "pat-1", 3)
		// A cursor of another list: the audit chain of pat-1.
		appendChain(t, s, "pat-1", 3, nil)
		_, auditCursor, err := s.ListAudit(ctx(t), "pat-1", false, core.Page{Limit: 1})
		Must(t, "ListAudit", err)
		if auditCursor == "" {
			t.Fatal("ListAudit: got no cursor, want one")
		}
		for _, tc := range []struct{ name, cursor string }{
			{"not base64", "!!! not a cursor !!!"},
			{"base64 with padding characters inside", "YQ==YQ=="},
			{"arbitrary bytes", base64.RawURLEncoding.EncodeToString([]byte{0xff, 0x00, 0xfe, 0x01})},
			{"cursor of another list", auditCursor},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := s.ListPhotos(ctx(t), "pat-1", core.Page{Cursor: tc.cursor, Limit: 2})
				WantKind(t, "ListPhotos", err, core.KindInvalid)
			})
		}
	})

	t.Run("DeletePhoto", func(t *testing.T) {
		s := newStore(t, h)
		p := newPhoto("pat-1")
		Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
		_, err := s.DeletePhoto(ctx(t), "pat-2", p.ID)
		WantKind(t, "DeletePhoto(another owner)", err, core.KindNotFound)
		wantPhoto(t, s, p)

		old, err := s.DeletePhoto(ctx(t), p.OwnerID, p.ID)
		Must(t, "DeletePhoto", err)
		if diff := cmp.Diff(p, old, cmpOpts); diff != "" {
			t.Errorf("DeletePhoto returned (-want +got):\n%s", diff)
		}
		_, err = s.GetPhoto(ctx(t), p.OwnerID, p.ID)
		WantKind(t, "GetPhoto after delete", err, core.KindNotFound)
		_, err = s.DeletePhoto(ctx(t), p.OwnerID, p.ID)
		WantKind(t, "DeletePhoto again", err, core.KindNotFound)
		_, err = s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, core.BlobInfo{Size: p.Size, SHA256: p.SHA256}, t0)
		WantKind(t, "MarkPhotoReady after delete", err, core.KindNotFound)
		photos, next, err := s.ListPhotos(ctx(t), p.OwnerID, core.Page{Limit: 10})
		Must(t, "ListPhotos after delete", err)
		if len(photos) != 0 || next != "" {
			t.Errorf("ListPhotos after delete: got %d photos and cursor %q, want none", len(photos), next)
		}
	})
}

func testMarkPhotoReady(t *testing.T, h Harness) {
	const owner = "pat-1"
	type tc struct {
		name     string
		owner    string // who asks; "" means the photo's owner
		unknown  bool   // ask for an id that was never created
		observed func(core.Photo) core.BlobInfo
		now      time.Time
		wantKind core.Kind // KindInternal (zero) means success
	}
	matching := func(p core.Photo) core.BlobInfo { return core.BlobInfo{Size: p.Size, SHA256: p.SHA256} }
	for _, tc := range []tc{
		{name: "matching object in the window", observed: matching, now: t0.Add(time.Minute)},
		{name: "matching object just before the window ends", observed: matching, now: t0.Add(uploadWindow - time.Nanosecond)},
		{name: "size differs", observed: func(p core.Photo) core.BlobInfo {
			return core.BlobInfo{Size: p.Size + 1, SHA256: p.SHA256}
		}, now: t0.Add(time.Minute), wantKind: core.KindConflict},
		{name: "sha256 differs", observed: func(p core.Photo) core.BlobInfo {
			return core.BlobInfo{Size: p.Size, SHA256: Digest("something else")}
		}, now: t0.Add(time.Minute), wantKind: core.KindConflict},
		{name: "sha256 missing", observed: func(p core.Photo) core.BlobInfo {
			return core.BlobInfo{Size: p.Size}
		}, now: t0.Add(time.Minute), wantKind: core.KindConflict},
		{name: "window ends exactly now", observed: matching, now: t0.Add(uploadWindow), wantKind: core.KindNotFound},
		{name: "after the window", observed: matching, now: t0.Add(uploadWindow + time.Hour), wantKind: core.KindNotFound},
		{name: "mismatch after the window", observed: func(p core.Photo) core.BlobInfo {
			return core.BlobInfo{Size: p.Size + 1, SHA256: p.SHA256}
		}, now: t0.Add(uploadWindow), wantKind: core.KindNotFound},
		{name: "another owner's photo", owner: "pat-2", observed: matching, now: t0.Add(time.Minute), wantKind: core.KindNotFound},
		{name: "unknown photo", unknown: true, observed: matching, now: t0.Add(time.Minute), wantKind: core.KindNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, h)
			p := newPhoto(owner)
			Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
			askOwner, askID := p.OwnerID, p.ID
			if tc.owner != "" {
				askOwner = tc.owner
			}
			if tc.unknown {
				askID = core.NewID("ph")
			}
			got, err := s.MarkPhotoReady(ctx(t), askOwner, askID, tc.observed(p), tc.now)
			wantReadyAnswer(t, s, photoUpload, p, got, err, tc.wantKind)
		})
	}
}

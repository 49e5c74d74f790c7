package core

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The legacy chat images (ARCHITECTURE §9). The chat system MedShare
// replaces kept its images in a public bucket and linked them by plain
// https URLs. The migration (package migrate, `medshare migrate`, the
// migration function) brings each image of its export in: it imports the
// line first (an IMPORTED chat image of the appointment, found by its old
// URL), copies the object into private storage under the image's id,
// checks its size and SHA-256, and completes the image (READY, with an
// audit record). Participants resolve an old URL to the image
// (ResolveChatImage): once migrated, its private id; before, while
// legacy resolution is on, the old URL again for at most an hour.

// MigrationID is the actor of the migration's audit records.
const MigrationID = "medshare-migration"

// MaxLegacyURLImages bounds how many images one legacy URL names
// (FindChatImagesByLegacyURL): the same old URL imported into that many
// appointments is not a chat export.
const MaxLegacyURLImages = 100

// MaxLegacyURLBytes is the longest legacy URL the service keeps.
const MaxLegacyURLBytes = 2048

// LegacyURLTTL is the longest a legacy URL handed out by ResolveChatImage
// may be used before the app asks again (it is also cut to ChatURLTTL).
const LegacyURLTTL = time.Hour

// LegacyStore keeps the chat images that the migration imports, beside the
// ChatStore's images (they are chat images, stored and listed as those are)
// and indexed by their legacy URL. Each method is one DynamoDB
// TransactWriteItems or query and one bbolt transaction.
type LegacyStore interface {
	// ImportChatImage stores img, an IMPORTED chat image with a LegacyURL,
	// with its entry in the legacy URL index and in its appointment's list
	// (which shows it once READY), and counts it on its appointment, on
	// condition that the appointment (img.ClinicID, img.AppointmentID)
	// exists with the participants img.Participants; atomically. An
	// imported image never expires: it has no TTL and no due entry. When an
	// image with img.ID exists it writes nothing and returns that image as
	// stored, with created false, whatever its status or fields; the caller
	// compares. KindNotFound when the appointment is gone; KindConflict when
	// its participants differ; KindInvalid when img is not an IMPORTED image
	// with a legacy URL.
	ImportChatImage(ctx context.Context, img ChatImage) (stored ChatImage, created bool, err error)

	// CompleteChatImageImport makes the IMPORTED image id READY, with the
	// size and SHA-256 observed of its private object, contentType and
	// UpdatedAt now, and appends rec to its patient's chain, atomically, on
	// condition that the chain's head is exactly (rec.Seq-1, rec.PrevHash):
	// when the head moved it returns *HeadMismatchError and writes nothing.
	// An image that is READY already is returned as it is, with completed
	// false, and nothing is written (the record is not appended).
	// KindNotFound when there is no such image; KindConflict when it is not
	// an imported one (no LegacyURL).
	CompleteChatImageImport(ctx context.Context, id string, observed BlobInfo, contentType string, now time.Time, rec AuditRecord) (img ChatImage, completed bool, err error)

	// DiscardChatImageImport removes the IMPORTED image id, its index
	// entries and its count on its appointment, atomically: a line that
	// turned out not to be migratable (its bytes do not match) leaves
	// nothing. An absent image is not an error. KindConflict when the image
	// is READY (a migrated image is never discarded) or is not an imported
	// one.
	DiscardChatImageImport(ctx context.Context, id string) error

	// FindChatImagesByLegacyURL returns every image, IMPORTED or READY,
	// whose LegacyURL is url, ordered by CreatedAt then id, at most
	// MaxLegacyURLImages; none is an empty list, not an error. It sees every
	// import, completion and discard that returned (strongly consistent
	// reads).
	FindChatImagesByLegacyURL(ctx context.Context, url string) ([]ChatImage, error)
}

// LegacyObject is what a legacy source tells of one object.
type LegacyObject struct {
	Size int64
	// ContentType is the type the source serves the object with; it may be
	// empty or generic (application/octet-stream).
	ContentType string
}

// OpenedLegacyObject is what a LegacySource's Open returns for an
// answered GET: the body, cut to limit bytes when limit > 0 (a server may
// send more than the range it was asked for), and the object, whose size is
// the whole object's that contentRange ("bytes 0-N/SIZE") tells, when it
// tells it, else length.
func OpenedLegacyObject(body io.ReadCloser, length int64, contentRange, contentType string, limit int64) (io.ReadCloser, LegacyObject) {
	obj := LegacyObject{Size: length, ContentType: contentType}
	if _, total, ok := strings.Cut(contentRange, "/"); ok {
		if n, err := strconv.ParseInt(total, 10, 64); err == nil {
			obj.Size = n
		}
	}
	if limit > 0 {
		body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(body, limit), body}
	}
	return body, obj
}

// LegacySource reads the objects of the legacy public bucket by key: an
// S3 or S3-compatible bucket (s3legacy), or a directory served over HTTP
// (httplegacy). It only reads.
type LegacySource interface {
	// Stat returns the object at key; KindNotFound when there is none (a
	// dead URL).
	Stat(ctx context.Context, key string) (LegacyObject, error)
	// Open returns a reader of the object's bytes, at most limit of them
	// from the start when limit > 0 (all of them otherwise); the caller
	// closes it. KindNotFound when there is no object.
	Open(ctx context.Context, key string, limit int64) (io.ReadCloser, LegacyObject, error)
	// Ping checks, where the source can tell, that it answers and that the
	// bucket exists: before a run, so that a wrong bucket is not taken for
	// a manifest of dead URLs.
	Ping(ctx context.Context) error
}

// ObjectImporter writes into private storage the objects the service brings
// in itself: the legacy chat images the migration copies. Clients' uploads
// go through presigned URLs, which write once; an import instead replaces
// what its key holds, a tombstone included, because its keys are the
// migration's own (the ids LegacyChatImageID derives), for which no upload
// URL is ever signed.
type ObjectImporter interface {
	// Import writes the bytes read from body at key, with contentType, and
	// returns the size and SHA-256 of what it wrote. size (-1 when unknown)
	// and sum (nil when unknown) are checked when given: other bytes are
	// refused with KindConflict and nothing is kept. A failure keeps nothing
	// either: the key holds what it held before or the whole new object.
	Import(ctx context.Context, key, contentType string, body io.Reader, size int64, sum []byte) (BlobInfo, error)
}

// CheckImport checks the arguments of ObjectImporter.Import as
// CheckPresignPut checks an upload's, where a negative size or a nil sum
// stand for what the caller does not know.
func CheckImport(op, key, contentType string, size int64, sum []byte, ttl time.Duration) error {
	if sum == nil {
		sum = make([]byte, sha256.Size)
	}
	return CheckPresignPut(op, key, max(size, 0), sum, contentType, ttl)
}

// CopyImport copies body to w for an ObjectImporter, hashing the bytes,
// and checks them as Import promises: at most MaxBlobSize (KindTooLarge),
// size bytes when size is not negative and the SHA-256 sum when sum is not
// nil (KindConflict). A failed write or read is KindUnavailable. It
// returns the number of bytes and their SHA-256.
func CopyImport(op, key string, w io.Writer, body io.Reader, size int64, sum []byte) (int64, []byte, error) {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(body, MaxBlobSize+1))
	switch {
	case err != nil: // the cause says which side failed (a file's write error names the file)
		return n, nil, ErrUnavailable(err, "%s %s: copy the bytes", op, key)
	case n > MaxBlobSize:
		return n, nil, ErrTooLarge("%s %s: more than %d bytes", op, key, int64(MaxBlobSize))
	case size >= 0 && n != size:
		return n, nil, ErrConflict("%s %s: %d bytes where %d were expected", op, key, n, size)
	case sum != nil && !hmac.Equal(h.Sum(nil), sum):
		return n, nil, ErrConflict("%s %s: the bytes' sha256 is not the expected one", op, key)
	}
	return n, h.Sum(nil), nil
}

// LegacyChatImageID is the id of the chat image that a legacy image
// becomes: derived from its clinic, appointment and normalized URL, so that
// every run of the migration, on any machine or function, and two runs at
// once, name the same image and the same object, and exactly one of each
// exists. It has the shape of NewID("ci") (ValidID). It is no secret: the
// old URL names the image already, and an id grants nothing without the
// participant check.
func LegacyChatImageID(clinicID, appointmentID, url string) string {
	h := sha256.Sum256([]byte("medshare/v1/legacy-chat-image\x00" + clinicID + "\x00" + appointmentID + "\x00" + url))
	return "ci_" + idEncoding.EncodeToString(h[:16])
}

// LegacyImport is one line of the legacy export, in the clinic that
// imports it.
type LegacyImport struct {
	ClinicID      string
	AppointmentID string
	SenderID      string
	URL           string // normalized
	SentAt        time.Time
	ContentType   string // one of ChatContentTypes
	Size          int64  // the object's, as the source tells it
	SHA256        []byte // the line's, or nil
}

// migrationCaller is the migration as the audit trail names it; run
// (a run's id) is its request id.
func migrationCaller(run string) Caller {
	return Caller{ID: MigrationID, Role: RoleSystem, UserAgent: "medshare-migrate", RequestID: run}
}

// PrepareLegacyImage returns the chat image that a line of the legacy export
// becomes, without storing it: IMPORTED, in clinic in.ClinicID's
// appointment, sent by in.SenderID at in.SentAt, with the participants the
// appointment has now, and in's content type and size as they are (the
// migration sets them from the legacy object; ImportLegacyImage checks
// them). KindInvalid for a line the service cannot take;
// KindNotFound when the clinic has no such appointment; KindForbidden when
// the sender takes no part in it.
func (s *Service) PrepareLegacyImage(ctx context.Context, in LegacyImport) (ChatImage, error) {
	switch {
	case !ValidExternalID(in.ClinicID):
		return ChatImage{}, ErrInvalid("clinic id is malformed")
	case !ValidExternalID(in.AppointmentID):
		return ChatImage{}, ErrInvalid("appointment id is malformed")
	case !ValidExternalID(in.SenderID) || ReservedID(in.SenderID):
		return ChatImage{}, ErrInvalid("sender id is malformed or reserved")
	case in.URL == "" || len(in.URL) > MaxLegacyURLBytes || !utf8.ValidString(in.URL) || !strings.HasPrefix(in.URL, "https://"):
		return ChatImage{}, ErrInvalid("legacy url is malformed")
	case in.SentAt.IsZero():
		return ChatImage{}, ErrInvalid("sent_at is missing")
	case in.SHA256 != nil && len(in.SHA256) != sha256.Size:
		return ChatImage{}, ErrInvalid("sha256 must be 32 bytes")
	}
	a, err := s.store.GetAppointment(ctx, in.ClinicID, in.AppointmentID)
	if IsKind(err, KindNotFound) {
		return ChatImage{}, ErrNotFound("the clinic has no appointment %s", in.AppointmentID)
	}
	if err != nil {
		return ChatImage{}, fmt.Errorf("get appointment %s: %w", in.AppointmentID, err)
	}
	if !slices.Contains(a.Participants(), in.SenderID) {
		return ChatImage{}, ErrForbidden("the sender takes no part in appointment %s", in.AppointmentID)
	}
	now := s.now()
	return ChatImage{
		ID:            LegacyChatImageID(in.ClinicID, in.AppointmentID, in.URL),
		AppointmentID: a.ID,
		ClinicID:      a.ClinicID,
		PatientID:     a.PatientID,
		UploaderID:    in.SenderID,
		Participants:  a.Participants(),
		ContentType:   in.ContentType,
		Size:          in.Size,
		SHA256:        bytes.Clone(in.SHA256),
		Status:        StatusImported,
		CreatedAt:     in.SentAt.UTC(),
		UpdatedAt:     now,
		LegacyURL:     in.URL,
	}, nil
}

// GetLegacyImage returns the stored image id (of any kind) or KindNotFound;
// the migration reads it to skip what is done.
func (s *Service) GetLegacyImage(ctx context.Context, id string) (ChatImage, error) {
	img, err := s.store.GetChatImage(ctx, id)
	if err != nil {
		return ChatImage{}, fmt.Errorf("get chat image %s: %w", id, err)
	}
	return img, nil
}

// ImportLegacyImage stores img, which PrepareLegacyImage made, or returns
// the image stored under its id (created false): see
// LegacyStore.ImportChatImage.
func (s *Service) ImportLegacyImage(ctx context.Context, img ChatImage) (ChatImage, bool, error) {
	ls := s.store
	switch {
	case img.Status != StatusImported || img.LegacyURL == "" || !ValidID("ci", img.ID):
		return ChatImage{}, false, ErrInvalid("not an imported chat image")
	case !slices.Contains(ChatContentTypes, img.ContentType):
		return ChatImage{}, false, ErrInvalid("content type is not one chat images may have")
	case img.Size < 1 || img.Size > MaxBlobSize:
		return ChatImage{}, false, ErrInvalid("size must be between 1 and %d bytes", int64(MaxBlobSize))
	}
	stored, created, err := ls.ImportChatImage(ctx, img)
	if err != nil {
		return ChatImage{}, false, fmt.Errorf("import chat image %s: %w", img.ID, err)
	}
	return stored, created, nil
}

// CompleteLegacyImage makes the imported image id READY with what its
// private object was observed to be, and records it in its patient's chain
// (chat_image.migrate, actor MigrationID, request id run) in the same
// write. completed is false when another run completed it first: then
// nothing is written, the record neither.
func (s *Service) CompleteLegacyImage(ctx context.Context, run, id string, observed BlobInfo, contentType string) (ChatImage, bool, error) {
	ls := s.store
	img, err := s.store.GetChatImage(ctx, id)
	if err != nil {
		return ChatImage{}, false, fmt.Errorf("get chat image %s: %w", id, err)
	}
	if img.Status == StatusReady {
		return img, false, nil
	}
	var out ChatImage
	completed := false
	_, err = s.audit.chained(ctx, s.auditRecord(migrationCaller(run), img.PatientID, AuditChatImageMigrate, "chat_image", id, nil), func(rec AuditRecord) error {
		var werr error
		out, completed, werr = ls.CompleteChatImageImport(ctx, id, observed, contentType, s.now(), rec)
		if werr == nil && !completed {
			return errNotDue // completed by another run: the record was not appended
		}
		return werr
	})
	if err == errNotDue {
		return out, false, nil
	}
	if err != nil {
		return ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, err)
	}
	return out, true, nil
}

// DiscardLegacyImage removes the imported image id: see
// LegacyStore.DiscardChatImageImport.
func (s *Service) DiscardLegacyImage(ctx context.Context, id string) error {
	ls := s.store
	if err := ls.DiscardChatImageImport(ctx, id); err != nil {
		return fmt.Errorf("discard chat image %s: %w", id, err)
	}
	return nil
}

// ChatImageResolution is the answer to an old chat image URL: the image's
// private URL once it is migrated, or its legacy URL again before.
type ChatImageResolution struct {
	// Migrated says which: ImageID and URL private://chat-images/<id>, or
	// URL the legacy URL with ExpiresAt.
	Migrated  bool
	ImageID   string
	URL       string
	ExpiresAt time.Time
}

// resolveNotFound is the one answer to a URL that names no image the
// caller may see, whether or not it was imported.
func resolveNotFound() error { return ErrNotFound("chat image not found") }

// ResolveChatImage answers a participant's old chat image URL (the legacy
// public URL an old message holds). The URL alone grants nothing: of the
// images imported with that URL, only those whose appointment the caller
// takes part in count, exactly as for ChatImageURL, and everyone else (a
// stranger, or a URL that was never imported) gets the same 404. A
// migrated image answers its private id (the app rewrites its message and
// asks for a signed URL as for any chat image); an image imported but not
// yet copied answers its legacy URL again, usable for at most LegacyURLTTL
// (cut to the chat URL lifetime), unless legacy resolution is off
// (Config.LegacyResolutionOff, phase 4), when it is the 404. Every
// resolution is in the patient's chain before the answer leaves:
// chat_image.resolve (migrated), chat_image.legacy_url (the old URL again),
// and a denied chat_image.resolve for a stranger's request for a URL that
// names images (in the chain of each of their patients, under the
// denied-record limit) and for a participant's request that legacy
// resolution refuses. A URL that names nothing is recorded nowhere: it
// belongs to no chain.
func (s *Service) ResolveChatImage(ctx context.Context, c Caller, rawURL string) (ChatImageResolution, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return ChatImageResolution{}, err
	}
	if rawURL == "" {
		return ChatImageResolution{}, ErrInvalid("url is required")
	}
	if len(rawURL) > MaxLegacyURLBytes {
		return ChatImageResolution{}, ErrInvalid("url is longer than %d bytes", MaxLegacyURLBytes)
	}
	normalized, err := NormalizeLegacyURL(rawURL)
	if err != nil {
		return ChatImageResolution{}, ErrInvalid("url must be the https URL of an image: %v", err)
	}
	ls := s.store
	imgs, err := ls.FindChatImagesByLegacyURL(ctx, normalized)
	if err != nil {
		return ChatImageResolution{}, fmt.Errorf("find legacy chat images: %w", err)
	}
	var mine []ChatImage
	for _, img := range imgs {
		if img.IsParticipant(c.ID) && img.LegacyURL == normalized {
			mine = append(mine, img)
		}
	}
	if len(mine) == 0 {
		// A stranger's request for a URL that names images is recorded in
		// each of their patients' chains, as a stranger's request for an
		// existing chat image is; the answer is the unknown URL's.
		var patients []string
		answer := resolveNotFound()
		for _, img := range imgs {
			if slices.Contains(patients, img.PatientID) {
				continue
			}
			patients = append(patients, img.PatientID)
			answer = s.denyUnseen(ctx, c, img.PatientID, AuditChatImageResolve, "chat_image", img.ID, answer)
		}
		return ChatImageResolution{}, answer
	}
	// A migrated image first; then the oldest.
	pick := mine[0]
	for _, img := range mine {
		if img.Status == StatusReady {
			pick = img
			break
		}
	}
	switch {
	case pick.Status == StatusReady:
		if err := s.record(ctx, c, pick.PatientID, AuditChatImageResolve, "chat_image", pick.ID, nil); err != nil {
			return ChatImageResolution{}, err
		}
		return ChatImageResolution{Migrated: true, ImageID: pick.ID, URL: "private://chat-images/" + pick.ID}, nil
	case pick.Status == StatusImported && !s.cfg.LegacyResolutionOff:
		if err := s.record(ctx, c, pick.PatientID, AuditChatImageLegacyURL, "chat_image", pick.ID, nil); err != nil {
			return ChatImageResolution{}, err
		}
		ttl := min(LegacyURLTTL, s.cfg.ChatURLTTL)
		return ChatImageResolution{URL: pick.LegacyURL, ExpiresAt: s.now().Add(ttl).Truncate(time.Second)}, nil
	}
	answer := resolveNotFound()
	if err := s.recordDenial(ctx, c, pick.PatientID, AuditChatImageResolve, "chat_image", pick.ID, answer); err != nil {
		return ChatImageResolution{}, withCause(answer, err)
	}
	return ChatImageResolution{}, answer
}

// Package migrate moves the legacy chat images into private storage
// (ARCHITECTURE §9): for each line of the chat system's export it imports
// the image (its appointment, sender and old URL), copies the legacy object
// under the image's id, checks its size and SHA-256, and completes the
// image with its audit record. Migrator.One is one line, the same code in
// `medshare migrate chat-images` (Run, many lines at once) and in the
// migration function that AWS Step Functions' distributed map invokes per
// line. Verify proves a migration before the legacy bucket goes.
//
// Every step is idempotent and the image id is derived from the line
// (core.LegacyChatImageID), so a run killed at any point and started
// again, or two runs of one manifest at once, end with exactly one image
// and one object per image, and one audit record of each migration.
package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy"
)

// Service is what the migration needs of core.Service.
type Service interface {
	PrepareLegacyImage(ctx context.Context, in core.LegacyImport) (core.ChatImage, error)
	GetLegacyImage(ctx context.Context, id string) (core.ChatImage, error)
	ImportLegacyImage(ctx context.Context, img core.ChatImage) (core.ChatImage, bool, error)
	CompleteLegacyImage(ctx context.Context, run, id string, observed core.BlobInfo, contentType string) (core.ChatImage, bool, error)
	DiscardLegacyImage(ctx context.Context, id string) error
}

var _ Service = (*core.Service)(nil)

// The outcomes of a line.
const (
	// Migrated: this run copied the image and completed it.
	Migrated = "migrated"
	// AlreadyDone: the image was migrated before (another run, an earlier
	// line with the same URL in the same appointment).
	AlreadyDone = "already_done"
	// WouldMigrate: a dry run found nothing wrong with the line.
	WouldMigrate = "would_migrate"
	// Failed: the line is not migrated; Reason says why (legacy.Reasons).
	Failed = "failed"
)

// Result is what became of one line.
type Result struct {
	Line    int    `json:"line"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	ImageID string `json:"image_id,omitempty"`
	// Bytes is the size of the object this run copied (or, in a dry run,
	// would copy).
	Bytes int64 `json:"bytes,omitempty"`
}

// Migrator migrates lines of one clinic's export.
type Migrator struct {
	Service Service
	// ClinicID is the clinic whose appointment ids the export's are.
	ClinicID string
	// Origin maps the lines' URLs to the legacy source's keys.
	Origin legacy.Origin
	Source core.LegacySource
	Copier Copier
	// RunID names this run in the audit records (their request id).
	RunID string
	// DryRun checks everything and writes nothing.
	DryRun bool
	// Attempts is how many times a step that failed with KindUnavailable
	// is tried (default 4), waiting Backoff, doubled each time (default
	// 200ms), through Sleep (default: a timer that the context ends).
	Attempts int
	Backoff  time.Duration
	Sleep    func(ctx context.Context, d time.Duration) error
}

// failure is a line's failure with its reason.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.reason + ": " + f.err.Error() }

func fail(reason string, err error) error { return &failure{reason, err} }

func failf(reason, format string, args ...any) error {
	return &failure{reason, fmt.Errorf(format, args...)}
}

// One migrates one line: see the package comment. It never panics on a
// line and always returns a Result; a failure's Reason is one of
// legacy.Reasons, and its Message names ids and keys, never a URL's query.
func (m *Migrator) One(ctx context.Context, l legacy.Line) Result {
	r := Result{Line: l.Number}
	res, err := m.one(ctx, l, &r)
	if err == nil {
		return res
	}
	r.Outcome = Failed
	var f *failure
	if errors.As(err, &f) {
		r.Reason, r.Message = f.reason, f.err.Error()
	} else {
		r.Reason, r.Message = legacy.ReasonUnavailable, err.Error()
	}
	return r
}

func (m *Migrator) one(ctx context.Context, l legacy.Line, r *Result) (res Result, err error) {
	key, err := m.Origin.Key(l.URL)
	if err != nil {
		return Result{}, fail(legacy.ReasonOutsideSource, err)
	}
	id := core.LegacyChatImageID(m.ClinicID, l.AppointmentID, l.URL)
	r.ImageID = id
	// What is done is skipped before anything else is read, so that a run
	// resumed after most of the manifest is cheap.
	existing, err := m.existing(ctx, id, l)
	if err != nil {
		return Result{}, err
	}
	if existing.Status == core.StatusReady {
		return m.doneResult(*r, true), nil
	}
	// From here, an image IMPORTED by this line (by this run or one that
	// stopped) is cleaned up when the line fails for a reason of its own:
	// nothing of a line that fails is left, not its object, not its record.
	// A conflict is another line's import, and an unavailable step is
	// retried by the next run: both leave it.
	ours := existing.Status == core.StatusImported
	defer func() {
		var f *failure
		if !ours || m.DryRun || !errors.As(err, &f) || f.reason == legacy.ReasonConflict {
			return
		}
		if cerr := m.cleanUp(ctx, id); cerr != nil {
			err = fail(f.reason, fmt.Errorf("%w (its import is left for a rerun to clean up: %v)", f.err, cerr))
		}
	}()
	img, err := m.prepare(ctx, l)
	if err != nil {
		return Result{}, err
	}
	obj, err := m.stat(ctx, key, l)
	if err != nil {
		return Result{}, err
	}
	ct, err := m.contentType(ctx, key, l, obj)
	if err != nil {
		return Result{}, err
	}
	img.ContentType, img.Size = ct, obj.Size
	if m.DryRun {
		r.Outcome, r.Bytes = WouldMigrate, obj.Size
		return *r, nil
	}
	var stored core.ChatImage
	var created bool
	err = m.retry(ctx, func() (err error) {
		stored, created, err = m.Service.ImportLegacyImage(ctx, img)
		return err
	})
	switch {
	case core.IsKind(err, core.KindNotFound):
		return Result{}, fail(legacy.ReasonUnknownAppointment, err)
	case core.IsKind(err, core.KindConflict):
		return Result{}, fail(legacy.ReasonConflict, err)
	case err != nil:
		return Result{}, err
	}
	if !created {
		if err := sameDeclaration(stored, l); err != nil {
			return Result{}, err
		}
		if stored.Status == core.StatusReady {
			return m.doneResult(*r, true), nil
		}
	}
	ours = true
	observed, copied, err := m.copy(ctx, key, id, ct, obj, l)
	if err != nil {
		return Result{}, err
	}
	if err := verify(observed, obj.Size, l); err != nil {
		return Result{}, err
	}
	var completed bool
	err = m.retry(ctx, func() (err error) {
		_, completed, err = m.Service.CompleteLegacyImage(ctx, m.RunID, id, observed, ct)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if !completed {
		return m.doneResult(*r, true), nil
	}
	r.Outcome = Migrated
	if copied {
		r.Bytes = observed.Size
	}
	return *r, nil
}

func (m *Migrator) doneResult(r Result, done bool) Result {
	if done {
		r.Outcome = AlreadyDone
	}
	return r
}

// existing returns the line's image as stored (the zero image when there is
// none); a READY image whose SHA-256 is not the line's is a conflict (two
// lines of one image that disagree).
func (m *Migrator) existing(ctx context.Context, id string, l legacy.Line) (core.ChatImage, error) {
	var img core.ChatImage
	err := m.retry(ctx, func() (err error) {
		img, err = m.Service.GetLegacyImage(ctx, id)
		return err
	})
	switch {
	case core.IsKind(err, core.KindNotFound):
		return core.ChatImage{}, nil
	case err != nil:
		return core.ChatImage{}, err
	case img.Status == core.StatusReady && l.SHA256 != nil && !bytes.Equal(img.SHA256, l.SHA256):
		return core.ChatImage{}, failf(legacy.ReasonConflict, "image %s is migrated with another sha256 than this line's", id)
	// An import without a digest may come back from the store as nil or as
	// empty bytes (DynamoDB keeps an empty binary): both mean none.
	case img.Status == core.StatusImported && l.SHA256 != nil && len(img.SHA256) > 0 && !bytes.Equal(img.SHA256, l.SHA256):
		return core.ChatImage{}, failf(legacy.ReasonConflict, "image %s was imported by another line with another sha256", id)
	case img.LegacyURL == "":
		return core.ChatImage{}, failf(legacy.ReasonConflict, "image %s exists and is not a legacy image", id)
	}
	return img, nil
}

// sameDeclaration refuses a line whose declared SHA-256 differs from the
// one the image was imported with (by another line of the same image).
func sameDeclaration(stored core.ChatImage, l legacy.Line) error {
	if l.SHA256 != nil && len(stored.SHA256) > 0 && !bytes.Equal(stored.SHA256, l.SHA256) {
		return failf(legacy.ReasonConflict, "image %s was imported by another line with another sha256", stored.ID)
	}
	return nil
}

// prepare checks the line's appointment and sender.
func (m *Migrator) prepare(ctx context.Context, l legacy.Line) (core.ChatImage, error) {
	in := core.LegacyImport{
		ClinicID: m.ClinicID, AppointmentID: l.AppointmentID, SenderID: l.SenderID, URL: l.URL, SentAt: l.SentAt,
		SHA256: l.SHA256, // the type and size come from the legacy object

	}
	var img core.ChatImage
	err := m.retry(ctx, func() (err error) {
		img, err = m.Service.PrepareLegacyImage(ctx, in)
		return err
	})
	switch {
	case core.IsKind(err, core.KindNotFound):
		return core.ChatImage{}, fail(legacy.ReasonUnknownAppointment, err)
	case core.IsKind(err, core.KindForbidden):
		return core.ChatImage{}, fail(legacy.ReasonSenderNotParticipant, err)
	case core.IsKind(err, core.KindInvalid):
		return core.ChatImage{}, fail(legacy.ReasonMalformed, err)
	}
	return img, err
}

// stat reads the legacy object: a dead URL, a size that is not the line's,
// an empty or too large object fail here.
func (m *Migrator) stat(ctx context.Context, key string, l legacy.Line) (core.LegacyObject, error) {
	var obj core.LegacyObject
	err := m.retry(ctx, func() (err error) {
		obj, err = m.Source.Stat(ctx, key)
		return err
	})
	switch {
	case core.IsKind(err, core.KindNotFound):
		return obj, failf(legacy.ReasonDeadURL, "the legacy object %s is not there", key)
	case err != nil:
		return obj, err
	case obj.Size == 0:
		return obj, failf(legacy.ReasonDeadURL, "the legacy object %s is empty", key)
	case obj.Size > legacy.MaxSize:
		return obj, failf(legacy.ReasonTooLarge, "the legacy object %s has %d bytes, more than %d", key, obj.Size, int64(legacy.MaxSize))
	case l.Size >= 0 && obj.Size != l.Size:
		return obj, failf(legacy.ReasonSizeMismatch, "the legacy object %s has %d bytes, the line says %d", key, obj.Size, l.Size)
	}
	return obj, nil
}

// contentType is the line's type, else the source's when it is an image
// type chat images may have, else what the object's first bytes are.
func (m *Migrator) contentType(ctx context.Context, key string, l legacy.Line, obj core.LegacyObject) (string, error) {
	if l.ContentType != "" {
		return l.ContentType, nil
	}
	if mt, _, err := mime.ParseMediaType(obj.ContentType); err == nil && slices.Contains(core.ChatContentTypes, mt) {
		return mt, nil
	}
	var head []byte
	err := m.retry(ctx, func() error {
		body, _, err := m.Source.Open(ctx, key, sniffLen)
		if err != nil {
			return err
		}
		defer body.Close()
		head, err = io.ReadAll(body)
		if err != nil {
			return core.ErrUnavailable(err, "read the first bytes of %s", key)
		}
		return nil
	})
	switch {
	case core.IsKind(err, core.KindNotFound):
		return "", failf(legacy.ReasonDeadURL, "the legacy object %s is not there", key)
	case err != nil:
		return "", err
	}
	if ct := Sniff(head); ct != "" {
		return ct, nil
	}
	return "", failf(legacy.ReasonUnsupportedType, "the legacy object %s is served as %q and its bytes are no image type chat images may have", key, clip(obj.ContentType))
}

// sniffLen is how many bytes Sniff looks at (http.DetectContentType's).
const sniffLen = 512

// Sniff returns the chat image type of an image's first bytes, or "": what
// http.DetectContentType sees (JPEG, PNG, GIF, WebP), and HEIC and HEIF by
// their ISO base media file type box.
func Sniff(head []byte) string {
	if ct := http.DetectContentType(head); slices.Contains(core.ChatContentTypes, ct) {
		return ct
	}
	if len(head) >= 12 && string(head[4:8]) == "ftyp" {
		switch string(head[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis":
			return "image/heic"
		case "mif1", "msf1":
			return "image/heif"
		}
	}
	return ""
}

// copy brings the object into private storage, unless a copy with the
// line's SHA-256 is there already (an earlier run stopped after copying).
// copied reports whether bytes were copied by this call.
func (m *Migrator) copy(ctx context.Context, key, id, ct string, obj core.LegacyObject, l legacy.Line) (core.BlobInfo, bool, error) {
	dst := core.ChatImage{ID: id}.ObjectKey()
	if l.SHA256 != nil {
		info, err := m.Copier.Stat(ctx, dst)
		if err == nil && info.Size == obj.Size && bytes.Equal(info.SHA256, l.SHA256) {
			return info, false, nil
		}
	}
	var observed core.BlobInfo
	err := m.retry(ctx, func() (err error) {
		observed, err = m.Copier.Copy(ctx, key, dst, ct, obj.Size, l.SHA256)
		return err
	})
	var mm *MismatchError
	switch {
	case errors.As(err, &mm):
		return mm.Observed, true, nil // verify tells which
	case core.IsKind(err, core.KindNotFound):
		return core.BlobInfo{}, false, failf(legacy.ReasonDeadURL, "the legacy object %s went away during the copy", key)
	case core.IsKind(err, core.KindTooLarge):
		return core.BlobInfo{}, false, fail(legacy.ReasonTooLarge, err)
	}
	return observed, true, err
}

// verify compares what was copied with the source's size and the line's
// SHA-256.
func verify(observed core.BlobInfo, size int64, l legacy.Line) error {
	switch {
	case observed.Size != size:
		return failf(legacy.ReasonSizeMismatch, "the copy has %d bytes, the legacy object had %d", observed.Size, size)
	case l.SHA256 != nil && !bytes.Equal(observed.SHA256, l.SHA256):
		return failf(legacy.ReasonChecksumMismatch, "the object's sha256 is not the line's")
	}
	return nil
}

// cleanUp removes the object and the import of a line that failed.
func (m *Migrator) cleanUp(ctx context.Context, id string) error {
	dst := core.ChatImage{ID: id}.ObjectKey()
	if err := m.retry(ctx, func() error { return m.Copier.Delete(ctx, dst) }); err != nil {
		return err
	}
	return m.retry(ctx, func() error { return m.Service.DiscardLegacyImage(ctx, id) })
}

// retry runs step until it succeeds, fails with another kind than
// KindUnavailable, the attempts are spent, or ctx ends.
func (m *Migrator) retry(ctx context.Context, step func() error) error {
	attempts, backoff, sleep := m.Attempts, m.Backoff, m.Sleep
	if attempts <= 0 {
		attempts = 4
	}
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	var err error
	for i := range attempts {
		if err = step(); err == nil || !core.IsKind(err, core.KindUnavailable) || ctx.Err() != nil {
			return err
		}
		if i < attempts-1 {
			if serr := sleep(ctx, backoff<<i); serr != nil {
				return err
			}
		}
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

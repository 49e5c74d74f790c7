package core

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
)

// PhotoContentTypes are the plaintext image types a photo may declare.
var PhotoContentTypes = []string{"image/jpeg", "image/png", "image/heic", "image/heif", "image/webp"}

// CiphertextContentType is the content type of every encrypted photo object.
const CiphertextContentType = "application/octet-stream"

// PhotoUploadInput is a patient's request to stage an encrypted photo.
type PhotoUploadInput struct {
	Angle       Angle
	ContentType string
	Size        int64  // of the ciphertext
	SHA256      []byte // of the ciphertext
	DataKey     []byte // 32 bytes, wrapped at once and never kept in clear
	Metadata    []byte // client-encrypted, optional
}

// PhotoUpload is a staged photo and how to upload its ciphertext.
type PhotoUpload struct {
	Photo  Photo
	Upload Upload
}

func (s *Service) validUpload(contentType string, allowed []string, size int64, sum []byte) error {
	switch {
	case !slices.Contains(allowed, contentType):
		return ErrInvalid("content_type must be one of %v", allowed)
	case size <= 0:
		return ErrInvalid("size must be positive")
	case size > s.cfg.MaxUploadBytes:
		return ErrTooLarge("size must be at most %d bytes", s.cfg.MaxUploadBytes)
	case len(sum) != 32:
		return ErrInvalid("sha256 must be the base64 of a 32-byte digest")
	}
	return nil
}

// PresignPhotoUpload stages a photo: it wraps the client's data key under the
// context {photo, owner}, stores the photo as PENDING and returns a presigned
// upload that pins the ciphertext's length and SHA-256. The plaintext data key
// is dropped when this returns.
func (s *Service) PresignPhotoUpload(ctx context.Context, c Caller, in PhotoUploadInput) (PhotoUpload, error) {
	defer clear(in.DataKey)
	if err := s.requireRole(c, RolePatient); err != nil {
		return PhotoUpload{}, err
	}
	if !in.Angle.Valid() {
		return PhotoUpload{}, ErrInvalid("angle must be one of %v", Angles)
	}
	if err := s.validUpload(in.ContentType, PhotoContentTypes, in.Size, in.SHA256); err != nil {
		return PhotoUpload{}, err
	}
	if len(in.DataKey) != 32 {
		return PhotoUpload{}, ErrInvalid("data_key must be the base64 of 32 bytes")
	}
	if len(in.Metadata) > MaxMetadataBytes {
		return PhotoUpload{}, ErrTooLarge("metadata must be at most %d bytes", MaxMetadataBytes)
	}
	now := s.now()
	p := Photo{
		ID:              NewID("ph"),
		OwnerID:         c.ID,
		Angle:           in.Angle,
		ContentType:     in.ContentType,
		Size:            in.Size,
		SHA256:          in.SHA256,
		Metadata:        in.Metadata,
		Status:          StatusPending,
		CreatedAt:       now,
		UpdatedAt:       now,
		UploadExpiresAt: now.Add(s.cfg.UploadTTL),
	}
	wrapped, err := s.keys.Wrap(ctx, in.DataKey, p.EncryptionContext())
	if err != nil {
		return PhotoUpload{}, fmt.Errorf("wrap data key of photo %s: %w", p.ID, err)
	}
	p.WrappedKey = wrapped
	up, err := s.blobs.PresignPut(ctx, p.ObjectKey(), p.Size, p.SHA256, CiphertextContentType, s.cfg.UploadTTL)
	if err != nil {
		return PhotoUpload{}, fmt.Errorf("presign upload of photo %s: %w", p.ID, err)
	}
	if err := s.store.CreatePhoto(ctx, p); err != nil {
		return PhotoUpload{}, fmt.Errorf("create photo %s: %w", p.ID, err)
	}
	return PhotoUpload{Photo: p, Upload: up}, nil
}

// FinalizePhoto checks the uploaded object's size and SHA-256 against what was
// declared and marks the photo READY. It is idempotent. An object that does not
// match is deleted, and the photo stays PENDING until its window passes.
func (s *Service) FinalizePhoto(ctx context.Context, c Caller, photoID string) (Photo, error) {
	if err := s.requireRole(c, RolePatient); err != nil {
		return Photo{}, err
	}
	if !ValidID("ph", photoID) {
		return Photo{}, ErrInvalid("photo_id is malformed")
	}
	key := PhotoObjectKey(c.ID, photoID)
	info, err := s.blobs.Stat(ctx, key)
	if IsKind(err, KindNotFound) {
		// Rare path: tell "no such photo" from "not uploaded yet".
		p, gerr := s.store.GetPhoto(ctx, c.ID, photoID)
		if gerr != nil {
			return Photo{}, notFoundAs(gerr, "photo")
		}
		if p.Abandoned(s.now()) {
			return Photo{}, ErrNotFound("photo not found")
		}
		return Photo{}, ErrConflict("the photo's upload has not been received")
	}
	if err != nil {
		return Photo{}, fmt.Errorf("stat photo %s: %w", photoID, err)
	}
	p, err := s.store.MarkPhotoReady(ctx, c.ID, photoID, info, s.now())
	if IsKind(err, KindConflict) {
		if derr := s.blobs.Delete(ctx, key); derr != nil {
			return Photo{}, fmt.Errorf("delete mismatched upload of photo %s: %w", photoID, derr)
		}
		if aerr := s.record(ctx, c, c.ID, AuditPhotoFinalize, "photo", photoID, err); aerr != nil {
			return Photo{}, aerr
		}
		return Photo{}, ErrConflict("the uploaded object does not match the declared size and sha256; start a new upload")
	}
	if err != nil {
		return Photo{}, notFoundAs(fmt.Errorf("finalize photo %s: %w", photoID, err), "photo")
	}
	if err := s.record(ctx, c, c.ID, AuditPhotoFinalize, "photo", photoID, nil); err != nil {
		return Photo{}, err
	}
	return p, nil
}

// ListPhotos returns one page of the caller's photos. Abandoned uploads are
// treated as gone.
func (s *Service) ListPhotos(ctx context.Context, c Caller, page Page) ([]Photo, string, error) {
	if err := s.requireRole(c, RolePatient); err != nil {
		return nil, "", err
	}
	page, err := pageOf(page)
	if err != nil {
		return nil, "", err
	}
	photos, next, err := s.store.ListPhotos(ctx, c.ID, page)
	if err != nil {
		return nil, "", fmt.Errorf("list photos of %s: %w", c.ID, err)
	}
	now := s.now()
	photos = slices.DeleteFunc(photos, func(p Photo) bool { return p.Abandoned(now) })
	return photos, next, nil
}

// DeletePhoto deletes the caller's photo: the audit record first (so that a
// deletion is never unrecorded: a failure after it leaves a record and a
// photo that a retry deletes), then the object (idempotent), then the record
// with its wrapped key. Once the record is gone no share can issue its key
// again (ShareStore.IssueKey checks that the photo exists), which makes any
// copy of the ciphertext unreadable.
func (s *Service) DeletePhoto(ctx context.Context, c Caller, photoID string) error {
	if err := s.requireRole(c, RolePatient); err != nil {
		return err
	}
	if !ValidID("ph", photoID) {
		return ErrInvalid("photo_id is malformed")
	}
	if _, err := s.store.GetPhoto(ctx, c.ID, photoID); err != nil {
		return notFoundAs(err, "photo")
	}
	if err := s.record(ctx, c, c.ID, AuditPhotoDelete, "photo", photoID, nil); err != nil {
		return err
	}
	if err := s.blobs.Delete(ctx, PhotoObjectKey(c.ID, photoID)); err != nil {
		return fmt.Errorf("delete object of photo %s: %w", photoID, err)
	}
	if _, err := s.store.DeletePhoto(ctx, c.ID, photoID); err != nil {
		return notFoundAs(fmt.Errorf("delete photo %s: %w", photoID, err), "photo")
	}
	return nil
}

// Matches reports whether an observed object has the declared size and digest.
func (b BlobInfo) Matches(size int64, sha256 []byte) bool {
	return b.Size == size && subtle.ConstantTimeCompare(b.SHA256, sha256) == 1
}

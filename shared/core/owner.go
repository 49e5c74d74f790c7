package core

import (
	"context"
	"fmt"
)

// OwnerKey is a patient's own photo's data key sealed with HPKE to one of
// their devices, and a short signed GET of the photo's ciphertext: what a
// device that did not upload the photo needs to show it.
type OwnerKey struct {
	PhotoID   string
	KEM       uint16
	SealedKey []byte
	URL       SignedURL
}

// OwnerSealInfo is the HPKE info that binds a key sealed to its owner's
// device to the photo and the owner: "medshare/v1/owner-key" 0x00 photo_id
// 0x00 owner_id. Its label differs from SealInfo's, so that a key sealed to
// an owner can never be taken for one issued on a share, or the reverse.
func OwnerSealInfo(photoID, ownerID string) []byte {
	info := []byte("medshare/v1/owner-key")
	for _, s := range []string{photoID, ownerID} {
		info = append(info, 0)
		info = append(info, s...)
	}
	return info
}

// OwnerPhotoKey gives a patient their own READY photo's data key sealed to
// the device public key they present (a KEM of KEMs, checked as OpenAccess
// checks a grantee's: ValidateDeviceKey), with a signed GET of the
// ciphertext that lives MaxPhotoURLTTL. The owner has no view limit, but every call is
// recorded in their chain as a view (photo.view, naming the photo and the
// device) before anything is returned: no audit, no key. Another patient's
// photo, an unknown one, and an upload abandoned past its window are all
// the same 404; a photo not yet finalized is 409. Past the photo-key limit
// (Limits.PhotoKeys, per patient and hour) the answer is 429.
func (s *Service) OwnerPhotoKey(ctx context.Context, c Caller, photoID string, kem uint16, devicePub []byte) (OwnerKey, error) {
	if err := s.requireRole(c, RolePatient); err != nil {
		return OwnerKey{}, err
	}
	if !ValidID("ph", photoID) {
		return OwnerKey{}, ErrInvalid("photo_id is malformed")
	}
	if err := ValidateDeviceKey(kem, devicePub); err != nil {
		return OwnerKey{}, err
	}
	// Each call unwraps with the key ring (KMS) and goes into the chain:
	// bounded per patient, so that a stolen token cannot spend the key
	// ring's quota that every issue-key shares, nor grow the chain without
	// bound. Counted before the lookup: photos are keyed by their owner, so
	// a 429 tells nothing about anyone else's.
	if err := s.limit(ctx, s.cfg.Limits.PhotoKeys, "photo keys", "photokey", c.ID); err != nil {
		return OwnerKey{}, err
	}
	p, err := s.store.GetPhoto(ctx, c.ID, photoID)
	if err != nil {
		return OwnerKey{}, notFoundAs(err, "photo")
	}
	switch {
	case p.Abandoned(s.now()):
		return OwnerKey{}, ErrNotFound("photo not found")
	case p.Status != StatusReady:
		return OwnerKey{}, ErrConflict("the photo has not been finalized")
	}
	dataKey, err := s.keys.Unwrap(ctx, p.WrappedKey, p.EncryptionContext())
	if err != nil {
		return OwnerKey{}, fmt.Errorf("unwrap key of photo %s: %w", p.ID, err)
	}
	defer clear(dataKey)
	sealed, err := SealKey(kem, devicePub, dataKey, OwnerSealInfo(p.ID, p.OwnerID))
	if err != nil {
		return OwnerKey{}, fmt.Errorf("seal key of photo %s: %w", p.ID, err)
	}
	u, err := s.blobs.PresignGet(ctx, p.ObjectKey(), MaxPhotoURLTTL)
	if err != nil {
		return OwnerKey{}, fmt.Errorf("presign photo %s: %w", p.ID, err)
	}
	seen := view{photo: p.ID, device: DeviceKeyFingerprint(kem, devicePub)}
	if err := s.appendRecord(ctx, seen.on(s.auditRecord(c, c.ID, AuditPhotoView, "photo", p.ID, nil))); err != nil {
		return OwnerKey{}, err
	}
	return OwnerKey{PhotoID: p.ID, KEM: kem, SealedKey: sealed, URL: u}, nil
}

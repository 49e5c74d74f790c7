package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

var _ core.LegacyStore = (*Store)(nil)

// The legacy chat images (core.LegacyStore) are chat images like the
// others, with their legacy URL; the legacy URL index is an item per image
// in the items bucket, under the keys the DynamoDB table uses
// (storekeys.LegacyURLKey), whose value names the image.

type legacyURLRecord struct {
	ImageID string `json:"image_id"`
}

// checkImported checks the ids and the kind of an image to import.
func checkImported(img core.ChatImage) error {
	if img.Status != core.StatusImported || img.LegacyURL == "" {
		return core.ErrInvalid("chat image %s is not an imported legacy image", img.ID)
	}
	return storekeys.CheckChatImageIDs(img)
}

// ImportChatImage stores an imported image, its index entries and its
// count on its appointment, in one transaction; see core.LegacyStore.
func (s *Store) ImportChatImage(ctx context.Context, img core.ChatImage) (core.ChatImage, bool, error) {
	if err := checkImported(img); err != nil {
		return core.ChatImage{}, false, fmt.Errorf("import chat image %q: %w", img.ID, err)
	}
	ik, ak := storekeys.ChatImageKey(img.ID), storekeys.AppointmentKey(img.ClinicID, img.AppointmentID)
	var out core.ChatImage
	created := false
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		// The fn may run more than once (group commit): its results are
		// set on every run.
		out, created = core.ChatImage{}, false
		b := tx.Bucket(itemsBucket)
		existing, found, err := getItem[storeitem.ChatImage](b, ik)
		if err != nil {
			return err
		}
		if found {
			out = existing
			return nil
		}
		if err := addToAppointment(tx, ak, img); err != nil {
			return err
		}
		if err := putJSON(b, storekeys.LegacyURLKey(img.LegacyURL, img.ID), legacyURLRecord{ImageID: img.ID}); err != nil {
			return err
		}
		out, err = putChatImage(b, ik, img)
		created = err == nil
		return err
	})
	if err != nil {
		return core.ChatImage{}, false, fmt.Errorf("import chat image %s: %w", img.ID, err)
	}
	return out, created, nil
}

// CompleteChatImageImport makes an imported image READY and appends its
// record, in one transaction; see core.LegacyStore.
func (s *Store) CompleteChatImageImport(ctx context.Context, id string, observed core.BlobInfo, contentType string, now time.Time, rec core.AuditRecord) (core.ChatImage, bool, error) {
	if err := storekeys.CheckIDs(id); err != nil {
		return core.ChatImage{}, false, fmt.Errorf("complete chat image %q: %w", id, err)
	}
	if err := checkRecordIDs(rec); err != nil {
		return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, err)
	}
	k := storekeys.ChatImageKey(id)
	var out core.ChatImage
	completed := false
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		out, completed = core.ChatImage{}, false // set on every run (group commit)
		b := tx.Bucket(itemsBucket)
		r, err := readItem[storeitem.ChatImage](b, k, "chat image "+id)
		switch {
		case err != nil:
			return err
		case r.LegacyURL == "":
			return core.ErrConflict("chat image %s is not an imported legacy image", id)
		case r.Status == core.StatusReady:
			out = r
			return nil
		case r.Status != core.StatusImported:
			return core.ErrInternal(nil, "legacy chat image %s has status %q", id, r.Status)
		}
		img := r
		img.Status, img.Size, img.SHA256 = core.StatusReady, observed.Size, bytes.Clone(observed.SHA256)
		img.ContentType, img.UpdatedAt = contentType, now.UTC()
		if err := appendRecord(tx, rec); err != nil {
			return err
		}
		out, err = putChatImage(b, k, img)
		completed = err == nil
		return err
	})
	if err != nil {
		return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, err)
	}
	return out, completed, nil
}

// DiscardChatImageImport removes an imported image, its index entries and
// its count on its appointment, in one transaction; see core.LegacyStore.
func (s *Store) DiscardChatImageImport(ctx context.Context, id string) error {
	if err := storekeys.CheckIDs(id); err != nil {
		return fmt.Errorf("discard chat image %q: %w", id, err)
	}
	k := storekeys.ChatImageKey(id)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		b := tx.Bucket(itemsBucket)
		r, found, err := getItem[storeitem.ChatImage](b, k)
		switch {
		case err != nil:
			return err
		case !found:
			return nil
		case r.LegacyURL == "":
			return core.ErrConflict("chat image %s is not an imported legacy image", id)
		case r.Status != core.StatusImported:
			return core.ErrConflict("chat image %s is migrated: it is never discarded", id)
		}
		ak := storekeys.AppointmentKey(r.ClinicID, r.AppointmentID)
		a, found, err := getItem[storeitem.Appointment](b, ak)
		if err != nil {
			return err
		}
		if found && a.ImageCount > 0 {
			a.ImageCount--
			if err := putJSON(b, ak, storeitem.AppointmentOf(a)); err != nil {
				return err
			}
		}
		if err := deleteChatIndex(tx, r.ClinicID, r.AppointmentID, r.CreatedAt, id); err != nil {
			return err
		}
		if err := b.Delete(boltKey(storekeys.LegacyURLKey(r.LegacyURL, id))); err != nil {
			return err
		}
		return b.Delete(boltKey(k))
	})
	if err != nil {
		return fmt.Errorf("discard chat image %s: %w", id, err)
	}
	return nil
}

// FindChatImagesByLegacyURL reads the legacy URL index of url and each
// image it names, in one transaction; see core.LegacyStore.
func (s *Store) FindChatImagesByLegacyURL(ctx context.Context, url string) ([]core.ChatImage, error) {
	out := []core.ChatImage{}
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		b := tx.Bucket(itemsBucket)
		_, err := scan(b, storekeys.LegacyURLPK(url), storekeys.LegacyURLSKPrefix, "", false, math.MaxInt,
			func(sk string, v []byte) error {
				if len(out) == core.MaxLegacyURLImages {
					return nil
				}
				var e legacyURLRecord
				if err := json.Unmarshal(v, &e); err != nil {
					return core.ErrInternal(err, "legacy url entry %s is corrupt", sk)
				}
				r, found, err := getItem[storeitem.ChatImage](b, storekeys.ChatImageKey(e.ImageID))
				if err != nil {
					return err
				}
				if !found || r.LegacyURL != url {
					return core.ErrInternal(nil, "legacy url entry %s names no image of the url", sk)
				}
				out = append(out, r)
				return nil
			})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find chat images by legacy url: %w", err)
	}
	slices.SortFunc(out, func(a, b core.ChatImage) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

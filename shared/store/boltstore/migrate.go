package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// migrationsBucket records the migrations a store file has had, one key
// each.
var migrationsBucket = []byte("migrations")

// migrateSideChannels is the key of the migration of issue 10 §2.
var migrateSideChannels = []byte("issue10-side-channels")

// migrateWrappedKeyCopies is the key of the migration that removes the
// copies of photos' wrapped keys from shares and accesses.
var migrateWrappedKeyCopies = []byte("wrapped-key-copies")

// migrations run in this order, each once per file.
var migrations = []struct {
	key []byte
	run func(tx *bolt.Tx) error
}{
	{migrateSideChannels, migrateIssue10},
	{migrateWrappedKeyCopies, dropWrappedKeyCopies},
}

// migrate brings a file made by an earlier version to the current layout,
// in tx: Open runs it, and each migration records that it ran.
func migrate(tx *bolt.Tx) error {
	done, err := tx.CreateBucketIfNotExists(migrationsBucket)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if done.Get(m.key) != nil {
			continue
		}
		if err := m.run(tx); err != nil {
			return err
		}
		if err := done.Put(m.key, []byte("done")); err != nil {
			return err
		}
	}
	return nil
}

// legacyAppointmentSK is the sort key appointments had when their ids were
// global: APPT#<id> / APPT.
const legacyAppointmentSK = "APPT"

// migrateIssue10 brings a file made before issue 10 §2 to its layout. Issue
// 10 §2 made three changes that a file made before them needs:
//   - appointments move from APPT#<id>/APPT to APPT#<id>/CLINIC#<clinic>
//     (ids are scoped to their clinic);
//   - a chat image records its appointment's clinic, which is the clinic of
//     the one appointment that had its id;
//   - the by-actor index drops the records that an actor's history no
//     longer lists (core.AuditRecord.InActorHistory): a stranger's denied
//     probes would otherwise still show in their history.
func migrateIssue10(tx *bolt.Tx) error {
	items := tx.Bucket(itemsBucket)
	// Each step reads first and writes after: a bbolt cursor may not be
	// relied on across writes to its bucket.
	clinicOf := map[string]string{} // appointment id -> its clinic
	moved := map[string]storeitem.Appointment{}
	err := forPrefix(items, storekeys.AppointmentPKPrefix, func(k, v []byte) error {
		pk, sk, _ := strings.Cut(string(k), "\x00")
		if sk != legacyAppointmentSK {
			return nil
		}
		var r storeitem.Appointment
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("migrate appointment %q: %w", k, err)
		}
		clinicOf[strings.TrimPrefix(pk, storekeys.AppointmentPKPrefix)] = r.ClinicID
		moved[string(k)] = r
		return nil
	})
	if err != nil {
		return err
	}
	for k, r := range moved {
		if err := putJSON(items, storekeys.AppointmentKey(r.ClinicID, r.ID), r); err != nil {
			return err
		}
		if err := items.Delete([]byte(k)); err != nil {
			return err
		}
	}
	images := map[string]storeitem.ChatImage{}
	err = forPrefix(items, storekeys.ChatImagePKPrefix, func(k, v []byte) error {
		var r storeitem.ChatImage
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("migrate chat image %q: %w", k, err)
		}
		if r.ClinicID == "" && clinicOf[r.AppointmentID] != "" {
			r.ClinicID = clinicOf[r.AppointmentID]
			images[string(k)] = r
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, r := range images {
		raw, err := json.Marshal(r)
		if err != nil {
			return core.ErrInternal(err, "encode chat image %q", k)
		}
		if err := items.Put([]byte(k), raw); err != nil {
			return err
		}
	}
	actors := tx.Bucket(actorBucket)
	var unlisted [][]byte
	err = actors.ForEach(func(k, v []byte) error {
		raw := items.Get(v)
		if raw == nil {
			return nil
		}
		r, err := decodeItem[storeitem.AuditRecord](raw, v)
		if err != nil {
			return fmt.Errorf("migrate actor index entry %q: %w", k, err)
		}
		if !r.InActorHistory() {
			unlisted = append(unlisted, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range unlisted {
		if err := actors.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// wrappedKeyFields are the names under which shares and accesses kept a copy
// of each photo's wrapped key, before the photo's record became the only
// item that holds it (so that deleting the record crypto-shreds the photo).
var wrappedKeyFields = []string{"wrapped_key", "wrapped_key_id"}

// dropWrappedKeyCopies removes those copies from every share and access,
// leaving every other field as it was stored. The pages that held them
// are freed, not overwritten: bbolt reuses them for later writes
// (ARCHITECTURE §10.5).
func dropWrappedKeyCopies(tx *bolt.Tx) error {
	items := tx.Bucket(itemsBucket)
	rewritten := map[string][]byte{}
	for _, prefix := range []string{storekeys.SharePKPrefix, storekeys.AccessPKPrefix} {
		err := forPrefix(items, prefix, func(k, v []byte) error {
			if !bytes.Contains(v, []byte(`"wrapped_key`)) {
				return nil
			}
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("migrate %q: %w", k, err)
			}
			var photos []map[string]json.RawMessage
			if raw, ok := rec["photos"]; ok {
				if err := json.Unmarshal(raw, &photos); err != nil {
					return fmt.Errorf("migrate the photos of %q: %w", k, err)
				}
			}
			for _, p := range photos {
				for _, f := range wrappedKeyFields {
					delete(p, f)
				}
			}
			raw, err := json.Marshal(photos)
			if err != nil {
				return core.ErrInternal(err, "encode the photos of %q", k)
			}
			rec["photos"] = raw
			if rewritten[string(k)], err = json.Marshal(rec); err != nil {
				return core.ErrInternal(err, "encode %q", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for k, v := range rewritten {
		if err := items.Put([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// forPrefix visits, in key order, the items of b whose key starts with
// prefix.
func forPrefix(b *bolt.Bucket, prefix string, visit func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
		if err := visit(k, v); err != nil {
			return err
		}
	}
	return nil
}

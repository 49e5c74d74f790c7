// Package boltstore is the embedded core.Store: one bbolt file holding the
// same items, under the same keys (package storekeys) and in the same
// stored shapes (package storeitem, as JSON), as the DynamoDB single table
// (ARCHITECTURE §5). Every port method is one bbolt transaction, which gives
// the atomicity that the DynamoDB adapter gets from one conditional write or
// one TransactWriteItems. Concurrent writes share a transaction and its
// commit (group commit, commit.go); each is still all or nothing, and
// returns only once it is on disk.
package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// The buckets: items holds every item under PK + "\x00" + SK; gsi_actor is the
// by-actor index of audit records, gsi_share_patient and gsi_share_grantee
// the by-patient and by-grantee indexes of shares (gsi1 and gsi2 of the
// DynamoDB table). An index entry's value is the items key of its item, so
// that the index reads the item as stored now. The buckets of the scheduled
// jobs (the due index, the audit counters) are in
// jobs.go.
var (
	itemsBucket        = []byte("items")
	actorBucket        = []byte("gsi_actor")
	sharePatientBucket = []byte("gsi_share_patient")
	shareGranteeBucket = []byte("gsi_share_grantee")
	buckets            = [][]byte{itemsBucket, actorBucket, sharePatientBucket, shareGranteeBucket}
	// chatApptBucket is the by-appointment index of chat images (gsi2 of
	// the DynamoDB table under its APPTIMG# partitions); see chatimages.go.
	chatApptBucket = []byte("gsi_chat_images")
)

// OpenTimeout is how long Open waits for the file lock that another process
// holds before it fails.
const OpenTimeout = time.Second

// Store is the bbolt implementation of core.Store. It is safe for
// concurrent use.
type Store struct {
	db     *bolt.DB
	commit *committer // every write goes through it (group commit: commit.go)
	// now is the store's own clock, read only to forget Tally counters
	// past their until; tests set it.
	now     func() time.Time
	tallies tallies
}

var _ core.Store = (*Store)(nil)

// Open opens (or creates, mode 0600) the store at path. It fails with
// KindUnavailable after OpenTimeout when another process holds the file.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: OpenTimeout})
	if err != nil {
		return nil, core.ErrUnavailable(err, "open store %s", path)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		// The job indexes came later: a file made before them gets them,
		// built from its items, in the transaction that creates them.
		if tx.Bucket(dueBucket) == nil {
			for _, name := range jobBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			if err := backfillJobIndexes(tx); err != nil {
				return err
			}
		}
		if err := migrate(tx); err != nil {
			return err
		}
		// The by-appointment index of chat images came later still: built
		// the same way, once migrate has given every chat image its
		// appointment's clinic, which the index's partitions name.
		if tx.Bucket(chatApptBucket) == nil {
			return backfillChatIndex(tx)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, core.ErrUnavailable(err, "create buckets in store %s", path)
	}
	return &Store{db: db, commit: &committer{db: db}, now: time.Now}, nil
}

// Close releases the file. Methods called after Close fail with
// KindUnavailable.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the store answers.
func (s *Store) Ping(ctx context.Context) error {
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		for _, name := range append(append(buckets, chatApptBucket), jobBuckets...) {
			if tx.Bucket(name) == nil {
				return core.ErrInternal(nil, "store bucket %s is missing", name)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// run runs fn in one transaction, read-write when writable. Errors of the
// core's kinds (and *core.HeadMismatchError, *core.IdempotencyReplayError)
// pass through; anything else comes from bbolt (I/O, closed database) and is
// KindUnavailable.
//
// A write shares its transaction with the writes that arrive with it
// (commit.go), and returns once that transaction is committed, so synced to
// disk. Its fn may run more than once (each run but the last in a
// transaction that is discarded): it must be deterministic given the
// transaction, and set its results on every run, with no other effect
// outside the transaction. A fn that returns an error writes nothing, as
// before: its writes are rolled back with it.
func (s *Store) run(ctx context.Context, writable bool, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return core.ErrUnavailable(err, "request ended")
	}
	var err error
	if writable {
		err = s.commit.do(fn)
	} else {
		err = s.db.View(fn)
	}
	if err == nil {
		return nil
	}
	var ce *core.Error
	var moved *core.HeadMismatchError
	var replay *core.IdempotencyReplayError
	if errors.As(err, &ce) || errors.As(err, &moved) || errors.As(err, &replay) {
		return err
	}
	return core.ErrUnavailable(err, "store transaction failed")
}

// getJSON decodes the item at k into v and reports whether it exists.
func getJSON(b *bolt.Bucket, k storekeys.Key, v any) (bool, error) {
	raw := b.Get(boltKey(k))
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, core.ErrInternal(err, "item %s %s is corrupt", k.PK, k.SK)
	}
	return true, nil
}

// putJSON writes v (a stored shape of storeitem) as the item at k.
func putJSON(b *bolt.Bucket, k storekeys.Key, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return core.ErrInternal(err, "encode item %s %s", k.PK, k.SK)
	}
	return b.Put(boltKey(k), raw)
}

// shape is one of storeitem's stored shapes, which makes entity E.
type shape[E any] interface{ Entity() (E, error) }

// decodeItem makes the entity of raw, the item at bbolt key key stored as
// shape S; KindInternal when it does not decode.
func decodeItem[S shape[E], E any](raw, key []byte) (E, error) {
	var s S
	if err := json.Unmarshal(raw, &s); err != nil {
		var zero E
		return zero, core.ErrInternal(err, "item %q is corrupt", key)
	}
	e, err := s.Entity()
	if err != nil {
		return e, core.ErrInternal(err, "item %q is corrupt", key)
	}
	return e, nil
}

// getItem reads the item at k as its stored shape S and makes its entity;
// found is false, with no error, when there is none.
func getItem[S shape[E], E any](b *bolt.Bucket, k storekeys.Key) (e E, found bool, err error) {
	raw := b.Get(boltKey(k))
	if raw == nil {
		return e, false, nil
	}
	e, err = decodeItem[S](raw, boltKey(k))
	return e, true, err
}

// readIndexed decodes the item at items key itemKey, which the entry sk of
// owner's partition of an index points to, as stored shape S; KindInternal
// when there is none. index and noun name the index and its items in the
// error ("share", "share").
func readIndexed[S shape[E], E any](items *bolt.Bucket, itemKey []byte, index, sk, owner, noun string) (E, error) {
	raw := items.Get(itemKey)
	if raw == nil {
		var zero E
		return zero, core.ErrInternal(nil, "%s index entry %s of %s points to no %s", index, sk, owner, noun)
	}
	return decodeItem[S](raw, itemKey)
}

// readItem is getItem, with KindNotFound ("<what> not found") when there
// is no item at k.
func readItem[S shape[E], E any](b *bolt.Bucket, k storekeys.Key, what string) (E, error) {
	e, found, err := getItem[S](b, k)
	if err == nil && !found {
		err = core.ErrNotFound("%s not found", what)
	}
	return e, err
}

// getOne reads the item at k, entity what ("photo") id, in a read
// transaction; KindNotFound when there is none. It checks id and the other
// ids k holds (storekeys.CheckIDs) first.
func getOne[S shape[E], E any](ctx context.Context, s *Store, what, id string, k storekeys.Key, others ...string) (E, error) {
	var e E
	if err := storekeys.CheckIDs(append(others, id)...); err != nil {
		return e, fmt.Errorf("get %s %q: %w", what, id, err)
	}
	err := s.run(ctx, false, func(tx *bolt.Tx) (err error) {
		e, err = readItem[S](tx.Bucket(itemsBucket), k, what+" "+id)
		return err
	})
	if err != nil {
		var zero E
		return zero, fmt.Errorf("get %s %s: %w", what, id, err)
	}
	return e, nil
}

func pageLimit(p core.Page) int {
	if p.Limit <= 0 {
		return core.DefaultPageLimit
	}
	return p.Limit
}

// scan visits, in key order (reversed when desc), at most limit items of
// partition pk whose sort key starts with skPrefix, starting after sort key
// afterSK (exclusive; "" starts at the first or, when desc, the last). It
// returns the sort key of the last visited item when more items follow, and ""
// when the partition is exhausted.
func scan(b *bolt.Bucket, pk, skPrefix, afterSK string, desc bool, limit int, visit func(sk string, v []byte) error) (string, error) {
	base := partitionPrefix(pk, "")
	prefix := partitionPrefix(pk, skPrefix)
	c := b.Cursor()
	var k, v []byte
	switch {
	case !desc && afterSK == "":
		k, v = c.Seek(prefix)
	case !desc:
		from := boltKey(storekeys.Key{PK: pk, SK: afterSK})
		if k, v = c.Seek(from); bytes.Equal(k, from) {
			k, v = c.Next()
		}
	default:
		// from is an exclusive upper bound: start at the last key below it.
		from := boltKey(storekeys.Key{PK: pk, SK: afterSK})
		if afterSK == "" {
			from = prefixEnd(prefix)
		}
		if from == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(from); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	step := c.Next
	if desc {
		step = c.Prev
	}
	var last string
	for n := 0; k != nil && bytes.HasPrefix(k, prefix); k, v = step() {
		if n == limit {
			return last, nil
		}
		sk := string(k[len(base):])
		if err := visit(sk, v); err != nil {
			return "", err
		}
		last = sk
		n++
	}
	return "", nil
}

// prefixEnd returns the smallest key above every key that starts with prefix,
// or nil when there is none.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// CreatePhoto stores a new photo; KindConflict when (owner, id) exists.
func (s *Store) CreatePhoto(ctx context.Context, p core.Photo) error {
	if err := storekeys.CheckIDs(p.OwnerID, p.ID); err != nil {
		return fmt.Errorf("create photo %q of %q: %w", p.ID, p.OwnerID, err)
	}
	k := storekeys.PhotoKey(p.OwnerID, p.ID)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		b := tx.Bucket(itemsBucket)
		if b.Get(boltKey(k)) != nil {
			return core.ErrConflict("photo %s exists", p.ID)
		}
		return putUpload(tx, k, p.Status, p.UploadExpiresAt, storeitem.PhotoOf(p))
	})
	if err != nil {
		return fmt.Errorf("create photo %s of %s: %w", p.ID, p.OwnerID, err)
	}
	return nil
}

// putUpload writes a new upload (a photo or chat image) at k, in its
// stored shape r, due (core.DueUpload) at expiresAt while it is PENDING.
func putUpload(tx *bolt.Tx, k storekeys.Key, status core.UploadStatus, expiresAt time.Time, r any) error {
	if status == core.StatusPending {
		if err := putDue(tx, core.DueUpload, expiresAt, k); err != nil {
			return err
		}
	}
	return putJSON(tx.Bucket(itemsBucket), k, r)
}

// MarkPhotoReady moves a PENDING photo whose object matches to READY, in one
// transaction; see core.PhotoStore.
func (s *Store) MarkPhotoReady(ctx context.Context, owner, id string, observed core.BlobInfo, now time.Time) (core.Photo, error) {
	return markReady[storeitem.Photo](ctx, s, "photo", id, storekeys.PhotoKey(owner, id), observed, now,
		func(p core.Photo) (upload, storeitem.Photo) {
			u := upload{p.Status, p.Size, p.SHA256, p.UploadExpiresAt}
			p.Status, p.UpdatedAt = core.StatusReady, now.UTC()
			return u, storeitem.PhotoOf(p)
		}, owner)
}

// upload is what markReady needs to know of a photo or chat image.
type upload struct {
	status    core.UploadStatus
	size      int64
	sha256    []byte
	expiresAt time.Time
}

// markReady is MarkPhotoReady and MarkChatImageReady: it moves the PENDING
// upload at k, entity what id, whose object matches to READY, in one
// transaction. ready tells about the upload as stored, and makes it READY
// at now, in its stored shape; markReady returns it as stored. It checks id and the other ids k holds
// (storekeys.CheckIDs) first.
func markReady[S shape[E], E any](ctx context.Context, s *Store, what, id string, k storekeys.Key, observed core.BlobInfo, now time.Time,
	ready func(E) (upload, S), others ...string) (E, error) {
	var out E
	if err := storekeys.CheckIDs(append(others, id)...); err != nil {
		return out, fmt.Errorf("mark %s %q ready: %w", what, id, err)
	}
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		b := tx.Bucket(itemsBucket)
		e, err := readItem[S](b, k, what+" "+id)
		if err != nil {
			return err
		}
		u, readied := ready(e)
		switch {
		case u.status == core.StatusImported:
			return core.ErrConflict("%s %s is imported from the legacy chat: only its migration completes it", what, id)
		case u.status == core.StatusReady && observed.Matches(u.size, u.sha256):
			out = e
			return nil
		case u.status == core.StatusReady:
			return core.ErrConflict("the object does not match ready %s %s", what, id)
		case u.status == core.StatusPending && !now.Before(u.expiresAt): // abandoned
			return core.ErrNotFound("%s %s not found", what, id)
		case !observed.Matches(u.size, u.sha256):
			return core.ErrConflict("the object does not match %s %s", what, id)
		}
		if err := putJSON(b, k, readied); err != nil {
			return err
		}
		if err := deleteDue(tx, core.DueUpload, u.expiresAt, k); err != nil {
			return err
		}
		out, err = readied.Entity()
		return err
	})
	if err != nil {
		var zero E
		return zero, fmt.Errorf("mark %s %s ready: %w", what, id, err)
	}
	return out, nil
}

// GetPhoto returns the photo (owner, id) or KindNotFound.
func (s *Store) GetPhoto(ctx context.Context, owner, id string) (core.Photo, error) {
	return getOne[storeitem.Photo](ctx, s, "photo", id, storekeys.PhotoKey(owner, id), owner)
}

// ListPhotos returns one page of owner's photos ordered by id.
func (s *Store) ListPhotos(ctx context.Context, owner string, page core.Page) ([]core.Photo, string, error) {
	list := storekeys.List{PK: storekeys.PhotoPKPrefix + owner, SKPrefix: storekeys.PhotoSKPrefix}
	return listItems[storeitem.Photo](ctx, s, list, page, "list photos of", owner)
}

// listItems reads one page of list, a partition of the items bucket, after
// page's cursor, as stored shape S, and returns the next page's cursor ("" after
// the last page). op and owner name the listing (storekeys.List.Start).
func listItems[S shape[E], E any](ctx context.Context, s *Store, list storekeys.List, page core.Page, op, owner string) ([]E, string, error) {
	after, err := list.Start(op, owner, page.Cursor)
	if err != nil {
		return nil, "", err
	}
	out := []E{}
	var next string
	err = s.run(ctx, false, func(tx *bolt.Tx) error {
		var err error
		next, err = scan(tx.Bucket(itemsBucket), list.PK, list.SKPrefix, after, list.Desc, pageLimit(page),
			func(sk string, v []byte) error {
				e, err := decodeItem[S](v, []byte(sk))
				out = append(out, e)
				return err
			})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", op, owner, err)
	}
	return out, list.Next(next), nil
}

// DeletePhoto removes the photo (owner, id) and returns it as it was.
func (s *Store) DeletePhoto(ctx context.Context, owner, id string) (core.Photo, error) {
	if err := storekeys.CheckIDs(owner, id); err != nil {
		return core.Photo{}, fmt.Errorf("delete photo %q: %w", id, err)
	}
	k := storekeys.PhotoKey(owner, id)
	var p core.Photo
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		b := tx.Bucket(itemsBucket)
		var err error
		if p, err = readItem[storeitem.Photo](b, k, "photo "+id); err != nil {
			return err
		}
		if err := deleteDue(tx, core.DueUpload, p.UploadExpiresAt, k); err != nil {
			return err
		}
		return b.Delete(boltKey(k))
	})
	if err != nil {
		return core.Photo{}, fmt.Errorf("delete photo %s: %w", id, err)
	}
	return p, nil
}

// PutAppointment creates or replaces clinic a.ClinicID's appointment a.ID;
// see core.ChatStore.
func (s *Store) PutAppointment(ctx context.Context, a core.Appointment) (bool, error) {
	if err := storekeys.CheckIDs(a.ID, a.ClinicID); err != nil {
		return false, fmt.Errorf("put appointment %q: %w", a.ID, err)
	}
	k := storekeys.AppointmentKey(a.ClinicID, a.ID)
	var created bool
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		b := tx.Bucket(itemsBucket)
		old, found, err := getItem[storeitem.Appointment](b, k)
		if err != nil {
			return err
		}
		put := a // a itself stays as given: this may run again (group commit)
		if found {
			if old.ImageCount > 0 && !old.SameParticipants(a) {
				return core.ErrConflict("appointment %s has chat images: its participants cannot change", a.ID)
			}
			put.CreatedAt, put.ImageCount = old.CreatedAt, old.ImageCount
		}
		created = !found
		return putJSON(b, k, storeitem.AppointmentOf(put))
	})
	if err != nil {
		return false, fmt.Errorf("put appointment %s: %w", a.ID, err)
	}
	return created, nil
}

// GetAppointment returns clinicID's appointment id or KindNotFound.
func (s *Store) GetAppointment(ctx context.Context, clinicID, id string) (core.Appointment, error) {
	return getOne[storeitem.Appointment](ctx, s, "appointment", id, storekeys.AppointmentKey(clinicID, id), clinicID)
}

// FindAppointments returns every clinic's appointment id, ordered by clinic.
func (s *Store) FindAppointments(ctx context.Context, id string) ([]core.Appointment, error) {
	if err := storekeys.CheckIDs(id); err != nil {
		return nil, fmt.Errorf("find appointment %q: %w", id, err)
	}
	out := []core.Appointment{}
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		_, err := scan(tx.Bucket(itemsBucket), storekeys.AppointmentPKPrefix+id, storekeys.AppointmentSKPrefix, "", false, math.MaxInt,
			func(sk string, v []byte) error {
				a, err := decodeItem[storeitem.Appointment](v, []byte(sk))
				out = append(out, a)
				return err
			})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find appointment %s: %w", id, err)
	}
	return out, nil
}

// CreateChatImage stores a new chat image and counts it on its appointment,
// in one transaction; see core.ChatStore.
func (s *Store) CreateChatImage(ctx context.Context, img core.ChatImage) error {
	if err := storekeys.CheckChatImageIDs(img); err != nil {
		return fmt.Errorf("create chat image %q: %w", img.ID, err)
	}
	ik, ak := storekeys.ChatImageKey(img.ID), storekeys.AppointmentKey(img.ClinicID, img.AppointmentID)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		b := tx.Bucket(itemsBucket)
		if b.Get(boltKey(ik)) != nil {
			return core.ErrConflict("chat image %s exists", img.ID)
		}
		if err := addToAppointment(tx, ak, img); err != nil {
			return err
		}
		return putUpload(tx, ik, img.Status, img.UploadExpiresAt, storeitem.ChatImageOf(img))
	})
	if err != nil {
		return fmt.Errorf("create chat image %s in appointment %s: %w", img.ID, img.AppointmentID, err)
	}
	return nil
}

// addToAppointment counts img on its appointment, at ak, and lists it
// there (putChatIndex): KindNotFound when there is no appointment, and
// KindConflict when its participants changed since img was made.
func addToAppointment(tx *bolt.Tx, ak storekeys.Key, img core.ChatImage) error {
	b := tx.Bucket(itemsBucket)
	a, err := readItem[storeitem.Appointment](b, ak, "appointment "+img.AppointmentID)
	if err != nil {
		return err
	}
	if !sameParticipants(a, img) {
		return core.ErrConflict("the participants of appointment %s changed", a.ID)
	}
	a.ImageCount++
	if err := putJSON(b, ak, storeitem.AppointmentOf(a)); err != nil {
		return err
	}
	return putChatIndex(tx, img.ClinicID, img.AppointmentID, img.CreatedAt, img.ID)
}

// putChatImage writes img at k and returns it as stored.
func putChatImage(b *bolt.Bucket, k storekeys.Key, img core.ChatImage) (core.ChatImage, error) {
	r := storeitem.ChatImageOf(img)
	if err := putJSON(b, k, r); err != nil {
		return core.ChatImage{}, err
	}
	stored, err := r.Entity()
	if err != nil {
		return core.ChatImage{}, core.ErrInternal(err, "chat image %s", img.ID)
	}
	return stored, nil
}

// sameParticipants reports whether img was made for a's current participants:
// the same patient first, then the same set of professionals.
func sameParticipants(a core.Appointment, img core.ChatImage) bool {
	if len(img.Participants) == 0 || img.PatientID != a.PatientID {
		return false
	}
	listed := core.Appointment{PatientID: img.Participants[0], ProfessionalIDs: img.Participants[1:]}
	return a.SameParticipants(listed)
}

// GetChatImage returns the chat image or KindNotFound.
func (s *Store) GetChatImage(ctx context.Context, id string) (core.ChatImage, error) {
	return getOne[storeitem.ChatImage](ctx, s, "chat image", id, storekeys.ChatImageKey(id))
}

// MarkChatImageReady is MarkPhotoReady for chat images.
func (s *Store) MarkChatImageReady(ctx context.Context, id string, observed core.BlobInfo, now time.Time) (core.ChatImage, error) {
	return markReady[storeitem.ChatImage](ctx, s, "chat image", id, storekeys.ChatImageKey(id), observed, now,
		func(c core.ChatImage) (upload, storeitem.ChatImage) {
			u := upload{c.Status, c.Size, c.SHA256, c.UploadExpiresAt}
			c.Status, c.UpdatedAt = core.StatusReady, now.UTC()
			return u, storeitem.ChatImageOf(c)
		})
}

// readHead returns the head of patient's chain, zero when the chain is empty.
func readHead(b *bolt.Bucket, patientID string) (core.ChainHead, error) {
	h, _, err := getItem[storeitem.ChainHead](b, storekeys.AuditHeadKey(patientID))
	return h, err
}

// AuditHead returns the head of patient's chain; the zero ChainHead when the
// chain is empty.
func (s *Store) AuditHead(ctx context.Context, patientID string) (core.ChainHead, error) {
	if err := storekeys.CheckIDs(patientID); err != nil {
		return core.ChainHead{}, fmt.Errorf("audit head of %q: %w", patientID, err)
	}
	var head core.ChainHead
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		var err error
		head, err = readHead(tx.Bucket(itemsBucket), patientID)
		return err
	})
	if err != nil {
		return core.ChainHead{}, fmt.Errorf("audit head of %s: %w", patientID, err)
	}
	return head, nil
}

// AppendAudit appends rec to its chain if the head is (rec.Seq-1,
// rec.PrevHash), writing the record, the new head, the by-actor index entry
// and each of notes in one transaction; otherwise it returns
// *core.HeadMismatchError with the current head and writes nothing. A record
// without an actor is not indexed.
func (s *Store) AppendAudit(ctx context.Context, rec core.AuditRecord, notes ...core.Notification) error {
	if err := checkWriteIDs(rec, notes); err != nil {
		return fmt.Errorf("append audit to %q: %w", rec.PatientID, err)
	}
	err := s.run(ctx, true, func(tx *bolt.Tx) error { return recordChange(tx, rec, notes) })
	if err != nil {
		return fmt.Errorf("append audit %d to %s: %w", rec.Seq, rec.PatientID, err)
	}
	return nil
}

// checkRecordIDs checks the ids of rec that go into keys: its patient, and
// its actor when it has one.
func checkRecordIDs(rec core.AuditRecord) error {
	if err := storekeys.CheckIDs(rec.PatientID); err != nil {
		return err
	}
	if rec.ActorID != "" {
		if err := storekeys.CheckIDs(rec.ActorID); err != nil {
			return fmt.Errorf("actor: %w", err)
		}
	}
	return nil
}

// appendRecord appends rec to its chain within tx: the record, the new head,
// its audit counter (CountAudit) and the by-actor index entry, on condition that the head is (rec.Seq-1,
// rec.PrevHash); otherwise it returns *core.HeadMismatchError with the
// current head. AppendAudit runs it alone; the share methods run it in the
// transaction of the state change the record records, so that the two land
// together or not at all. Its caller has checked the ids (checkRecordIDs).
func appendRecord(tx *bolt.Tx, rec core.AuditRecord) error {
	items := tx.Bucket(itemsBucket)
	k := storekeys.AuditRecordKey(rec.PatientID, rec.Seq)
	head, err := readHead(items, rec.PatientID)
	if err != nil {
		return err
	}
	if rec.Seq != head.Seq+1 || !bytes.Equal(rec.PrevHash, head.Hash) {
		return &core.HeadMismatchError{PatientID: rec.PatientID, Current: head}
	}
	if items.Get(boltKey(k)) != nil {
		return core.ErrInternal(nil, "audit record %d of %s exists beyond the head", rec.Seq, rec.PatientID)
	}
	if err := putJSON(items, k, storeitem.AuditRecordOf(rec)); err != nil {
		return err
	}
	if err := putJSON(items, storekeys.AuditHeadKey(rec.PatientID), storeitem.HeadOf(rec)); err != nil {
		return err
	}
	if err := countRecord(tx, rec); err != nil {
		return err
	}
	if !rec.InActorHistory() {
		return nil
	}
	ak := storekeys.ActorIndexKey(rec.ActorID, rec.At, rec.PatientID, rec.Seq)
	return tx.Bucket(actorBucket).Put(boltKey(ak), boltKey(k))
}

// ListAudit returns one page of patient's chain in sequence order, or newest
// first.
func (s *Store) ListAudit(ctx context.Context, patientID string, newestFirst bool, page core.Page) ([]core.AuditRecord, string, error) {
	list := storekeys.List{PK: storekeys.AuditPKPrefix + patientID, SKPrefix: storekeys.AuditSeqSKPrefix, Desc: newestFirst}
	return listItems[storeitem.AuditRecord](ctx, s, list, page, "list audit of", patientID)
}

// ListAuditByActor returns one page of actorID's records across all chains,
// newest first, read through the by-actor index. The cursor holds an
// storekeys.ActorPos, not an index key, which would name the patient of the
// page's last record: the next page starts below the position's bound and
// skips the records at its time that were listed already.
func (s *Store) ListAuditByActor(ctx context.Context, actorID string, page core.Page) ([]core.AuditRecord, string, error) {
	if err := storekeys.CheckIDs(actorID); err != nil {
		return nil, "", fmt.Errorf("list audit of actor %q: %w", actorID, err)
	}
	list := storekeys.List{PK: storekeys.ActorPKPrefix + actorID, Desc: true}
	prev, err := storekeys.DecodeActorCursor(page.Cursor, list)
	if err != nil {
		return nil, "", fmt.Errorf("list audit of actor %s: %w", actorID, err)
	}
	recs := []core.AuditRecord{}
	var sks []string
	more := false
	err = s.run(ctx, false, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		prefix := partitionPrefix(list.PK, "")
		c := tx.Bucket(actorBucket).Cursor()
		var k, v []byte
		if prev == nil {
			k, v = lastBelow(c, prefixEnd(prefix))
		} else {
			k, v = lastBelow(c, boltKey(storekeys.Key{PK: list.PK, SK: prev.Bound()}))
		}
		skipped, limit := 0, pageLimit(page)
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			sk := string(k[len(prefix):])
			if prev != nil && skipped < prev.N && prev.AtTime(sk) {
				skipped++
				continue
			}
			if len(recs) == limit {
				more = true
				return nil
			}
			r, err := readIndexed[storeitem.AuditRecord](items, v, "actor", sk, actorID, "record")
			if err != nil {
				return err
			}
			recs = append(recs, r)
			sks = append(sks, sk)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list audit of actor %s: %w", actorID, err)
	}
	var next string
	if more {
		pos, err := storekeys.NextActorPos(prev, sks)
		if err != nil {
			return nil, "", core.ErrInternal(err, "list audit of actor %s", actorID)
		}
		next = list.Next(pos.String())
	}
	return recs, next, nil
}

// lastBelow positions c on the last key below bound (exclusive; nil: the
// last key of the bucket) and returns it.
func lastBelow(c *bolt.Cursor, bound []byte) (k, v []byte) {
	if bound == nil {
		return c.Last()
	}
	if k, _ = c.Seek(bound); k == nil {
		return c.Last()
	}
	return c.Prev()
}

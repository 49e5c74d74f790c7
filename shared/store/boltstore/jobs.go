package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// The items and indexes of the scheduled jobs (core.JobStore).
//
// The due index (bucket gsi_due, the bbolt side of the DynamoDB table's
// sparse time index) holds one entry per due item at
//
//	<kind> "\x00" <due, DueStampLayout> "\x00" <items key of the item>
//
// whose value is the items key, so that the entries of one kind sort by due
// time and ListDue seeks to (kind, from) and stops past until, reading only
// the entries it returns. Each write that makes an item due or not due puts
// or deletes its entry in its own transaction: putDue and deleteDue below,
// called by CreatePhoto, MarkPhotoReady, DeletePhoto, CreateChatImage,
// MarkChatImageReady, AbandonUpload, CreateShare, RevokeShare, ExpireShare,
// IssueKey, DeleteExpiredKey, recordChange and MarkPublished.
//
// The audit counters (bucket audit_counts) hold one 8-byte big-endian count
// per UTC day and StatKey, at <yyyy-mm-dd> "\x00" <StatKey>; appendRecord,
// through which every record is appended, adds one in the record's
// transaction.
//
// Tally counters are kept in memory (tallies), not in the file: see Tally.
var (
	dueBucket         = []byte("gsi_due")
	auditCountsBucket = []byte("audit_counts")
	jobBuckets        = [][]byte{dueBucket, auditCountsBucket}
)

// DueStampLayout is the due time in a due index key: whole seconds, UTC,
// fixed width, so that the keys sort by time as bytes.
const DueStampLayout = "20060102T150405Z"

// tallySweepMin is how many counters the store holds before a Tally first
// forgets those past their until; after each sweep the next comes when the
// live counters have doubled, so that sweeping costs O(1) per Tally.
const tallySweepMin = 256

// tallies are the Tally counters of a store.
type tallies struct {
	mu      sync.Mutex
	m       map[string]tallyEntry
	sweepAt int
}

type tallyEntry struct {
	n     int64
	until time.Time
}

// dueTime is when an item whose time is at is due: at rounded up to the
// second, in UTC (core.DueItem.Due).
func dueTime(at time.Time) time.Time {
	at = at.UTC()
	if r := at.Truncate(time.Second); !r.Equal(at) {
		return r.Add(time.Second)
	}
	return at
}

// dueStamp is the DueStampLayout form of the second of t (truncated), held
// within the years the layout can write.
func dueStamp(t time.Time) string {
	t = t.UTC()
	switch {
	case t.Year() < 1:
		t = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	case t.Year() > 9999:
		t = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	}
	return t.Format(DueStampLayout)
}

// dueEntry is the due index key of the item at items key item, of kind, due
// at (rounded up) at.
func dueEntry(kind core.DueKind, at time.Time, item storekeys.Key) []byte {
	return []byte(string(kind) + "\x00" + dueStamp(dueTime(at)) + "\x00" + string(boltKey(item)))
}

// putDue records in tx that the item at items key item is due at at.
func putDue(tx *bolt.Tx, kind core.DueKind, at time.Time, item storekeys.Key) error {
	return tx.Bucket(dueBucket).Put(dueEntry(kind, at, item), boltKey(item))
}

// deleteDue records in tx that the item at items key item, due at at, is
// no longer due. Deleting an absent entry is not an error.
func deleteDue(tx *bolt.Tx, kind core.DueKind, at time.Time, item storekeys.Key) error {
	return tx.Bucket(dueBucket).Delete(dueEntry(kind, at, item))
}

// parseDueEntry returns the item that due index key k of kind names. It
// fails on anything dueEntry did not make for kind.
func parseDueEntry(kind core.DueKind, k []byte) (core.DueItem, error) {
	rest, ok := strings.CutPrefix(string(k), string(kind)+"\x00")
	if !ok || len(rest) < len(DueStampLayout)+1 || rest[len(DueStampLayout)] != 0 {
		return core.DueItem{}, fmt.Errorf("due entry %q is malformed", k)
	}
	stamp := rest[:len(DueStampLayout)]
	due, err := time.Parse(DueStampLayout, stamp)
	if err != nil || due.Format(DueStampLayout) != stamp {
		return core.DueItem{}, fmt.Errorf("due entry %q has a malformed time", k)
	}
	pk, sk, ok := strings.Cut(rest[len(DueStampLayout)+1:], "\x00")
	if !ok {
		return core.DueItem{}, fmt.Errorf("due entry %q names no item", k)
	}
	id, owner, err := storekeys.ParseDueItemKey(kind, storekeys.Key{PK: pk, SK: sk})
	if err != nil {
		return core.DueItem{}, err
	}
	return core.DueItem{Kind: kind, Due: due.UTC(), ID: id, Owner: owner}, nil
}

// ListDue returns one page of the items of kind due in [from, until], in
// due order, read from the due index: a seek to (kind, from), then the
// entries up to until, and no others. The cursor is the base64url of the
// last entry returned.
func (s *Store) ListDue(ctx context.Context, kind core.DueKind, from, until time.Time, page core.Page) ([]core.DueItem, string, error) {
	if err := storekeys.CheckDueKind(kind); err != nil {
		return nil, "", fmt.Errorf("list due %s: %w", kind, err)
	}
	var after []byte
	if page.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		if err == nil {
			_, err = parseDueEntry(kind, raw)
		}
		if err != nil {
			return nil, "", fmt.Errorf("list due %s: %w", kind, core.ErrInvalid("cursor is malformed"))
		}
		after = raw
	}
	start := []byte(string(kind) + "\x00" + dueStamp(from) + "\x00")
	last := dueStamp(until)
	limit := pageLimit(page)
	items := []core.DueItem{}
	var next string
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		c := tx.Bucket(dueBucket).Cursor()
		var k []byte
		if after != nil && bytes.Compare(after, start) >= 0 {
			if k, _ = c.Seek(after); bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		} else {
			k, _ = c.Seek(start)
		}
		for ; k != nil; k, _ = c.Next() {
			it, err := parseDueEntry(kind, k)
			if err != nil {
				if bytes.HasPrefix(k, []byte(string(kind)+"\x00")) {
					return core.ErrInternal(err, "due index of %s is corrupt", kind)
				}
				return nil // the next kind's entries
			}
			if dueStamp(it.Due) > last {
				return nil
			}
			if len(items) == limit {
				next = base64.RawURLEncoding.EncodeToString(dueEntry(kind, items[len(items)-1].Due, mustDueItemKey(items[len(items)-1])))
				return nil
			}
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list due %s: %w", kind, err)
	}
	return items, next, nil
}

// mustDueItemKey is the items key of a due item that parseDueEntry made, so
// of a known kind.
func mustDueItemKey(it core.DueItem) storekeys.Key {
	k, err := storekeys.DueItemKey(it)
	if err != nil {
		panic(fmt.Sprintf("boltstore: due item of kind %q has no key: %v", it.Kind, err))
	}
	return k
}

// AbandonUpload deletes the record of a PENDING upload whose window has
// ended at now, and its due entry, in one transaction; see core.JobStore.
func (s *Store) AbandonUpload(ctx context.Context, it core.DueItem, now time.Time) error {
	ids := []string{it.ID}
	if it.Owner != "" {
		ids = append(ids, it.Owner)
	}
	if err := storekeys.CheckIDs(ids...); err != nil {
		return fmt.Errorf("abandon upload %q: %w", it.ID, err)
	}
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		var k storekeys.Key
		var status core.UploadStatus
		var windowEnd time.Time
		var chat *core.ChatImage // the chat image, to drop its index entry
		if it.Owner != "" {
			k = storekeys.PhotoKey(it.Owner, it.ID)
			p, found, err := getItem[storeitem.Photo](items, k)
			if err != nil || !found {
				return err
			}
			status, windowEnd = p.Status, p.UploadExpiresAt
		} else {
			k = storekeys.ChatImageKey(it.ID)
			img, found, err := getItem[storeitem.ChatImage](items, k)
			if err != nil || !found {
				return err
			}
			status, windowEnd, chat = img.Status, img.UploadExpiresAt, &img
		}
		switch {
		case status != core.StatusPending:
			return core.ErrConflict("upload %s is %s", it.ID, status)
		case now.Before(windowEnd):
			return core.ErrConflict("the upload window of %s has not ended", it.ID)
		}
		if err := items.Delete(boltKey(k)); err != nil {
			return err
		}
		if chat != nil {
			if err := deleteChatIndex(tx, chat.ClinicID, chat.AppointmentID, chat.CreatedAt, chat.ID); err != nil {
				return err
			}
		}
		return deleteDue(tx, core.DueUpload, windowEnd, k)
	})
	if err != nil {
		return fmt.Errorf("abandon upload %s: %w", it.ID, err)
	}
	return nil
}

// ExpireShare moves an ACTIVE share past its expiry to EXPIRED, with the
// notifications and the audit record, in one transaction, and reports true;
// a share that is not ACTIVE is left as stored, with no write, and reports
// false. See core.JobStore.
func (s *Store) ExpireShare(ctx context.Context, id string, now time.Time, rec core.AuditRecord, notes ...core.Notification) (bool, error) {
	if err := checkWriteIDs(rec, notes, id); err != nil {
		return false, fmt.Errorf("expire share %q: %w", id, err)
	}
	return s.endShare(ctx, id, rec, notes, func(sh core.Share) (bool, error) {
		switch {
		case sh.Status != core.ShareActive:
			return true, nil
		case now.Before(sh.ExpiresAt):
			return false, core.ErrConflict("share %s has not expired", id)
		}
		return false, nil
	}, func(r *storeitem.Share) { r.Status = string(core.ShareExpired) }, "expire share")
}

// DeleteExpiredKey deletes an ephemeral key past its expiry and its due
// entry in one transaction; see core.JobStore.
func (s *Store) DeleteExpiredKey(ctx context.Context, id string, now time.Time) error {
	if err := storekeys.CheckIDs(id); err != nil {
		return fmt.Errorf("delete expired key %q: %w", id, err)
	}
	k := storekeys.EphemeralKeyKey(id)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		key, found, err := getItem[storeitem.EphemeralKey](items, k)
		if err != nil || !found {
			return err
		}
		if now.Before(key.ExpiresAt) {
			return core.ErrConflict("key %s has not expired", id)
		}
		if err := items.Delete(boltKey(k)); err != nil {
			return err
		}
		return deleteDue(tx, core.DueKey, key.ExpiresAt, k)
	})
	if err != nil {
		return fmt.Errorf("delete expired key %s: %w", id, err)
	}
	return nil
}

// GetNotification returns one of recipient's notifications, or
// KindNotFound.
func (s *Store) GetNotification(ctx context.Context, recipient, id string) (core.InboxItem, error) {
	if err := storekeys.CheckIDs(recipient, id); err != nil {
		return core.InboxItem{}, fmt.Errorf("get notification %q of %q: %w", id, recipient, err)
	}
	var it core.InboxItem
	err := s.run(ctx, false, func(tx *bolt.Tx) (err error) {
		it, err = readItem[storeitem.InboxItem](tx.Bucket(itemsBucket), storekeys.InboxKey(recipient, id), "notification "+id)
		return err
	})
	if err != nil {
		return core.InboxItem{}, fmt.Errorf("get notification %s of %s: %w", id, recipient, err)
	}
	return it, nil
}

// JobWatermark returns the watermark of kind; zero when never set.
func (s *Store) JobWatermark(ctx context.Context, kind core.DueKind) (time.Time, error) {
	if err := storekeys.CheckDueKind(kind); err != nil {
		return time.Time{}, fmt.Errorf("watermark of %s: %w", kind, err)
	}
	var t time.Time
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		var err error
		t, err = readWatermark(tx.Bucket(itemsBucket), kind)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("watermark of %s: %w", kind, err)
	}
	return t, nil
}

// readWatermark is the watermark of kind, zero when there is none.
func readWatermark(items *bolt.Bucket, kind core.DueKind) (time.Time, error) {
	k := storekeys.WatermarkKey(kind)
	var r storeitem.Watermark
	if _, err := getJSON(items, k, &r); err != nil {
		return time.Time{}, err
	}
	t, err := r.Time()
	if err != nil {
		return time.Time{}, core.ErrInternal(err, "item %s %s is corrupt", k.PK, k.SK)
	}
	return t, nil
}

// SetJobWatermark moves the watermark of kind forward to t, and leaves it
// when t is not after it.
func (s *Store) SetJobWatermark(ctx context.Context, kind core.DueKind, t time.Time) error {
	if err := storekeys.CheckDueKind(kind); err != nil {
		return fmt.Errorf("set watermark of %s: %w", kind, err)
	}
	k := storekeys.WatermarkKey(kind)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		mark, err := readWatermark(items, kind)
		if err != nil || !t.After(mark) {
			return err
		}
		return putJSON(items, k, storeitem.WatermarkOf(kind, t))
	})
	if err != nil {
		return fmt.Errorf("set watermark of %s to %v: %w", kind, t, err)
	}
	return nil
}

// auditCountKey is the audit_counts key of the records with StatKey key on
// the UTC day of day.
func auditCountKey(day time.Time, key string) []byte {
	return []byte(day.UTC().Format(time.DateOnly) + "\x00" + key)
}

// countRecord adds rec to the counter of its StatKey on the UTC day of its
// time, in tx.
func countRecord(tx *bolt.Tx, rec core.AuditRecord) error {
	b := tx.Bucket(auditCountsBucket)
	k := auditCountKey(rec.At, rec.StatKey())
	var n uint64
	if v := b.Get(k); v != nil {
		if len(v) != 8 {
			return core.ErrInternal(nil, "audit counter %q is corrupt", k)
		}
		n = binary.BigEndian.Uint64(v)
	}
	return b.Put(k, binary.BigEndian.AppendUint64(nil, n+1))
}

// CountAudit returns how many records with StatKey key were appended with a
// time on the UTC day of day.
func (s *Store) CountAudit(ctx context.Context, day time.Time, key string) (int64, error) {
	var n int64
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		k := auditCountKey(day, key)
		v := tx.Bucket(auditCountsBucket).Get(k)
		switch {
		case v == nil:
			return nil
		case len(v) != 8:
			return core.ErrInternal(nil, "audit counter %q is corrupt", k)
		}
		n = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count audit %s on %s: %w", key, day.UTC().Format(time.DateOnly), err)
	}
	return n, nil
}

// PutDailyReport stores the report of r.Day's UTC day, replacing one stored
// before.
func (s *Store) PutDailyReport(ctx context.Context, r core.DailyReport) error {
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(itemsBucket), storekeys.DailyReportKey(r.Day), storeitem.DailyReportOf(r))
	})
	if err != nil {
		return fmt.Errorf("put daily report of %s: %w", r.Day.UTC().Format(time.DateOnly), err)
	}
	return nil
}

// GetDailyReport returns the report of day's UTC day, or KindNotFound.
func (s *Store) GetDailyReport(ctx context.Context, day time.Time) (core.DailyReport, error) {
	var r core.DailyReport
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		var found bool
		var err error
		r, found, err = getItem[storeitem.DailyReport](tx.Bucket(itemsBucket), storekeys.DailyReportKey(day))
		if err == nil && !found {
			err = core.ErrNotFound("no daily report of %s", day.UTC().Format(time.DateOnly))
		}
		return err
	})
	if err != nil {
		return core.DailyReport{}, fmt.Errorf("get daily report of %s: %w", day.UTC().Format(time.DateOnly), err)
	}
	return r, nil
}

// Tally adds one to the counter name and returns its new value. The
// counters live in memory: bbolt's file lock makes this process the only
// one that counts, and a counter of the burst detector lives a minute, so a
// write (and a file sync) per issue-key would buy nothing but surviving a
// restart, after which the counts start again. A counter read past its
// until (on the store's clock) starts again from 1; a counter's until only
// moves later.
func (s *Store) Tally(ctx context.Context, name string, until time.Time) (int64, error) {
	if err := storekeys.CheckIDs(name); err != nil {
		return 0, fmt.Errorf("tally %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, core.ErrUnavailable(err, "tally %s", name)
	}
	now := s.now()
	t := &s.tallies
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m, t.sweepAt = map[string]tallyEntry{}, tallySweepMin
	}
	if len(t.m) >= t.sweepAt {
		for k, e := range t.m {
			if e.until.Before(now) {
				delete(t.m, k)
			}
		}
		t.sweepAt = max(tallySweepMin, 2*len(t.m))
	}
	e := t.m[name]
	if e.until.Before(now) {
		e = tallyEntry{}
	}
	e.n++
	if until.After(e.until) {
		e.until = until
	}
	t.m[name] = e
	return e.n, nil
}

// backfillJobIndexes builds, in tx, the due index and the audit counters of
// the items that a store file made before them holds: Open runs it once,
// when it creates their buckets.
func backfillJobIndexes(tx *bolt.Tx) error {
	return tx.Bucket(itemsBucket).ForEach(func(raw, v []byte) error {
		pk, sk, ok := strings.Cut(string(raw), "\x00")
		if !ok {
			return nil
		}
		k := storekeys.Key{PK: pk, SK: sk}
		var err error
		switch {
		case strings.HasPrefix(pk, storekeys.PhotoPKPrefix) && strings.HasPrefix(sk, storekeys.PhotoSKPrefix):
			var p core.Photo
			if p, err = decodeItem[storeitem.Photo](v, raw); err == nil && p.Status == core.StatusPending {
				err = putDue(tx, core.DueUpload, p.UploadExpiresAt, k)
			}
		case strings.HasPrefix(pk, storekeys.ChatImagePKPrefix) && sk == storekeys.ChatImageSK:
			var img core.ChatImage
			if img, err = decodeItem[storeitem.ChatImage](v, raw); err == nil && img.Status == core.StatusPending {
				err = putDue(tx, core.DueUpload, img.UploadExpiresAt, k)
			}
		case strings.HasPrefix(pk, storekeys.SharePKPrefix) && sk == storekeys.ShareSK:
			var sh core.Share
			if sh, err = decodeItem[storeitem.Share](v, raw); err == nil && sh.Status == core.ShareActive {
				err = putDue(tx, core.DueShare, sh.ExpiresAt, k)
			}
		case strings.HasPrefix(pk, storekeys.EphemeralKeyPKPrefix) && sk == storekeys.EphemeralKeySK:
			var key core.EphemeralKey
			if key, err = decodeItem[storeitem.EphemeralKey](v, raw); err == nil {
				err = putDue(tx, core.DueKey, key.ExpiresAt, k)
			}
		case strings.HasPrefix(pk, storekeys.InboxPKPrefix) && strings.HasPrefix(sk, storekeys.InboxSKPrefix):
			var it core.InboxItem
			if it, err = decodeItem[storeitem.InboxItem](v, raw); err == nil && !it.Published {
				err = putDue(tx, core.DueNotification, it.CreatedAt, k)
			}
		case strings.HasPrefix(pk, storekeys.AuditPKPrefix) && strings.HasPrefix(sk, storekeys.AuditSeqSKPrefix):
			var rec core.AuditRecord
			if rec, err = decodeItem[storeitem.AuditRecord](v, raw); err == nil {
				err = countRecord(tx, rec)
			}
		}
		if err != nil {
			return fmt.Errorf("index item %q: %w", raw, err)
		}
		return nil
	})
}

package boltstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// The by-appointment index of chat images mirrors the DynamoDB table's:
// every chat image, PENDING or READY, has an entry under its appointment
// (storekeys.ChatImagesByAppointmentKey), written with the image and
// removed with it; ListChatImages keeps the READY ones, as the DynamoDB
// adapter's filter does. An entry's value is the image's items key, so the
// list reads each image as stored now.

func putChatIndex(tx *bolt.Tx, clinic, appt string, created time.Time, id string) error {
	k := storekeys.ChatImagesByAppointmentKey(clinic, appt, created, id)
	return tx.Bucket(chatApptBucket).Put(boltKey(k), boltKey(storekeys.ChatImageKey(id)))
}

func deleteChatIndex(tx *bolt.Tx, clinic, appt string, created time.Time, id string) error {
	return tx.Bucket(chatApptBucket).Delete(boltKey(storekeys.ChatImagesByAppointmentKey(clinic, appt, created, id)))
}

// staleChatIndexBucket is the by-appointment index as builds of the
// portals' branch made it before appointment ids were scoped to their
// clinic (APPTIMG#<appointment>), never released; a file that has it gets
// it dropped and rebuilt.
var staleChatIndexBucket = []byte("gsi_chat_appointment")

// backfillChatIndex creates the index and puts every stored chat image in
// it: a file made before the index (by a version before the portals' list
// of chat images) gets it whole when it is next opened. Open runs it after
// migrate, which gives every chat image of a file made before appointment
// ids were scoped to their clinic the clinic of its appointment; an image
// left without one (its appointment was never found) has no list to be in.
func backfillChatIndex(tx *bolt.Tx) error {
	if tx.Bucket(staleChatIndexBucket) != nil {
		if err := tx.DeleteBucket(staleChatIndexBucket); err != nil {
			return err
		}
	}
	if _, err := tx.CreateBucket(chatApptBucket); err != nil {
		return err
	}
	var images []core.ChatImage
	err := forPrefix(tx.Bucket(itemsBucket), storekeys.ChatImagePKPrefix, func(k, v []byte) error {
		_, sk, ok := strings.Cut(string(k), "\x00")
		if !ok || sk != storekeys.ChatImageSK {
			return nil
		}
		img, err := decodeItem[storeitem.ChatImage](v, k)
		images = append(images, img)
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range images {
		if storekeys.CheckChatListIDs(r.ClinicID, r.AppointmentID) != nil {
			continue
		}
		if err := putChatIndex(tx, r.ClinicID, r.AppointmentID, r.CreatedAt, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// ListChatImages returns one page of the READY chat images of clinic's
// appointment, newest first, read through the by-appointment index; see
// core.ChatStore. A page skips PENDING images and still holds limit READY
// ones when there are that many.
func (s *Store) ListChatImages(ctx context.Context, clinicID, appointmentID, reader string, page core.Page) ([]core.ChatImage, string, error) {
	if err := storekeys.CheckChatListIDs(clinicID, appointmentID); err != nil {
		return nil, "", fmt.Errorf("list chat images of %q: %w", appointmentID, err)
	}
	list := storekeys.ChatImagesList(clinicID, appointmentID, reader)
	after, err := storekeys.DecodeCursor(page.Cursor, list)
	if err == nil && after != "" {
		_, err = storekeys.ParseChatImageIndexSK(after)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list chat images of %s: %w", appointmentID, err)
	}
	limit := pageLimit(page)
	imgs := []core.ChatImage{}
	var next string
	err = s.run(ctx, false, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		pk := list.PK
		// One scan reads entries until it has a page of READY images and
		// knows whether more follow (an entry past them).
		var last string
		_, err := scan(tx.Bucket(chatApptBucket), pk, storekeys.ChatImageIndexSKPrefix, after, true, -1,
			func(sk string, itemKey []byte) error {
				img, err := readIndexed[storeitem.ChatImage](items, itemKey, "chat", sk, appointmentID, "image")
				if err != nil {
					return err
				}
				if img.Status != core.StatusReady {
					return nil
				}
				if len(imgs) == limit {
					next = last
					return errPageFull
				}
				imgs = append(imgs, img)
				last = sk
				return nil
			})
		if errors.Is(err, errPageFull) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list chat images of %s: %w", appointmentID, err)
	}
	return imgs, list.Next(next), nil
}

// errPageFull stops a scan once a page is full and another item follows.
var errPageFull = errors.New("page full")

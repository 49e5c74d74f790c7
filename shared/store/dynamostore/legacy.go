package dynamostore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

var _ core.LegacyStore = (*Store)(nil)

// The legacy chat images (core.LegacyStore) are chat image items like the
// others, with a legacy_url; the legacy URL index is an item per image
// (storekeys.LegacyURLKey) whose image_id names the image.

const attrLegacyURL = "legacy_url"

type legacyURLItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	ImageID string `dynamodbav:"image_id"`
}

// ImportChatImage stores an imported image with one TransactWriteItems: a
// Put of the image conditional on its absence (ALL_OLD: an image that
// exists is the answer, created false), the Put of its legacy URL entry,
// and the Update of its appointment's image_count under the participants'
// condition, as CreateChatImage's. See core.LegacyStore.
func (s *Store) ImportChatImage(ctx context.Context, img core.ChatImage) (core.ChatImage, bool, error) {
	if img.Status != core.StatusImported || img.LegacyURL == "" {
		return core.ChatImage{}, false, fmt.Errorf("import chat image %q: %w", img.ID, core.ErrInvalid("not an imported legacy image"))
	}
	if err := storekeys.CheckChatImageIDs(img); err != nil {
		return core.ChatImage{}, false, fmt.Errorf("import chat image %q: %w", img.ID, err)
	}
	imgAV, err := marshal(chatImageItemOf(img))
	if err != nil {
		return core.ChatImage{}, false, fmt.Errorf("import chat image %s: %w", img.ID, err)
	}
	lk := storekeys.LegacyURLKey(img.LegacyURL, img.ID)
	entryAV, err := marshal(legacyURLItem{PK: lk.PK, SK: lk.SK, ImageID: img.ID})
	if err != nil {
		return core.ChatImage{}, false, fmt.Errorf("import chat image %s: %w", img.ID, err)
	}
	put := s.putNew(imgAV)
	put.Put.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld // an image that exists is the answer
	items := []types.TransactWriteItem{
		put,
		{Put: &types.Put{TableName: s.table, Item: entryAV}},
		s.countImage(img),
	}
	err = s.transact(ctx, items)
	if reasons, failed := cancellation(err, len(items)); failed {
		switch {
		case conditionFailed(reasons[0]):
			// The image exists: it is the answer, whatever else failed.
			old := reasons[0].Item
			if len(old) == 0 {
				if old, err = s.get(ctx, storekeys.ChatImageKey(img.ID)); err != nil {
					return core.ChatImage{}, false, translate(err, "import chat image %s", img.ID)
				}
			}
			stored, err := decodeChatImage(old)
			if err != nil {
				return core.ChatImage{}, false, fmt.Errorf("import chat image %s: %w", img.ID, err)
			}
			return stored, false, nil
		default:
			return core.ChatImage{}, false, fmt.Errorf("import chat image %s: %w", img.ID, countRefused(img, reasons[2].Item))
		}
	}
	if err != nil {
		return core.ChatImage{}, false, translate(err, "import chat image %s", img.ID)
	}
	stored, err := decodeChatImage(imgAV)
	if err != nil {
		return core.ChatImage{}, false, fmt.Errorf("import chat image %s: %w", img.ID, err)
	}
	return stored, true, nil
}

// CompleteChatImageImport makes an imported image READY with one
// TransactWriteItems: the Update of the image, conditional on its being
// an IMPORTED legacy image (ALL_OLD), and the audit record's writes. An
// image READY already is the answer whatever the head; then the chain's
// head. See core.LegacyStore.
func (s *Store) CompleteChatImageImport(ctx context.Context, id string, observed core.BlobInfo, contentType string, now time.Time, rec core.AuditRecord) (core.ChatImage, bool, error) {
	if err := storekeys.CheckIDs(id); err != nil {
		return core.ChatImage{}, false, fmt.Errorf("complete chat image %q: %w", id, err)
	}
	audit, err := s.auditWrites(rec)
	if err != nil {
		return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, err)
	}
	update := types.TransactWriteItem{Update: &types.Update{
		TableName:           s.table,
		Key:                 keyItem(storekeys.ChatImageKey(id)),
		UpdateExpression:    aws.String("SET #status = :ready, #size = :size, #sha = :sha, #ct = :ct, #updated = :now"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #status = :imported AND attribute_exists(#legacy)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#status": attrStatus, "#size": attrSize, "#sha": attrSHA256, "#ct": "content_type",
			"#updated": attrUpdatedAt, "#legacy": attrLegacyURL,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ready": avS(string(core.StatusReady)), ":imported": avS(string(core.StatusImported)),
			":size": avN(fmt.Sprint(observed.Size)), ":sha": &types.AttributeValueMemberB{Value: append([]byte{}, observed.SHA256...)},
			":ct": avS(contentType), ":now": avS(storeitem.FormatTime(now)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
	items := append([]types.TransactWriteItem{update}, audit...)
	err = s.transact(ctx, items)
	reasons, failed := cancellation(err, len(items))
	switch {
	case err == nil:
		img, err := s.GetChatImage(ctx, id)
		if err != nil {
			return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: read it back: %w", id, err)
		}
		return img, true, nil
	case !failed:
		return core.ChatImage{}, false, translate(err, "complete chat image %s", id)
	case conditionFailed(reasons[0]):
		old := reasons[0].Item
		if len(old) == 0 {
			return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, core.ErrNotFound("chat image %s not found", id))
		}
		img, err := decodeChatImage(old)
		switch {
		case err != nil:
			return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, err)
		case img.LegacyURL == "":
			return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, core.ErrConflict("chat image %s is not an imported legacy image", id))
		case img.Status == core.StatusReady:
			return img, false, nil
		}
		return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, core.ErrInternal(nil, "legacy chat image %s has status %q", id, img.Status))
	}
	if answer := auditAnswer(rec, reasons, err); answer != nil {
		return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, answer)
	}
	return core.ChatImage{}, false, fmt.Errorf("complete chat image %s: %w", id, core.ErrInternal(err, "a condition failed that no answer explains"))
}

// DiscardChatImageImport reads the image (strongly consistent) for the keys
// of its index entries, then removes it with one TransactWriteItems: the
// Delete of the image conditional on its being IMPORTED (ALL_OLD), the
// Delete of its legacy URL entry, and the Update that takes one from its
// appointment's image_count. See core.LegacyStore.
func (s *Store) DiscardChatImageImport(ctx context.Context, id string) error {
	if err := storekeys.CheckIDs(id); err != nil {
		return fmt.Errorf("discard chat image %q: %w", id, err)
	}
	img, err := s.GetChatImage(ctx, id)
	switch {
	case core.IsKind(err, core.KindNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("discard chat image %s: %w", id, err)
	case img.LegacyURL == "":
		return fmt.Errorf("discard chat image %s: %w", id, core.ErrConflict("chat image %s is not an imported legacy image", id))
	case img.Status != core.StatusImported:
		return fmt.Errorf("discard chat image %s: %w", id, core.ErrConflict("chat image %s is migrated: it is never discarded", id))
	}
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                           s.table,
			Key:                                 keyItem(storekeys.ChatImageKey(id)),
			ConditionExpression:                 aws.String("#status = :imported"),
			ExpressionAttributeNames:            map[string]string{"#status": attrStatus},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":imported": avS(string(core.StatusImported))},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Delete: &types.Delete{TableName: s.table, Key: keyItem(storekeys.LegacyURLKey(img.LegacyURL, id))}},
		{Update: &types.Update{
			TableName:                 s.table,
			Key:                       keyItem(storekeys.AppointmentKey(img.ClinicID, img.AppointmentID)),
			UpdateExpression:          aws.String("ADD #count :minus"),
			ConditionExpression:       aws.String("attribute_exists(#pk) AND #count > :zero"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#count": attrImageCount},
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": avN("-1"), ":zero": avN("0")},
		}},
	}
	err = s.transact(ctx, items)
	if reasons, failed := cancellation(err, len(items)); failed {
		if conditionFailed(reasons[0]) {
			if len(reasons[0].Item) == 0 {
				return nil // discarded meanwhile
			}
			return fmt.Errorf("discard chat image %s: %w", id, core.ErrConflict("chat image %s is migrated: it is never discarded", id))
		}
		// The appointment's count: gone or zero, there is nothing to take
		// from it; the image and its entry go all the same.
		err = s.transact(ctx, items[:2])
		if reasons, failed := cancellation(err, 2); failed && conditionFailed(reasons[0]) {
			if len(reasons[0].Item) == 0 {
				return nil
			}
			return fmt.Errorf("discard chat image %s: %w", id, core.ErrConflict("chat image %s is migrated: it is never discarded", id))
		}
	}
	if err != nil {
		return translate(err, "discard chat image %s", id)
	}
	return nil
}

// FindChatImagesByLegacyURL queries the url's partition of the legacy URL
// index (strongly consistent), then reads each image it names with a
// strongly consistent GetItem. See core.LegacyStore.
func (s *Store) FindChatImagesByLegacyURL(ctx context.Context, url string) ([]core.ChatImage, error) {
	q := s.partitionQuery(storekeys.LegacyURLPK(url), storekeys.LegacyURLSKPrefix, true)
	q.Limit = aws.Int32(core.MaxLegacyURLImages)
	out, err := s.client.Query(ctx, q)
	if err != nil {
		return nil, translate(err, "find chat images by legacy url")
	}
	imgs := []core.ChatImage{}
	for _, it := range out.Items {
		var e legacyURLItem
		if err := unmarshal(it, &e); err != nil {
			return nil, fmt.Errorf("find chat images by legacy url: %w", corrupt(it, err))
		}
		img, err := s.GetChatImage(ctx, e.ImageID)
		if core.IsKind(err, core.KindNotFound) {
			continue // discarded between the query and the read
		}
		if err != nil {
			return nil, fmt.Errorf("find chat images by legacy url: %w", err)
		}
		if img.LegacyURL != url {
			return nil, fmt.Errorf("find chat images by legacy url: %w", core.ErrInternal(nil, "entry %s names an image of another url", e.SK))
		}
		imgs = append(imgs, img)
	}
	slices.SortFunc(imgs, func(a, b core.ChatImage) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return imgs, nil
}

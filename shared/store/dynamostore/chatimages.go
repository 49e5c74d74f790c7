package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// ListChatImages returns one page of the READY chat images of clinic's
// appointment, newest first, with a Query of IndexChatImagesByAppointment
// filtered on status = ready (PENDING images are in the index from their
// creation; the filter drops them, and queryPage goes on until the page is
// full). The cursor holds the index sort key, which names the image, so the
// full ExclusiveStartKey (index and table keys) is rebuilt from it. Index
// reads are eventually consistent: an image finalized a moment ago may
// still be left out. See core.ChatStore.
func (s *Store) ListChatImages(ctx context.Context, clinicID, appointmentID, reader string, page core.Page) ([]core.ChatImage, string, error) {
	if err := storekeys.CheckChatListIDs(clinicID, appointmentID); err != nil {
		return nil, "", fmt.Errorf("list chat images of %q: %w", appointmentID, err)
	}
	list := storekeys.ChatImagesList(clinicID, appointmentID, reader)
	pk := list.PK
	start, err := indexStart(page.Cursor, list, AttrGSI2PK, AttrGSI2SK, func(sk string) (storekeys.Key, error) {
		id, err := storekeys.ParseChatImageIndexSK(sk)
		return storekeys.ChatImageKey(id), err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list chat images of %s: %w", appointmentID, err)
	}
	q := &dynamodb.QueryInput{
		TableName:                s.table,
		IndexName:                aws.String(IndexChatImagesByAppointment),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		FilterExpression:         aws.String("#status = :ready"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrGSI2PK, "#sk": AttrGSI2SK, "#status": attrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(pk), ":prefix": avS(storekeys.ChatImageIndexSKPrefix), ":ready": avS(string(core.StatusReady)),
		},
		ScanIndexForward:  aws.Bool(false),
		ExclusiveStartKey: start,
	}
	return queryDecoded(ctx, s, q, AttrGSI2SK, list, page, "list chat images of "+appointmentID, decodeChatImage)
}

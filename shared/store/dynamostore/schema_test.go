package dynamostore

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
)

// TestTableInput pins the table definition that bootstrap and the CDK app
// build from.
func TestTableInput(t *testing.T) {
	in := TableInput("medshare-prod")
	if got := aws.ToString(in.TableName); got != "medshare-prod" {
		t.Errorf("TableName: got %q", got)
	}
	if in.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("BillingMode: got %q, want PAY_PER_REQUEST", in.BillingMode)
	}
	keys := func(ks []types.KeySchemaElement) string {
		var s string
		for _, k := range ks {
			s += fmt.Sprintf("%s:%s ", aws.ToString(k.AttributeName), k.KeyType)
		}
		return s
	}
	if got, want := keys(in.KeySchema), "pk:HASH sk:RANGE "; got != want {
		t.Errorf("KeySchema: got %q, want %q", got, want)
	}
	attrs := map[string]types.ScalarAttributeType{}
	for _, d := range in.AttributeDefinitions {
		attrs[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	wantAttrs := map[string]types.ScalarAttributeType{
		"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S", "gsi2pk": "S", "gsi2sk": "S",
		"time_bucket": "S", "time_at": "N",
	}
	if diff := cmp.Diff(wantAttrs, attrs); diff != "" {
		t.Errorf("AttributeDefinitions mismatch (-want +got):\n%s", diff)
	}
	indexes := map[string]string{}
	for _, g := range in.GlobalSecondaryIndexes {
		indexes[aws.ToString(g.IndexName)] = keys(g.KeySchema) + string(g.Projection.ProjectionType)
	}
	wantIndexes := map[string]string{
		"gsi1":     "gsi1pk:HASH gsi1sk:RANGE ALL",
		"gsi2":     "gsi2pk:HASH gsi2sk:RANGE ALL",
		"gsi_time": "time_bucket:HASH time_at:RANGE KEYS_ONLY",
	}
	if diff := cmp.Diff(wantIndexes, indexes); diff != "" {
		t.Errorf("GlobalSecondaryIndexes mismatch (-want +got):\n%s", diff)
	}
}

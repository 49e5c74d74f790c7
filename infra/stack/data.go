package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/medshare/medshare/shared/store/dynamostore"
)

// Data is the single table.
type Data struct {
	constructs.Construct
	Table awsdynamodb.Table
}

// NewData creates the table from the shared schema value
// (dynamostore.TableInput: keys, attribute types, global secondary indexes
// and their projections), on demand, with point-in-time recovery,
// encrypted with key, TTL on dynamostore.AttrTTL, deletion protection, and
// kept when the stack is deleted. CloudFormation names it.
func NewData(scope constructs.Construct, id string, key awskms.IKey) *Data {
	c := constructs.NewConstruct(scope, jsii.String(id))
	in := dynamostore.TableInput("schema")
	if in.BillingMode != types.BillingModePayPerRequest {
		panic(fmt.Sprintf("dynamostore.TableInput bills %s; the stack builds an on-demand table", in.BillingMode))
	}
	attr := attributes(in.AttributeDefinitions)
	pk, sk := keyAttrs(in.KeySchema, attr)
	table := awsdynamodb.NewTable(c, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: pk,
		SortKey:      sk,
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:          awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey:       key,
		TimeToLiveAttribute: jsii.String(dynamostore.AttrTTL),
		DeletionProtection:  jsii.Bool(true),
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
	})
	for _, g := range in.GlobalSecondaryIndexes {
		gpk, gsk := keyAttrs(g.KeySchema, attr)
		props := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:    g.IndexName,
			PartitionKey: gpk,
			SortKey:      gsk,
		}
		switch g.Projection.ProjectionType {
		case types.ProjectionTypeAll:
			props.ProjectionType = awsdynamodb.ProjectionType_ALL
		case types.ProjectionTypeKeysOnly:
			props.ProjectionType = awsdynamodb.ProjectionType_KEYS_ONLY
		case types.ProjectionTypeInclude:
			props.ProjectionType = awsdynamodb.ProjectionType_INCLUDE
			props.NonKeyAttributes = jsii.Strings(g.Projection.NonKeyAttributes...)
		default:
			panic(fmt.Sprintf("index %s: unknown projection %q", aws.ToString(g.IndexName), g.Projection.ProjectionType))
		}
		table.AddGlobalSecondaryIndex(props)
	}
	return &Data{Construct: c, Table: table}
}

func attributes(defs []types.AttributeDefinition) map[string]awsdynamodb.AttributeType {
	out := make(map[string]awsdynamodb.AttributeType, len(defs))
	for _, d := range defs {
		var t awsdynamodb.AttributeType
		switch d.AttributeType {
		case types.ScalarAttributeTypeS:
			t = awsdynamodb.AttributeType_STRING
		case types.ScalarAttributeTypeN:
			t = awsdynamodb.AttributeType_NUMBER
		case types.ScalarAttributeTypeB:
			t = awsdynamodb.AttributeType_BINARY
		default:
			panic(fmt.Sprintf("attribute %s: unknown type %q", aws.ToString(d.AttributeName), d.AttributeType))
		}
		out[aws.ToString(d.AttributeName)] = t
	}
	return out
}

// keyAttrs returns the partition key and the sort key (nil when there is
// none) of a key schema.
func keyAttrs(schema []types.KeySchemaElement, attr map[string]awsdynamodb.AttributeType) (pk, sk *awsdynamodb.Attribute) {
	for _, k := range schema {
		name := aws.ToString(k.AttributeName)
		t, ok := attr[name]
		if !ok {
			panic(fmt.Sprintf("key attribute %s has no attribute definition", name))
		}
		a := &awsdynamodb.Attribute{Name: jsii.String(name), Type: t}
		switch k.KeyType {
		case types.KeyTypeHash:
			pk = a
		case types.KeyTypeRange:
			sk = a
		}
	}
	if pk == nil {
		panic("key schema has no partition key")
	}
	return pk, sk
}

package awsruntime

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/medshare/medshare/shared/store/dynamostore"
)

// BootstrapNames name the resources Bootstrap creates.
type BootstrapNames struct {
	Table, Bucket, KeyAlias, Topic string
}

// Bootstrap creates the table, the bucket, the key (with its alias) and the
// topic when they are absent, on whatever endpoint the clients point at, and
// returns the Settings that name them. It is idempotent. Production stacks are
// made by the CDK app instead; this serves emulators and LocalStack.
func Bootstrap(ctx context.Context, c Clients, region string, n BootstrapNames) (Settings, error) {
	s := Settings{Table: n.Table, Bucket: n.Bucket}
	if err := dynamostore.EnsureTable(ctx, c.DynamoDB, n.Table); err != nil {
		return s, fmt.Errorf("bootstrap table %s: %w", n.Table, err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(n.Bucket)}
	if region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := c.S3.CreateBucket(ctx, in); err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return s, fmt.Errorf("bootstrap bucket %s: %w", n.Bucket, err)
		}
	}
	alias := "alias/" + n.KeyAlias
	d, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	var nf *kmstypes.NotFoundException
	switch {
	case errors.As(err, &nf):
		k, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{
			Description: aws.String("MedShare data-key wrapping key"),
			KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
			KeySpec:     kmstypes.KeySpecSymmetricDefault,
		})
		if err != nil {
			return s, fmt.Errorf("bootstrap key: %w", err)
		}
		if _, err := c.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: k.KeyMetadata.KeyId}); err != nil {
			return s, fmt.Errorf("bootstrap key alias %s: %w", alias, err)
		}
		s.KeyID = aws.ToString(k.KeyMetadata.Arn)
	case err != nil:
		return s, fmt.Errorf("bootstrap key %s: %w", alias, err)
	default:
		s.KeyID = aws.ToString(d.KeyMetadata.Arn)
	}
	t, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(n.Topic)})
	if err != nil {
		return s, fmt.Errorf("bootstrap topic %s: %w", n.Topic, err)
	}
	s.TopicARN = aws.ToString(t.TopicArn)
	return s, nil
}

package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// EncryptionContextKeys are the keys of the encryption context under which
// the key ring wraps every data key (core.Photo.EncryptionContext). The
// data key's policy refuses direct use of the key under any other context.
var EncryptionContextKeys = []string{"photo", "owner"}

// cryptoActions are the KMS actions that use a key's material.
var cryptoActions = []string{
	"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
	"kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
	"kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext",
}

// Keys are the customer-managed KMS keys, both rotated yearly and kept when
// the stack is deleted.
//
// Data wraps the photos' data keys (the key ring) and encrypts the table,
// the bucket, the notification topic and the table's backups. Its policy
// keeps the default delegation to the account's IAM policies (each
// function's role names the key and the calls it makes, see Functions) and
// adds two guards:
//
//   - a principal of the account that uses the key directly, that is under
//     an encryption context that is not an AWS service's (aws:s3:arn,
//     aws:dynamodb:tableName, aws:sns:topicArn, ...), must give exactly the
//     context keys photo and owner. A wrapped key can then only be
//     unwrapped by naming the photo and its owner, whoever holds the
//     ciphertext.
//   - under the key ring's context, only the function that wraps photo keys
//     may Encrypt and only the function that unwraps them may Decrypt; no
//     one may use any other cryptographic operation (RestrictPhotoContext).
//     The delegation to IAM alone would let any principal whose policy
//     allows kms:Decrypt on "*" (an administrator, another application's
//     role) unwrap photo keys.
//
// Logs encrypts operational data that holds no PHI: the log groups and the
// alarm topic. It is a separate key so that the data key's policy names no
// service principal.
type Keys struct {
	constructs.Construct
	Data awskms.Key
	Logs awskms.Key
}

// NewKeys creates the keys.
func NewKeys(scope constructs.Construct, id string, stackName string) *Keys {
	c := constructs.NewConstruct(scope, jsii.String(id))
	st := awscdk.Stack_Of(c)
	k := &Keys{Construct: c}
	k.Data = newKey(c, "Data", awskms.KeyProps{
		Description: jsii.String("MedShare data key: wraps photo data keys (context photo, owner); encrypts the table, the bucket and the notification topic"),
		Alias:       jsii.String("alias/" + stackName + "/data"),
	})
	account := map[string]any{"aws:PrincipalAccount": st.Account()}
	noServiceContext := map[string]any{"kms:EncryptionContextKeys": "aws:*"}
	for _, ctxKey := range EncryptionContextKeys {
		k.Data.AddToResourcePolicy(denyEveryone("DirectUseRequiresContextKey-"+ctxKey, jsii.Strings(cryptoActions...), jsii.Strings("*"), map[string]any{
			"StringEquals":                 account,
			"ForAllValues:StringNotLike":   noServiceContext,
			"ForAllValues:StringNotEquals": map[string]any{"kms:EncryptionContextKeys": ctxKey},
		}), jsii.Bool(false))
	}
	allowedKeys := append(append([]string{}, EncryptionContextKeys...), "aws:*")
	k.Data.AddToResourcePolicy(denyEveryone("DirectUseAllowsNoOtherContextKey", jsii.Strings(cryptoActions...), jsii.Strings("*"), map[string]any{
		"StringEquals":              account,
		"ForAnyValue:StringNotLike": map[string]any{"kms:EncryptionContextKeys": allowedKeys},
	}), jsii.Bool(false))

	k.Logs = newKey(c, "Logs", awskms.KeyProps{
		Description: jsii.String("MedShare operations key: encrypts log groups and the alarm topic (no PHI)"),
		Alias:       jsii.String("alias/" + stackName + "/logs"),
	})
	k.Logs.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsEncryptsThisAccountsLogGroups"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*st.Region()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:DescribeKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"ArnLike": map[string]any{
				"kms:EncryptionContext:aws:logs:arn": "arn:" + *st.Partition() + ":logs:" + *st.Region() + ":" + *st.Account() + ":log-group:*",
			},
		},
	}), jsii.Bool(false))
	k.Logs.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublishToThisAccountsTopics"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"ArnLike": map[string]any{
				"kms:EncryptionContext:aws:sns:topicArn": "arn:" + *st.Partition() + ":sns:" + *st.Region() + ":" + *st.Account() + ":*",
			},
		},
	}), jsii.Bool(false))
	return k
}

// newKey creates a customer managed key with what every key of the stack
// has: yearly rotation, 30 days' wait before a deletion, kept when the
// stack is deleted. props give its description and alias.
func newKey(scope constructs.Construct, id string, props awskms.KeyProps) awskms.Key {
	props.EnableKeyRotation = jsii.Bool(true)
	props.PendingWindow = awscdk.Duration_Days(jsii.Number(30))
	props.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	return awskms.NewKey(scope, jsii.String(id), &props)
}

// Statement ids of the data key's photo-context guard.
const (
	SidPhotoDecrypt = "PhotoContextDecryptOnlyByUnwrappers"
	SidPhotoEncrypt = "PhotoContextEncryptOnlyByWrappers"
	SidPhotoOther   = "PhotoContextNoOtherCryptoUse"
)

// RestrictPhotoContext adds to the data key's policy the denials that keep
// the key ring's context to its two code paths: under a context that names
// any of EncryptionContextKeys, kms:Decrypt is denied to every principal but
// the unwrappers' roles, kms:Encrypt to every principal but the wrappers'
// roles, and every other operation that uses the key's material
// (ReEncrypt*, GenerateDataKey*) to every principal. The account root keeps
// kms:* otherwise, so the policy can still be changed (no lockout), and
// services, whose contexts are their own aws:* keys, are not affected.
//
// The policy names the roles by ARN (aws:PrincipalArn, which for a Lambda
// function's assumed-role session is its role's ARN): the key depends on
// the roles, and the roles must not depend on the key (the functions'
// policies, which name the key, are separate resources).
func (k *Keys) RestrictPhotoContext(wrappers, unwrappers []awsiam.IRole) {
	if len(wrappers) == 0 || len(unwrappers) == 0 {
		panic("RestrictPhotoContext: no role wraps or no role unwraps photo keys")
	}
	arns := func(roles []awsiam.IRole) []string {
		var out []string
		for _, r := range roles {
			out = append(out, *r.RoleArn())
		}
		return out
	}
	underPhotoContext := map[string]any{"kms:EncryptionContextKeys": EncryptionContextKeys}
	deny := func(sid string, actions []string, except []awsiam.IRole) {
		cond := map[string]any{"ForAnyValue:StringEquals": underPhotoContext}
		if except != nil {
			cond["ArnNotEquals"] = map[string]any{"aws:PrincipalArn": arns(except)}
		}
		k.Data.AddToResourcePolicy(denyEveryone(sid, jsii.Strings(actions...), jsii.Strings("*"), cond), jsii.Bool(false))
	}
	deny(SidPhotoDecrypt, []string{"kms:Decrypt"}, unwrappers)
	deny(SidPhotoEncrypt, []string{"kms:Encrypt"}, wrappers)
	var other []string
	for _, a := range cryptoActions {
		if a != "kms:Decrypt" && a != "kms:Encrypt" {
			other = append(other, a)
		}
	}
	deny(SidPhotoOther, other, nil)
}

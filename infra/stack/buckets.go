package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// newBucket creates a bucket with what every bucket of the stack has: every
// public access blocked, reachable over TLS only, versioned, kept when the
// stack is deleted, and ACLs disabled unless props ask for another object
// ownership (CloudFront's standard logs are delivered through an ACL).
// props give the rest: encryption, access logs, lifecycle, CORS.
func newBucket(scope constructs.Construct, id string, props awss3.BucketProps) awss3.Bucket {
	props.BlockPublicAccess = awss3.BlockPublicAccess_BLOCK_ALL()
	props.EnforceSSL = jsii.Bool(true)
	props.Versioned = jsii.Bool(true)
	props.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	if props.ObjectOwnership == "" {
		props.ObjectOwnership = awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED
	}
	return awss3.NewBucket(scope, jsii.String(id), &props)
}

// expireLogs is the lifecycle of a bucket of logs, rule id: a log is kept a
// year, an overwritten or deleted version 30 days.
func expireLogs(id string) *[]*awss3.LifecycleRule {
	return &[]*awss3.LifecycleRule{{
		Id:                          jsii.String(id),
		Expiration:                  awscdk.Duration_Days(jsii.Number(365)),
		NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
	}}
}

// expireOldVersions is the lifecycle of a bucket whose objects stay, rule
// id: an overwritten or deleted version is kept 30 days.
func expireOldVersions(id string) *[]*awss3.LifecycleRule {
	return &[]*awss3.LifecycleRule{{
		Id:                          jsii.String(id),
		NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
	}}
}

// denyEveryone is a resource policy statement that refuses actions on
// resources to every principal when conditions hold.
func denyEveryone(sid string, actions, resources *[]*string, conditions map[string]any) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(sid),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    actions,
		Resources:  resources,
		Conditions: &conditions,
	})
}

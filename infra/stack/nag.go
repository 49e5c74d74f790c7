package stack

import (
	"regexp"
	"slices"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// Suppression is one cdk-nag finding the stack accepts: the rule, the
// resources it is accepted on, and why.
type Suppression struct {
	Rule   string
	On     string // which resources, in words
	Reason string
}

// Why each accepted finding is accepted. Every suppression in suppress
// takes its reason from here, and the docs list them (docs/DEPLOY.md).
var (
	whyNoVPC = "The functions reach only AWS service endpoints (DynamoDB, S3, KMS, SNS) over TLS, with SigV4 and " +
		"least-privilege roles; they have no private resources to reach and accept no inbound traffic, so a VPC " +
		"(with NAT or five interface endpoints) would add cost and cold-start latency without narrowing access."
	whyNoReservedConcurrency = "Load is bounded at the door by the API stage's throttling (context throttleRate, " +
		"throttleBurst); reserving concurrency for each of the 27 functions would take it from the account's unreserved pool " +
		"(new accounts have 10 in all, and deploys fail below 100 unreserved) and cap functions independently of that limit."
	whyNoAPIDLQ = "API functions are invoked synchronously by API Gateway: a failure is answered to the caller " +
		"(5xx, alarmed on) and there is no event to keep; Lambda uses a dead-letter queue only for asynchronous invocations. " +
		"The scheduled jobs, which are invoked asynchronously, have one."
	whyObjectPrefix = "Object keys are <prefix>/<ids> generated per upload (core.PhotoObjectKey, ChatImage.ObjectKey): the " +
		"policy names the one prefix of the kind of object the function handles, which is the narrowest fixed part of the ARN."
	whyNoReplication = "Single-region deployment: objects are versioned and the table has point-in-time recovery; " +
		"cross-region replication needs a second region and key chosen by the operator, and is left to them."
	whyLogBucketSSES3 = "S3 server access logs can only be delivered to a bucket encrypted with S3-managed keys (SSE-S3); " +
		"the logs hold request metadata (keys are ids), no object data."
	whyBackupServicePolicy = "AWS Backup takes the table's backups with AWS's own service policy " +
		"(AWSBackupServiceRolePolicyForBackup), which AWS keeps in step with the calls AWS Backup makes (DynamoDB " +
		"CreateBackup and StartAwsBackupJob, KMS through DynamoDB, the vault); the role is assumable only by " +
		"backup.amazonaws.com, has no restore permission, and the plan selects only the table."
	whyPortalBundleSSES3 = "The portal bucket holds the portal's static code, which CloudFront hands to every visitor: no PHI " +
		"and nothing a customer-managed key would keep from anyone; SSE-S3 lets CloudFront's origin access control read it " +
		"without a key policy that names the distribution."
	whyCDNLogsSSES3 = "CloudFront's standard logs of the portal record requests for its static files (address, path, user agent); " +
		"the API's calls and the photos never pass through this distribution, so the logs hold no PHI, as the S3 access logs."
	whyPortalDefaultCertificate = "The portal is served under its *.cloudfront.net name with CloudFront's default certificate, whose " +
		"minimum viewer TLS version CloudFront fixes (a minimum protocol applies only with a custom certificate, so the stack " +
		"sets none); a custom domain with an ACM certificate and TLSv1.2_2021 is left to the operator (docs/DEPLOY.md), and " +
		"the browsers that run the portal's WebCrypto code negotiate TLS 1.2 or 1.3."
	whyPortalNoGeoRestriction = "The portal's static code is served to patients and professionals wherever they are; there is no " +
		"list of countries to refuse, and the code holds no data: every call it makes goes to the API with a token."
	whyPortalNoWAF = "The distribution serves only the portal's static, public files (GET and HEAD, no API call passes through " +
		"it, the API keeps its own stage throttling); a web ACL for CloudFront lives in us-east-1, outside this regional " +
		"stack, and would add a per-request cost without protecting any data."
	whyDeployRuntime = "The portal's deployment handler is aws-cdk-lib's BucketDeployment function, whose runtime aws-cdk-lib " +
		"chooses and moves with its releases; it runs only while CloudFormation deploys the stack, on the stack's own assets."
	whyDeployNoVPC = "The portal's deployment handler runs only while CloudFormation deploys the stack and talks only to S3 " +
		"(the CDK assets bucket and the portal bucket); it has no private resource to reach and accepts no traffic."
	whyDeployConcurrency = "The portal's deployment handler is invoked by CloudFormation alone, once per deployment of the portal: " +
		"there is no traffic to bound, and a reservation would take from the account's unreserved pool."
	whyDeployDLQ = "CloudFormation invokes the portal's deployment handler synchronously as a custom resource: a failure fails " +
		"and rolls back the deployment, which reports it; there is no event to keep."
	whyDeployObjects = "Object ARNs: the portal's deployment reads its source zips from the CDK assets bucket (keys are content " +
		"hashes fixed at synth, also for index.html and config.json, which carry deploy-time values) and writes and prunes the " +
		"bundle's files in the portal bucket; each statement names one bucket and only the calls aws s3 sync makes."
	whyPublicHealth = "GET /health is public by design (httpapi.Routes(): no roles): it answers only whether the " +
		"dependencies respond, reads no caller data, and load balancers and uptime checks carry no token."
)

// Suppressions lists what suppress accepts.
func Suppressions() []Suppression {
	return []Suppression{
		{"HIPAA.Security-LambdaInsideVPC", "every function", whyNoVPC},
		{"HIPAA.Security-LambdaConcurrency", "every function", whyNoReservedConcurrency},
		{"HIPAA.Security-LambdaDLQ", "the API functions", whyNoAPIDLQ},
		{"HIPAA.Security-LambdaDLQ", "the migration function", whyNoWorkerDLQ},
		{"AwsSolutions-IAM5", "the object-prefix ARNs (" + lambdafn.PhotoPrefix + "*, " + lambdafn.ChatPrefix + "*) in function policies", whyObjectPrefix},
		{"HIPAA.Security-S3BucketReplicationEnabled", "both buckets", whyNoReplication},
		{"HIPAA.Security-S3DefaultEncryptionKMS", "the access-log bucket", whyLogBucketSSES3},
		{"AwsSolutions-IAM4", "the AWS Backup role (AWSBackupServiceRolePolicyForBackup)", whyBackupServicePolicy},
		{"AwsSolutions-APIG4", "the public routes", whyPublicHealth},
		{"HIPAA.Security-S3BucketReplicationEnabled", "the portal's buckets (bundle, CDN logs)", whyNoReplication},
		{"HIPAA.Security-S3DefaultEncryptionKMS", "the portal's bucket", whyPortalBundleSSES3},
		{"HIPAA.Security-S3DefaultEncryptionKMS", "the portal's CDN log bucket", whyCDNLogsSSES3},
		{"AwsSolutions-CFR4", "the portal's distribution", whyPortalDefaultCertificate},
		{"AwsSolutions-CFR1", "the portal's distribution", whyPortalNoGeoRestriction},
		{"AwsSolutions-CFR2", "the portal's distribution", whyPortalNoWAF},
		{"AwsSolutions-L1", "the portal's deployment handler (aws-cdk-lib's BucketDeployment)", whyDeployRuntime},
		{"HIPAA.Security-LambdaInsideVPC", "the portal's deployment handler", whyDeployNoVPC},
		{"HIPAA.Security-LambdaConcurrency", "the portal's deployment handler", whyDeployConcurrency},
		{"HIPAA.Security-LambdaDLQ", "the portal's deployment handler", whyDeployDLQ},
		{"AwsSolutions-IAM5", "the object ARNs of the portal's deployment policy", whyDeployObjects},
	}
}

// accepted is what cdk-nag accepts on one construct: where names it in
// words (Suppression.On); children: on its children too. One value both
// lists the findings (for Suppressions and the docs) and records them on
// the construct, so the two cannot differ.
type accepted struct {
	where    string
	children bool
	rules    []acceptedRule
}

// acceptedRule is one accepted finding: the rule and why.
type acceptedRule struct{ rule, reason string }

// on records the accepted findings on c.
func (a accepted) on(c constructs.IConstruct) {
	var list []*cdknag.NagPackSuppression
	for _, r := range a.rules {
		list = append(list, suppression(r.rule, r.reason))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &list, jsii.Bool(a.children))
}

// listAccepted lists what each of as accepts, in order.
func listAccepted(as ...accepted) []Suppression {
	var out []Suppression
	for _, a := range as {
		for _, r := range a.rules {
			out = append(out, Suppression{r.rule, a.where, r.reason})
		}
	}
	return out
}

func suppression(id, reason string, appliesTo ...any) *cdknag.NagPackSuppression {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	return s
}

// suppress records the accepted findings on the resources they concern,
// never on the whole stack: a new resource is checked in full.
func suppress(s *Stack) {
	objectARN := "/^Resource::<" + regexp.QuoteMeta("Storage") + "Objects[0-9A-F]{8}\\.Arn>\\/(" +
		regexp.QuoteMeta(strings.TrimSuffix(lambdafn.PhotoPrefix, "/")) + "|" + regexp.QuoteMeta(strings.TrimSuffix(lambdafn.ChatPrefix, "/")) + ")\\/\\*$/"
	for _, name := range FunctionNames() {
		f := s.Functions.ByName[name]
		list := []*cdknag.NagPackSuppression{
			suppression("HIPAA.Security-LambdaInsideVPC", whyNoVPC),
			suppression("HIPAA.Security-LambdaConcurrency", whyNoReservedConcurrency),
		}
		_, isJob := jobs.ByName(name)
		switch {
		case slices.Contains(lambdafn.Workers, name):
			list = append(list, suppression("HIPAA.Security-LambdaDLQ", whyNoWorkerDLQ))
		case !isJob:
			list = append(list, suppression("HIPAA.Security-LambdaDLQ", whyNoAPIDLQ))
		}
		cdknag.NagSuppressions_AddResourceSuppressions(f.Fn, &list, jsii.Bool(false))
		a := lambdafn.Permissions()[name]
		if len(a.Read)+len(a.Write)+len(a.Delete) > 0 {
			cdknag.NagSuppressions_AddResourceSuppressions(f.Policy, &[]*cdknag.NagPackSuppression{
				suppression("AwsSolutions-IAM5", whyObjectPrefix, cdknag.RegexAppliesTo{Regex: jsii.String(objectARN)}),
			}, jsii.Bool(false))
		}
	}
	cdknag.NagSuppressions_AddResourceSuppressions(s.Storage.Bucket, &[]*cdknag.NagPackSuppression{
		suppression("HIPAA.Security-S3BucketReplicationEnabled", whyNoReplication),
	}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(s.Storage.Logs, &[]*cdknag.NagPackSuppression{
		suppression("HIPAA.Security-S3BucketReplicationEnabled", whyNoReplication),
		suppression("HIPAA.Security-S3DefaultEncryptionKMS", whyLogBucketSSES3),
	}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(s.Backup.Selection.GrantPrincipal(), &[]*cdknag.NagPackSuppression{
		suppression("AwsSolutions-IAM4", whyBackupServicePolicy,
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"),
	}, jsii.Bool(false))
	suppressPortal(s)
	for _, r := range httpapi.Routes() {
		if r.Public() {
			cdknag.NagSuppressions_AddResourceSuppressions(s.API.Routes[r.Op], &[]*cdknag.NagPackSuppression{
				suppression("AwsSolutions-APIG4", whyPublicHealth),
			}, jsii.Bool(false))
		}
	}
}

// suppressPortal records the accepted findings of the portal's hosting.
func suppressPortal(s *Stack) {
	pt := s.Portal
	cdknag.NagSuppressions_AddResourceSuppressions(pt.Bucket, &[]*cdknag.NagPackSuppression{
		suppression("HIPAA.Security-S3BucketReplicationEnabled", whyNoReplication),
		suppression("HIPAA.Security-S3DefaultEncryptionKMS", whyPortalBundleSSES3),
	}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(pt.Logs, &[]*cdknag.NagPackSuppression{
		suppression("HIPAA.Security-S3BucketReplicationEnabled", whyNoReplication),
		suppression("HIPAA.Security-S3DefaultEncryptionKMS", whyCDNLogsSSES3),
	}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(pt.Distribution, &[]*cdknag.NagPackSuppression{
		suppression("AwsSolutions-CFR4", whyPortalDefaultCertificate),
		suppression("AwsSolutions-CFR1", whyPortalNoGeoRestriction),
		suppression("AwsSolutions-CFR2", whyPortalNoWAF),
	}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(pt.DeployPolicy, &[]*cdknag.NagPackSuppression{
		suppression("AwsSolutions-IAM5", whyDeployObjects,
			cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::(arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-<AWS::AccountId>-<AWS::Region>|<PortalBundle[0-9A-F]{8}\.Arn>)\/\*$/`)}),
	}, jsii.Bool(false))
	// aws-cdk-lib makes the deployment's handler once per stack, at the
	// stack's root, under an id of its own.
	for _, child := range *s.Stack.Node().Children() {
		if strings.HasPrefix(*child.Node().Id(), "Custom::CDKBucketDeployment") {
			cdknag.NagSuppressions_AddResourceSuppressions(child, &[]*cdknag.NagPackSuppression{
				suppression("AwsSolutions-L1", whyDeployRuntime),
				suppression("HIPAA.Security-LambdaInsideVPC", whyDeployNoVPC),
				suppression("HIPAA.Security-LambdaConcurrency", whyDeployConcurrency),
				suppression("HIPAA.Security-LambdaDLQ", whyDeployDLQ),
			}, jsii.Bool(true))
		}
	}
}

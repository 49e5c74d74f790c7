package stack

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
	"github.com/medshare/medshare/shared/runtime/config"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// FunctionsProps are what the functions use.
type FunctionsProps struct {
	AssetDir string // holds <name>/bootstrap for every name in FunctionNames()
	Table    awsdynamodb.ITable
	Bucket   awss3.IBucket
	DataKey  awskms.IKey
	LogsKey  awskms.IKey
	Topic    awssns.ITopic
	// DeadLetters receives the events of scheduled jobs whose runs failed
	// after Lambda's retries.
	DeadLetters  awssqs.IQueue
	LogRetention awslogs.RetentionDays
}

// Function is one Lambda function with its own role and log group.
type Function struct {
	Name     string
	Fn       awslambda.Function
	Role     awsiam.Role
	Policy   awsiam.ManagedPolicy
	LogGroup awslogs.LogGroup
}

// Functions is one function per operation of the route table and per
// scheduled job: provided.al2023 on arm64, the `bootstrap` that `make
// build` writes, the environment awsruntime reads, and a role that allows
// exactly the calls of lambdafn.Permissions() on the resources they touch.
type Functions struct {
	constructs.Construct
	ByName map[string]*Function
}

// EnvEndpointURL is the SDK's variable of one endpoint for every AWS
// service, which emulators use.
const EnvEndpointURL = "AWS_ENDPOINT_URL"

// Sizes: an API function answers within API Gateway's 30 s; a job works
// through pages of due items.
const (
	apiMemoryMB  = 512
	apiTimeout   = 10 // seconds
	jobMemoryMB  = 512
	jobTimeout   = 300 // seconds
	jobRetries   = 2   // Lambda's retries of a failed asynchronous run
	jobMaxAgeHrs = 2
	// The migration function copies one legacy image (at most
	// core.MaxBlobSize) per invocation, streamed when the legacy bucket is
	// not this account's S3.
	workerMemoryMB = 1024
	workerTimeout  = 120 // seconds
)

// NewFunctions creates the functions.
func NewFunctions(scope constructs.Construct, id string, p FunctionsProps) *Functions {
	c := constructs.NewConstruct(scope, jsii.String(id))
	fs := &Functions{Construct: c, ByName: map[string]*Function{}}
	perms := lambdafn.Permissions()
	env := &map[string]*string{
		awsruntime.EnvTable:    p.Table.TableName(),
		awsruntime.EnvBucket:   p.Bucket.BucketName(),
		awsruntime.EnvKeyID:    p.DataKey.KeyArn(),
		awsruntime.EnvTopicARN: p.Topic.TopicArn(),
		// Pinned here rather than left to the defaults: the bucket refuses
		// signatures older than MaxSignatureAge, so no URL may live longer.
		config.EnvChatURLTTL: jsii.String(core.DefaultChatURLTTL.String()),
		config.EnvUploadTTL:  jsii.String(core.DefaultUploadTTL.String()),
		// Declared with the values that change nothing (the SDK ignores an
		// empty AWS_ENDPOINT_URL; path-style is off by default) so that
		// `sam local --env-vars` can point the functions at an emulator:
		// SAM sets only the variables the template declares (docs/DEPLOY.md).
		EnvEndpointURL:          jsii.String(""),
		awsruntime.EnvPathStyle: jsii.String("false"),
	}
	for _, name := range FunctionNames() {
		access, ok := perms[name]
		if !ok {
			panic(fmt.Sprintf("function %s has no entry in lambdafn.Permissions()", name))
		}
		_, isJob := jobs.ByName(name)
		id := pascal(name)
		f := &Function{Name: name}
		f.LogGroup = awslogs.NewLogGroup(c, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
			Retention:     p.LogRetention,
			EncryptionKey: p.LogsKey,
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		f.Role = awsiam.NewRole(c, jsii.String(id+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("MedShare function " + name + ": only the calls its code makes"),
		})
		// A customer-managed policy per function, rather than an inline one:
		// it is versioned and can be reviewed on its own (HIPAA
		// IAMNoInlinePolicy).
		f.Policy = awsiam.NewManagedPolicy(c, jsii.String(id+"Policy"), &awsiam.ManagedPolicyProps{
			Description: jsii.String("MedShare function " + name + ": the calls its code makes, on the resources it touches"),
			Roles:       &[]awsiam.IRole{f.Role},
			Statements:  statements(access, f.LogGroup, p),
		})
		props := &awslambda.FunctionProps{
			Description:  jsii.String(description(name)),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(p.AssetDir, name)), nil),
			Role:         f.Role,
			LogGroup:     f.LogGroup,
			Environment:  env,
			MemorySize:   jsii.Number(apiMemoryMB),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(apiTimeout)),
		}
		if slices.Contains(lambdafn.Workers, name) {
			props.MemorySize = jsii.Number(workerMemoryMB)
			props.Timeout = awscdk.Duration_Seconds(jsii.Number(workerTimeout))
		}
		if isJob {
			props.MemorySize = jsii.Number(jobMemoryMB)
			props.Timeout = awscdk.Duration_Seconds(jsii.Number(jobTimeout))
			props.RetryAttempts = jsii.Number(jobRetries)
			props.MaxEventAge = awscdk.Duration_Hours(jsii.Number(jobMaxAgeHrs))
		}
		f.Fn = awslambda.NewFunction(c, jsii.String(id), props)
		if access.DeadLetters {
			// Set on the resource rather than with the DeadLetterQueue prop,
			// which would add its permission to an inline policy; the
			// permission is in the managed policy above.
			f.Fn.Node().DefaultChild().(awslambda.CfnFunction).SetDeadLetterConfig(&awslambda.CfnFunction_DeadLetterConfigProperty{
				TargetArn: p.DeadLetters.QueueArn(),
			})
		}
		// The role's permissions exist before the function does.
		f.Fn.Node().AddDependency(f.Policy)
		fs.ByName[name] = f
	}
	return fs
}

// statements returns the policy of one function: each call of access on
// the one resource it touches, KMS use through a service bound to that
// resource by the service's encryption context, and the function's own log
// group.
func statements(a lambdafn.Access, logs awslogs.LogGroup, p FunctionsProps) *[]awsiam.PolicyStatement {
	var out []awsiam.PolicyStatement
	allow := func(actions []string, resources []string, cond map[string]any) {
		props := &awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...)}
		if cond != nil {
			props.Conditions = &cond
		}
		out = append(out, awsiam.NewPolicyStatement(props))
	}
	st := awscdk.Stack_Of(p.Table)
	region := *st.Region()
	keyArn := *p.DataKey.KeyArn()
	bucketArn := *p.Bucket.BucketArn()
	objects := func(prefixes []string) []string {
		var arns []string
		for _, pre := range prefixes {
			arns = append(arns, *p.Bucket.ArnForObjects(jsii.String(pre + "*")))
		}
		return arns
	}
	viaS3 := map[string]any{"StringEquals": map[string]any{
		"kms:ViaService":                   "s3." + region + ".amazonaws.com",
		"kms:EncryptionContext:aws:s3:arn": bucketArn,
	}}
	underPhotoContext := map[string]any{
		"ForAllValues:StringEquals": map[string]any{"kms:EncryptionContextKeys": EncryptionContextKeys},
		"Null":                      map[string]any{"kms:EncryptionContextKeys": "false"},
	}

	if len(a.Table) > 0 {
		allow(sorted(a.Table), []string{*p.Table.TableArn()}, nil)
	}
	if len(a.Indexes) > 0 {
		var arns []string
		for _, ix := range sorted(a.Indexes) {
			arns = append(arns, *p.Table.TableArn()+"/index/"+ix)
		}
		allow([]string{lambdafn.DynamoQuery}, arns, nil)
	}
	if len(a.Table) > 0 || len(a.Indexes) > 0 {
		// DynamoDB decrypts the table key with the caller's permission.
		allow([]string{"kms:Decrypt"}, []string{keyArn}, map[string]any{"StringEquals": map[string]any{
			"kms:ViaService": "dynamodb." + region + ".amazonaws.com",
			"kms:EncryptionContext:aws:dynamodb:tableName": *p.Table.TableName(),
		}})
	}
	if len(a.Read) > 0 {
		allow([]string{"s3:GetObject"}, objects(a.Read), nil)
		// Reading an SSE-KMS object, or its stored checksum, decrypts.
		allow([]string{"kms:Decrypt"}, []string{keyArn}, viaS3)
	}
	if len(a.Write) > 0 {
		// The presigned PUT is executed with this role's credentials.
		allow([]string{"s3:PutObject"}, objects(a.Write), nil)
		allow([]string{"kms:GenerateDataKey"}, []string{keyArn}, viaS3)
	}
	if len(a.Delete) > 0 {
		// s3blob.Delete writes an empty tombstone over the key (PutObject),
		// so that the key's upload URLs are refused; encrypting it asks KMS
		// for a data key, as any write does.
		allow([]string{"s3:PutObject"}, objects(a.Delete), nil)
		if len(a.Write) == 0 {
			allow([]string{"kms:GenerateDataKey"}, []string{keyArn}, viaS3)
		}
	}
	if a.ListBucket {
		// On the bucket, with no s3:prefix condition (see lambdafn.Access.ListBucket).
		allow([]string{"s3:ListBucket"}, []string{bucketArn}, nil)
	}
	if a.Wrap {
		allow([]string{"kms:Encrypt"}, []string{keyArn}, underPhotoContext)
	}
	if a.Unwrap {
		allow([]string{"kms:Decrypt"}, []string{keyArn}, underPhotoContext)
	}
	if a.Describe {
		allow([]string{"kms:DescribeKey"}, []string{keyArn}, nil)
	}
	if a.Publish {
		allow([]string{"sns:Publish"}, []string{*p.Topic.TopicArn()}, nil)
		// Only through SNS, for this topic.
		allow([]string{"kms:Decrypt", "kms:GenerateDataKey"}, []string{keyArn}, map[string]any{"StringEquals": map[string]any{
			"kms:ViaService":                         "sns." + region + ".amazonaws.com",
			"kms:EncryptionContext:aws:sns:topicArn": *p.Topic.TopicArn(),
		}})
	}
	// a.Legacy, read on the legacy chat's bucket, is granted by
	// LegacyMigration on the bucket it imports, when the stack has one.
	if a.DeadLetters {
		allow([]string{"sqs:SendMessage"}, []string{*p.DeadLetters.QueueArn()}, nil)
	}
	allow([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{*logs.LogGroupArn()}, nil)
	return &out
}

// Roles returns the roles of the functions whose access satisfies pred, in
// the order of FunctionNames().
func (fs *Functions) Roles(pred func(lambdafn.Access) bool) []awsiam.IRole {
	perms := lambdafn.Permissions()
	var out []awsiam.IRole
	for _, name := range FunctionNames() {
		if pred(perms[name]) {
			out = append(out, fs.ByName[name].Role)
		}
	}
	return out
}

func sorted(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

// pascal turns a function name (kebab-case) into a construct id.
func pascal(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func description(name string) string {
	for _, j := range jobs.Jobs {
		if j.Name == name {
			return "MedShare job " + name + " (" + j.Schedule + ")"
		}
	}
	if r, ok := httpapi.RouteByOp(name); ok {
		return "MedShare " + r.RouteKey()
	}
	return "MedShare " + name
}

package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/medshare/medshare/shared/legacy"
	"github.com/medshare/medshare/shared/legacy/migrate"
)

// MigrationFunction is the function the migration's state machine invokes
// per line of a manifest (lambdafn.Workers).
const MigrationFunction = migrate.FunctionName

// The migration's sizes. MigrationConcurrency bounds the invocations of the
// migration function that one run has in flight: each does a few DynamoDB
// writes and one S3 copy, well under the table's and the bucket's rates.
const (
	MigrationConcurrency = 40
	// migrationRetries are the retries of a line that failed for a reason
	// that may pass (migrate.UnavailableError, Lambda's throttling), two
	// seconds apart, doubled each time.
	migrationRetries = 4
	// ManifestPrefix and ResultPrefix are where, in the manifests bucket,
	// the operator puts a run's export and the state machine writes what
	// became of each line.
	ManifestPrefix = "manifests/"
	ResultPrefix   = "results/"
)

// LegacyMigrationProps are what the migration uses.
type LegacyMigrationProps struct {
	// BucketName, URLPrefix and KeyPrefix: Config.LegacyBucket and the
	// mapping of its URLs to keys.
	BucketName, URLPrefix, KeyPrefix string
	Function                         *Function // the migration function (MigrationFunction)
	DataKey                          awskms.IKey
	LogsKey                          awskms.IKey
	AccessLogs                       awss3.IBucket
	LogRetention                     awslogs.RetentionDays
}

// LegacyMigration moves the legacy chat's images into private storage on
// AWS's own engine (ARCHITECTURE §9): a Step Functions state machine whose
// distributed map reads a manifest (the chat system's export, CSV or JSON
// Lines) from the manifests bucket and invokes the migration function once
// per line, many at a time, and writes each line's result back. It imports
// the legacy bucket by name and grants the migration function read on it
// (s3:GetObject on its objects, s3:ListBucket on it) and nothing else; no
// other role of the stack is given anything on it. Once `medshare migrate
// verify` has proved the run, the operator makes that bucket private or
// deletes it (README, phase 4), outside this stack.
type LegacyMigration struct {
	constructs.Construct
	Bucket awss3.IBucket // the legacy bucket, imported
	// Read is the migration function's read on Bucket, a policy of its own
	// attached to the function's role.
	Read awsiam.ManagedPolicy
	// Manifests holds the runs' manifests (ManifestPrefix) and results
	// (ResultPrefix), under the data key: an export names appointments,
	// patients and senders.
	Manifests    awss3.Bucket
	StateMachine awsstepfunctions.StateMachine
	Logs         awslogs.LogGroup
}

// NewLegacyMigration creates the migration.
func NewLegacyMigration(scope constructs.Construct, id string, p LegacyMigrationProps) *LegacyMigration {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &LegacyMigration{Construct: c}
	m.Bucket = awss3.Bucket_FromBucketName(c, jsii.String("LegacyBucket"), jsii.String(p.BucketName))
	m.Read = awsiam.NewManagedPolicy(c, jsii.String("ReadLegacy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("MedShare function " + MigrationFunction + ": read the legacy chat's bucket " + p.BucketName + ", and nothing else on it"),
		Roles:       &[]awsiam.IRole{p.Function.Role},
		Statements: &[]awsiam.PolicyStatement{
			// HeadObject and GetObject of a line's object, and CopyObject's
			// read of its source.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("s3:GetObject"), Resources: jsii.Strings(*m.Bucket.ArnForObjects(jsii.String("*"))),
			}),
			// So that S3 answers a dead URL's HeadObject 404, not 403.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("s3:ListBucket"), Resources: jsii.Strings(*m.Bucket.BucketArn()),
			}),
		},
	})
	p.Function.Fn.Node().AddDependency(m.Read)
	env := map[string]string{
		migrate.EnvLegacySource:    "s3://" + p.BucketName,
		migrate.EnvLegacyURLPrefix: p.URLPrefix,
		migrate.EnvLegacyKeyPrefix: p.KeyPrefix,
	}
	for k, v := range env {
		if v != "" {
			p.Function.Fn.AddEnvironment(jsii.String(k), jsii.String(v), nil)
		}
	}

	m.Manifests = newBucket(c, "Manifests", awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          p.DataKey,
		BucketKeyEnabled:       jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		ServerAccessLogsBucket: p.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("manifests/"),
		LifecycleRules:         expireOldVersions("expire-old-versions"),
	})

	// One distributed map per format of the export, chosen by the
	// execution's input {"manifest_key", "format", "clinic_id", "dry_run"};
	// each hands the migration function a migrate.Item per line.
	mapOf := func(format legacy.Format, reader awsstepfunctions.IItemReader) awsstepfunctions.DistributedMap {
		name := "Migrate " + string(format) + " lines"
		dm := awsstepfunctions.NewDistributedMap(c, jsii.String(string(format)+"Lines"), &awsstepfunctions.DistributedMapProps{
			StateName:  jsii.String(name),
			ItemReader: reader,
			ItemSelector: &map[string]any{
				"index.$":     "$$.Map.Item.Index",
				"format":      string(format),
				"record.$":    "$$.Map.Item.Value",
				"clinic_id.$": "$.clinic_id",
				"run.$":       "$$.Execution.Name",
				"dry_run.$":   "$.dry_run",
			},
			MaxConcurrency: jsii.Number(MigrationConcurrency),
			// A line that fails is the function's answer (migrate.Result),
			// not a failure of the map; one that fails past its retries is
			// listed in the results and the run goes on with the rest.
			ToleratedFailurePercentage: jsii.Number(100),
			ResultWriterV2: awsstepfunctions.NewResultWriterV2(&awsstepfunctions.ResultWriterV2Props{
				Bucket: m.Manifests, Prefix: jsii.String(ResultPrefix),
			}),
		})
		invoke := awsstepfunctionstasks.NewLambdaInvoke(c, jsii.String(string(format)+"Line"), &awsstepfunctionstasks.LambdaInvokeProps{
			StateName:                jsii.String("Migrate one " + string(format) + " line"),
			LambdaFunction:           p.Function.Fn,
			PayloadResponseOnly:      jsii.Bool(true),
			RetryOnServiceExceptions: jsii.Bool(true),
		})
		invoke.AddRetry(&awsstepfunctions.RetryProps{
			Errors:      jsii.Strings("UnavailableError"),
			Interval:    awscdk.Duration_Seconds(jsii.Number(2)),
			MaxAttempts: jsii.Number(migrationRetries),
			BackoffRate: jsii.Number(2),
		})
		dm.ItemProcessor(invoke, nil)
		return dm
	}
	key := awsstepfunctions.JsonPath_StringAt(jsii.String("$.manifest_key"))
	csvMap := mapOf(legacy.CSV, awsstepfunctions.NewS3CsvItemReader(&awsstepfunctions.S3CsvItemReaderProps{
		Bucket: m.Manifests, Key: key, CsvHeaders: awsstepfunctions.CsvHeaders_UseFirstRow(),
	}))
	jsonlMap := mapOf(legacy.JSONL, awsstepfunctions.NewS3JsonLItemReader(&awsstepfunctions.S3FileItemReaderProps{
		Bucket: m.Manifests, Key: key,
	}))
	unknown := awsstepfunctions.NewFail(c, jsii.String("UnknownFormat"), &awsstepfunctions.FailProps{
		StateName: jsii.String("Unknown format"),
		Error:     jsii.String("InvalidInput"),
		Cause:     jsii.String("format must be csv or jsonl"),
	})
	choice := awsstepfunctions.NewChoice(c, jsii.String("Format"), &awsstepfunctions.ChoiceProps{StateName: jsii.String("Format of the manifest")}).
		When(awsstepfunctions.Condition_StringEquals(jsii.String("$.format"), jsii.String(string(legacy.CSV))), csvMap, nil).
		When(awsstepfunctions.Condition_StringEquals(jsii.String("$.format"), jsii.String(string(legacy.JSONL))), jsonlMap, nil).
		Otherwise(unknown)

	m.Logs = awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		EncryptionKey: p.LogsKey,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	m.StateMachine = awsstepfunctions.NewStateMachine(c, jsii.String("StateMachine"), &awsstepfunctions.StateMachineProps{
		Comment:          jsii.String("MedShare: migrate the legacy chat images of a manifest into private storage, one invocation of " + MigrationFunction + " per line"),
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromChainable(choice),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		TracingEnabled:   jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination: m.Logs,
			Level:       awsstepfunctions.LogLevel_ALL,
			// The lines name patients and senders: the log records the
			// states, not their data; the results are in the bucket.
			IncludeExecutionData: jsii.Bool(false),
		},
	})
	// The state machine reads the manifest and writes the results (with the
	// data key, through S3).
	m.Manifests.GrantRead(m.StateMachine, jsii.String(ManifestPrefix+"*"))
	m.Manifests.GrantReadWrite(m.StateMachine, jsii.String(ResultPrefix+"*"))
	m.suppress()
	return m
}

var (
	whyMigrationWildcards = "The migration's state machine role: Step Functions' distributed map runs child executions of its own " +
		"state machine (states:StartExecution on it, Describe/StopExecution on its executions, which have generated names), " +
		"invokes the migration function by its ARN and its versions (<arn>:*), reads the run's manifest and writes its results " +
		"under the fixed prefixes of the manifests bucket (manifests/*, results/*, with the data key through S3), and delivers " +
		"logs and traces with CloudWatch Logs' and X-Ray's APIs, which take no resource ARN."
	whyMigrationLegacyObjects = "The migration function reads the legacy chat's objects, whose keys are the old URLs' paths " +
		"(any key of the legacy bucket): the statement names that one bucket, and only s3:GetObject on it."
	whyMigrationInlinePolicies = "The migration's state machine role's policies are written by aws-cdk-lib from the states the " +
		"definition runs (the distributed map's child executions, the Lambda invocation, the S3 reader and result writer, log " +
		"delivery, X-Ray): attached to that one role, which only states.amazonaws.com assumes, they change with the definition " +
		"in the same deployment; the functions' own roles have managed policies."
	whyNoWorkerDLQ = "The migration function is invoked synchronously by Step Functions' distributed map: a failure is " +
		"answered to the state machine, which retries the line and records it in the run's results; there is no event to keep."
)

// What the migration's suppressions accept, on each of its constructs.
var (
	// On the state machine and its children: the role, its default
	// policy and the distributed map's policy.
	acceptedOnMigrationStateMachine = accepted{where: "the migration's state machine role", children: true, rules: []acceptedRule{
		{"AwsSolutions-IAM5", whyMigrationWildcards},
		{"HIPAA.Security-IAMNoInlinePolicy", whyMigrationInlinePolicies},
	}}
	acceptedOnMigrationRead = accepted{where: "the migration function's read of the legacy bucket's objects", rules: []acceptedRule{
		{"AwsSolutions-IAM5", whyMigrationLegacyObjects},
	}}
	acceptedOnMigrationManifests = accepted{where: "the migration's manifests bucket", rules: []acceptedRule{
		{"HIPAA.Security-S3BucketReplicationEnabled", whyNoReplication},
	}}
)

// LegacyMigrationSuppressions lists what the migration's suppressions accept.
func LegacyMigrationSuppressions() []Suppression {
	return listAccepted(acceptedOnMigrationStateMachine, acceptedOnMigrationRead, acceptedOnMigrationManifests)
}

func (m *LegacyMigration) suppress() {
	acceptedOnMigrationStateMachine.on(m.StateMachine)
	acceptedOnMigrationRead.on(m.Read)
	acceptedOnMigrationManifests.on(m.Manifests)
}

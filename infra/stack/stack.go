package stack

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/medshare/medshare/shared/blob/cdnblob"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// FeatureFlags are the CDK feature flags the stack is written for; NewApp
// sets them, so that the app and the tests synthesize the same template.
var FeatureFlags = map[string]any{
	// Server access logs are allowed by the log bucket's policy, not by an
	// ACL (the buckets disable ACLs).
	"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": true,
	// The migration's distributed maps write their results with
	// ResultWriterV2 (LegacyMigration).
	"@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2": true,
}

// NewApp returns an app with FeatureFlags and the given context (which
// wins), synthesizing into outdir ("" for the CDK default).
func NewApp(context map[string]any, outdir string) awscdk.App {
	ctx := map[string]any{}
	for k, v := range FeatureFlags {
		ctx[k] = v
	}
	for k, v := range context {
		ctx[k] = v
	}
	props := &awscdk.AppProps{Context: &ctx}
	if outdir != "" {
		props.Outdir = jsii.String(outdir)
	}
	return awscdk.NewApp(props)
}

// Stack is the whole of MedShare.
type Stack struct {
	awscdk.Stack
	Config     Config
	Keys       *Keys
	Storage    *Storage
	Data       *Data
	Backup     *Backup
	Events     *Events
	Jobs       *Jobs
	Functions  *Functions
	API        *API
	Portal     *Portal
	Monitoring *Monitoring
	// ChatCDN is nil unless Config.ChatCDNPublicKeys is set.
	ChatCDN *ChatCDN
	// Legacy is nil unless Config.LegacyBucket is set.
	Legacy *LegacyMigration
}

// New builds the stack in app from cfg and puts the cdk-nag packs on it
// (AWS Solutions and HIPAA Security): synthesis reports every unsuppressed
// finding as an error, which fails `cdk synth` and `cdk deploy`.
func New(app awscdk.App, cfg Config) (*Stack, error) {
	if err := CheckAssets(cfg.AssetDir); err != nil {
		return nil, err
	}
	if err := CheckPortal(cfg.PortalDir); err != nil {
		return nil, err
	}
	props := &awscdk.StackProps{
		Description:           jsii.String("MedShare: medical photo sharing (API Gateway, Lambda, DynamoDB, S3, KMS, SNS, EventBridge, AWS Backup)"),
		TerminationProtection: jsii.Bool(cfg.TerminationProtection),
	}
	if cfg.Account != "" {
		props.Env = &awscdk.Environment{Account: jsii.String(cfg.Account), Region: jsii.String(cfg.Region)}
	}
	st := awscdk.NewStack(app, jsii.String(cfg.StackName), props)
	s := &Stack{Stack: st, Config: cfg}
	retention := retentionOf(cfg.LogRetentionDays)

	s.Keys = NewKeys(st, "Keys", cfg.StackName)
	s.Storage = NewStorage(st, "Storage", s.Keys.Data, cfg.CORSOrigins, cfg.NoncurrentVersionDays)
	s.Data = NewData(st, "Data", s.Keys.Data)
	s.Backup = NewBackup(st, "Backup", s.Data.Table, s.Keys.Data)
	s.Events = NewEvents(st, "Events", s.Keys.Data)
	s.Jobs = NewJobs(st, "Jobs")
	s.Functions = NewFunctions(st, "Functions", FunctionsProps{
		AssetDir:     cfg.AssetDir,
		Table:        s.Data.Table,
		Bucket:       s.Storage.Bucket,
		DataKey:      s.Keys.Data,
		LogsKey:      s.Keys.Logs,
		Topic:        s.Events.Topic,
		DeadLetters:  s.Jobs.DeadLetters,
		LogRetention: retention,
	})
	// Only the function that wraps photo keys may Encrypt under their
	// context, only the one that unwraps them may Decrypt.
	s.Keys.RestrictPhotoContext(
		s.Functions.Roles(func(a lambdafn.Access) bool { return a.Wrap }),
		s.Functions.Roles(func(a lambdafn.Access) bool { return a.Unwrap }))
	s.Jobs.Schedule(s.Functions)
	// The portal comes before the API and the chat CDN, whose CORS (and
	// the API's authorizer) name it, and is configured after them, with
	// the API's URL and the CDN's domain, which its page's CSP names.
	prefix := cfg.CognitoDomainPrefix
	if prefix == "" && cfg.OIDCIssuer == "" {
		prefix = strings.ToLower(cfg.StackName) + "-" + *st.Account()
	}
	s.Portal = NewPortal(st, "Portal", PortalProps{
		Dir: cfg.PortalDir, Objects: s.Storage.Bucket, AccessLogs: s.Storage.Logs,
		LogsKey: s.Keys.Logs, LogRetention: retention, DomainPrefix: prefix,
		ChatCDN: len(cfg.ChatCDNPublicKeys) > 0,
	})
	if len(cfg.ChatCDNPublicKeys) > 0 {
		s.ChatCDN = NewChatCDN(st, "ChatCdn", ChatCDNProps{
			Bucket: s.Storage.Bucket, DataKey: s.Keys.Data, AccessLogs: s.Storage.Logs,
			Signer: s.Functions.ByName[ChatCDNFunction], PublicKeys: cfg.ChatCDNPublicKeys,
			CORSOrigins: append(slices.Clone(cfg.CORSOrigins), *s.Portal.Origin()),
		})
	}
	if cfg.LegacyBucket != "" {
		s.Legacy = NewLegacyMigration(st, "LegacyMigration", LegacyMigrationProps{
			BucketName: cfg.LegacyBucket, URLPrefix: cfg.LegacyURLPrefix, KeyPrefix: cfg.LegacyKeyPrefix,
			Function: s.Functions.ByName[MigrationFunction], DataKey: s.Keys.Data, LogsKey: s.Keys.Logs,
			AccessLogs: s.Storage.Logs, LogRetention: retention,
		})
	}
	s.API = NewAPI(st, "Api", APIProps{Functions: s.Functions, LogsKey: s.Keys.Logs, LogRetention: retention, Config: cfg, Portal: s.Portal})
	if err := s.Portal.Configure(*s.API.URL(), s.ChatCDN); err != nil {
		return nil, err
	}
	s.Monitoring = NewMonitoring(st, "Monitoring", MonitoringProps{
		API: s.API, Functions: s.Functions, Jobs: s.Jobs, LogsKey: s.Keys.Logs, AlarmEmail: cfg.AlarmEmail,
	})
	s.outputs()
	suppress(s)
	awscdk.Aspects_Of(st).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	awscdk.Aspects_Of(st).Add(cdknag.NewHIPAASecurityChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return s, nil
}

// Outputs of the stack, by name.
const (
	OutApiURL         = "ApiUrl"
	OutJwtIssuer      = "JwtIssuer"
	OutJwtAudience    = "JwtAudience"
	OutUserPoolID     = "UserPoolId"
	OutUserPoolClient = "UserPoolClientId"
	OutTable          = "TableName"
	OutBucket         = "BucketName"
	OutDataKey        = "DataKeyArn"
	OutTopic          = "NotificationTopicArn"
	OutAlarmTopic     = "AlarmTopicArn"
	OutDeadLetters    = "JobDeadLetterQueueUrl"
	OutPortalURL      = "PortalUrl"
	OutPortalClient   = "PortalClientId"
	// With the chat CDN (context chatCdnPublicKey).
	OutCdnDomain          = "CdnDomainName"
	OutCdnKeySecret       = "CdnKeySecretArn"
	OutCdnPublicKeyID     = "CdnPublicKeyId"
	OutCdnNextPublicKeyID = "CdnNextPublicKeyId"
	// With a legacy bucket (context legacyBucket).
	OutMigrationStateMachine = "MigrationStateMachineArn"
	OutMigrationManifests    = "MigrationManifestsBucket"
)

func (s *Stack) outputs() {
	out := func(name, desc string, value *string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(name), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	out(OutApiURL, "base URL of the HTTP API", s.API.URL())
	out(OutJwtIssuer, "issuer the JWT authorizer trusts", s.API.Issuer)
	out(OutJwtAudience, "audiences (client ids) the JWT authorizer accepts", awscdk.Fn_Join(jsii.String(","), s.API.Audience))
	if s.API.UserPool != nil {
		out(OutUserPoolID, "Cognito user pool (groups patient, professional, clinic)", s.API.UserPool.UserPoolId())
		out(OutUserPoolClient, "Cognito app client of the apps", s.API.Client.UserPoolClientId())
	}
	out(OutTable, "DynamoDB table (MEDSHARE_TABLE)", s.Data.Table.TableName())
	out(OutBucket, "S3 bucket of objects (MEDSHARE_BUCKET)", s.Storage.Bucket.BucketName())
	out(OutDataKey, "KMS data key (MEDSHARE_KMS_KEY_ID)", s.Keys.Data.KeyArn())
	out(OutTopic, "SNS topic of notifications (MEDSHARE_TOPIC_ARN)", s.Events.Topic.TopicArn())
	out(OutAlarmTopic, "SNS topic of alarms", s.Monitoring.Topic.TopicArn())
	out(OutDeadLetters, "SQS dead-letter queue of the scheduled jobs", s.Jobs.DeadLetters.QueueUrl())
	out(OutPortalURL, "the browser portal (CloudFront); also the OAuth callback and logout URL", s.Portal.URL())
	if s.Portal.Client != nil {
		out(OutPortalClient, "Cognito app client of the portal (authorization code with PKCE, no secret)", s.Portal.Client.UserPoolClientId())
	}
	if s.Legacy != nil {
		out(OutMigrationStateMachine, "state machine of the legacy chat images' migration (README: the migration on AWS)", s.Legacy.StateMachine.StateMachineArn())
		out(OutMigrationManifests, "bucket of the migration's manifests ("+ManifestPrefix+") and results ("+ResultPrefix+")", s.Legacy.Manifests.BucketName())
	}
	if s.ChatCDN != nil {
		out(OutCdnDomain, "CloudFront domain of chat images ("+cdnblob.EnvDomain+")", s.ChatCDN.Distribution.DistributionDomainName())
		out(OutCdnKeySecret, "secret of the chat images' signing key (medshare cdn-key put --secret)", s.ChatCDN.Secret.SecretArn())
		out(OutCdnPublicKeyID, "CloudFront id of "+CtxChatCDNPublicKey+" (medshare cdn-key put --key-pair-id)", s.ChatCDN.PublicKeys[0].PublicKeyId())
		if len(s.ChatCDN.PublicKeys) > 1 {
			out(OutCdnNextPublicKeyID, "CloudFront id of "+CtxChatCDNNextPublicKey+" (medshare cdn-key put --key-pair-id)", s.ChatCDN.PublicKeys[1].PublicKeyId())
		}
	}
}

// Suppressions lists the cdk-nag findings this stack accepts: Suppressions()
// and, with the chat CDN, ChatCDNSuppressions().
func (s *Stack) Suppressions() []Suppression {
	out := Suppressions()
	if s.ChatCDN != nil {
		out = append(out, ChatCDNSuppressions()...)
	}
	if s.Legacy != nil {
		out = append(out, LegacyMigrationSuppressions()...)
	}
	return out
}

// retentionOf maps days to CloudWatch Logs' retention enum, in the order
// of retentionDays.
func retentionOf(days int) awslogs.RetentionDays {
	values := []awslogs.RetentionDays{
		awslogs.RetentionDays_ONE_DAY, awslogs.RetentionDays_THREE_DAYS, awslogs.RetentionDays_FIVE_DAYS,
		awslogs.RetentionDays_ONE_WEEK, awslogs.RetentionDays_TWO_WEEKS, awslogs.RetentionDays_ONE_MONTH,
		awslogs.RetentionDays_TWO_MONTHS, awslogs.RetentionDays_THREE_MONTHS, awslogs.RetentionDays_FOUR_MONTHS,
		awslogs.RetentionDays_FIVE_MONTHS, awslogs.RetentionDays_SIX_MONTHS, awslogs.RetentionDays_ONE_YEAR,
		awslogs.RetentionDays_THIRTEEN_MONTHS, awslogs.RetentionDays_EIGHTEEN_MONTHS, awslogs.RetentionDays_TWO_YEARS,
		awslogs.RetentionDays_THREE_YEARS, awslogs.RetentionDays_FIVE_YEARS, awslogs.RetentionDays_SIX_YEARS,
		awslogs.RetentionDays_SEVEN_YEARS, awslogs.RetentionDays_EIGHT_YEARS, awslogs.RetentionDays_NINE_YEARS,
		awslogs.RetentionDays_TEN_YEARS,
	}
	i := slices.Index(retentionDays, days)
	if i < 0 || len(values) != len(retentionDays) {
		panic(fmt.Sprintf("no retention of %d days", days))
	}
	return values[i]
}
